"""报表 page: choose organisation, period and report; the table, a bar chart of its figures (the statement
templates' own ``hbars`` macro), downloads through the reports API (XLSX/CSV) and each row's drill-down.

The figures are ``reports.queries.run_report``'s; a bad choice (unknown report, period reversed, an
organisation outside the caller's subtree) shows its Chinese message under the field with the choices kept.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from litestar import Request, get
from litestar.params import Parameter
from litestar.response import Template
from sqlalchemy.orm import Session

from assoc_ledger.auth.guards import requires
from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.errors import DomainError, Invalid
from assoc_ledger.core.schemas import MAX_ID, Id
from assoc_ledger.fund.chart import CATEGORIES, chart_of_accounts
from assoc_ledger.orgs import services as orgs
from assoc_ledger.reports import queries
from assoc_ledger.reports.pdf import bars
from assoc_ledger.web.context import page_context
from assoc_ledger.web.forms import errors_of, form_date
from assoc_ledger.web.fund_pages import yuan

FIELDS = ("name", "org", "from", "to")
# Reports whose rows are paid through rolls (发放花名册): their rows drill to the roll lines as well.
ROLL_REPORTS = ("entitlement-runs", "households-aided")
Text = Parameter(default=None, max_length=40)


def _chart(report: queries.Report) -> list[Any]:
    """Bars of the last money column over the detail rows (label: the row's first text cell)."""
    detail = [r for r in report.rows if not r.total] or report.rows
    for col in range(len(report.columns) - 1, 0, -1):
        items = [(str(next((c for c in r.cells if isinstance(c, str) and c), "")), r.cells[col])
                 for r in detail if col < len(r.cells)]
        if items and all(isinstance(v, Decimal) for _, v in items):
            return bars([(label, abs(v)) for label, v in items if isinstance(v, Decimal)][:30])
    return []


@get("/reports", opt=requires(Perm.fund_read), include_in_schema=False, sync_to_thread=True)
def reports_page(request: Request[Any, Any, Any], db: Session, org_scope: Scope,
                 name: str | None = Text, org: str | None = Text,
                 date_from: str | None = Parameter(query="from", default=None, max_length=40),
                 date_to: str | None = Parameter(query="to", default=None, max_length=40)) -> Template:
    choices = [(str(o.id), o.name) for o in orgs.list_orgs(db, org_scope, limit=500)[0]]
    year = dt.date.today().year
    values = {"name": name or "", "org": org or (choices[0][0] if choices else ""),
              "from": date_from or f"{year}-01-01", "to": date_to or f"{year}-12-31"}
    report, chart, errors, status, query = None, [], {}, 200, ""
    if name is not None:
        try:
            if not values["org"].isdigit():
                raise Invalid("请选择组织", field="org")
            start, end = form_date(values["from"], "from"), form_date(values["to"], "to")
            report = queries.run_report(db, org_scope, values["name"], int(values["org"]), start, end)
            chart = _chart(report)
            query = urlencode({"org": values["org"], "from": values["from"], "to": values["to"]})
        except DomainError as exc:
            if exc.status_code == 404:
                exc = DomainError("组织不存在或不在您的管理范围内", field="org", status_code=404)
            errors, status = errors_of(exc, FIELDS), exc.status_code
            report = None
    return Template("reports.html", status_code=status, context=page_context(
        request, values=values, errors=errors, orgs=choices, report=report, chart=chart, query=query,
        names=[(n, t) for n, (t, _) in queries.REPORTS.items()], cell=queries.cell_text, roll_reports=ROLL_REPORTS))


# --- drill-downs: the postings (or roll lines) behind one figure of a report, a page at a time -------------

PAGE = 50
ACCOUNT_ZH = {a.name: a.zh for a in chart_of_accounts()}
CATEGORY_ZH = {c.value: line.zh for c, line in CATEGORIES.items()}


def _drill(org: int, date_from: dt.date, date_to: dt.date, account: list[str] | None, book: list[int] | None,
           category: str | None, rolls: bool) -> queries.Drill:
    return queries.Drill(org, date_from, date_to, tuple(account or ()), tuple(book or ()), category or None, rolls)


def _about(db: Session, scope: Scope, drill: queries.Drill) -> dict[str, Any]:
    """What every drill page says of itself: organisation, period, accounts in words, the way back."""
    org = orgs.get_org(db, drill.org_id, scope)
    return {"org": org, "drill": drill, "accounts": [ACCOUNT_ZH.get(a, a) for a in drill.accounts],
            "category_zh": CATEGORY_ZH.get(drill.category or "", drill.category or ""),
            "back": "/reports?" + urlencode({"org": drill.org_id, "from": drill.start.isoformat(),
                                             "to": drill.end.isoformat()})}


Accounts = Parameter(default=None, max_items=40)
Books = Parameter(default=None, max_items=200)
Category = Parameter(default=None, max_length=40)


@get("/reports/postings", opt=requires(Perm.fund_read), include_in_schema=False, sync_to_thread=True)
def drill_postings_page(request: Request[Any, Any, Any], db: Session, org_scope: Scope, org: Id,
                        date_from: dt.date = Parameter(query="from"), date_to: dt.date = Parameter(query="to"),
                        account: list[str] | None = Accounts, book: list[int] | None = Books,
                        category: str | None = Category,
                        after: int = Parameter(default=0, ge=0, le=MAX_ID)) -> Template:
    """The journal of one report figure: its postings (sub-accounts included), their total, 50 to a page."""
    drill = _drill(org, date_from, date_to, account, book, category, rolls=False)
    lines = queries.postings(db, org_scope, drill, limit=PAGE + 1, after=after)
    more = len(lines) > PAGE
    lines = lines[:PAGE]
    # Income is credited (negative in the books); the page shows it as the report does, a positive figure.
    sign = -1 if drill.accounts and all(a.startswith("Income") for a in drill.accounts) else 1
    return Template("drill_postings.html", context=page_context(
        request, lines=lines, total=sign * queries.postings_total(db, org_scope, drill), yuan=yuan, sign=sign,
        account_zh=ACCOUNT_ZH, first=after == 0, next_query=drill.query + f"&after={lines[-1].posting_id}"
        if more else "", **_about(db, org_scope, drill)))


@get("/reports/roll-lines", opt=requires(Perm.fund_read), include_in_schema=False, sync_to_thread=True)
def drill_roll_lines_page(request: Request[Any, Any, Any], db: Session, org_scope: Scope, org: Id,
                          date_from: dt.date = Parameter(query="from"), date_to: dt.date = Parameter(query="to"),
                          book: list[int] | None = Books, category: str | None = Category,
                          page: int = Parameter(default=1, ge=1, le=100_000)) -> Template:
    """The roll lines (发放花名册) behind an entitlement figure, resident IDs masked, 50 to a page."""
    drill = _drill(org, date_from, date_to, None, book, category, rolls=True)
    lines = queries.roll_lines(db, org_scope, drill, limit=PAGE + 1, offset=(page - 1) * PAGE)
    more = len(lines) > PAGE
    return Template("drill_roll_lines.html", context=page_context(
        request, lines=lines[:PAGE], page=page, more=more, yuan=yuan, first_no=(page - 1) * PAGE + 1,
        **_about(db, org_scope, drill)))


ROUTES = [reports_page, drill_postings_page, drill_roll_lines_page]
