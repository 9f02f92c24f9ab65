"""Monthly entitlements (奖励扶助按月发放): preview a month, confirm the run, the runs, reconciliation, rolls.

The preview is the confirmation step: it shows what the run would pay (by scheme and by village, arrears,
exits) and carries the run form. Running the same month twice pays only what is still due, so a double
submit does not pay twice (``entitlements.services.run``). Rolls and the reconciliation download from the
entitlements API as XLSX (resident IDs masked).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import anyio
from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from assoc_ledger.auth.audit import Actor
from assoc_ledger.auth.deps import client_of
from assoc_ledger.auth.guards import requires
from assoc_ledger.auth.scope import Perm, Principal, Scope
from assoc_ledger.core.errors import DomainError, Invalid
from assoc_ledger.core.schemas import Id
from assoc_ledger.entitlements import jobs, registry, rules, services
from assoc_ledger.fund import service as fund_service
from assoc_ledger.fund.chart import FUND_ZH, Fund
from assoc_ledger.orgs.models import Organisation
from assoc_ledger.web.context import page_context
from assoc_ledger.web.forms import clean, errors_of, form_date

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
MONTH = r"^\d{4}-\d{2}$"


def _this_month() -> str:
    return f"{dt.date.today():%Y-%m}"


def _can(request: Request[Any, Any, Any], perm: Perm) -> bool:
    p = request.scope.get("user")
    return isinstance(p, Principal) and p.can(perm)


@get("/entitlements", opt=requires(Perm.fund_read), include_in_schema=False, sync_to_thread=True)
def entitlements_page(request: Request[Any, Any, Any], db: Session, org_scope: Scope) -> Template:
    ledger_dir = Path(request.app.state.settings.ledger_dir)
    runs = [jobs.view(db, ledger_dir, r) for r in services.list_runs(db, org_scope)]
    return Template("entitlements.html", context=page_context(
        request, runs=runs, programmes=services.list_programmes(db, org_scope), month=_this_month(),
        year=dt.date.today().year))


def _preview_page(request: Request[Any, Any, Any], db: Session, scope: Scope, month: str,
                  errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                  status_code: int = 200) -> Template:
    try:
        summary: dict[str, Any] | None = services.preview(db, scope, month)
        problem = None
    except DomainError as exc:
        db.rollback()
        summary, problem = None, exc.detail
    return Template("entitlement_preview.html", status_code=status_code, context=page_context(
        request, month=month, s=summary, problem=problem, errors=errors or {},
        values=values or {"month": month, "pay_date": dt.date.today().isoformat()},
        can_run=_can(request, Perm.fund_write)))


@get("/entitlements/preview", opt=requires(Perm.fund_read), include_in_schema=False, sync_to_thread=True)
def entitlements_preview(request: Request[Any, Any, Any], db: Session, org_scope: Scope,
                         month: str | None = Parameter(default=None, pattern=MONTH)) -> Template:
    return _preview_page(request, db, org_scope, month or _this_month())


@post("/entitlements/run", opt=requires(Perm.fund_write), include_in_schema=False, sync_to_thread=True)
def entitlements_run(request: Request[Any, Any, Any], db: Session, org_scope: Scope, data: Form) -> Response[Any]:
    """The run goes on in the server's background (``entitlements.jobs``): the page of the run follows it."""
    values = clean(data, ["month", "pay_date"])
    principal = org_scope.principal
    actor = Actor(principal.user_id if principal else None, principal.username if principal else None,
                  client_of(request))
    try:
        pay_date = form_date(values["pay_date"], "pay_date") if values["pay_date"] else None
        run_id = jobs.start(request.app.state.session_factory, Path(request.app.state.settings.ledger_dir),
                            org_scope, actor, values["month"], None, pay_date)
    except DomainError as exc:
        db.rollback()
        month = values["month"] if len(values["month"]) == 7 else _this_month()
        return _preview_page(request, db, org_scope, month, errors_of(exc, ["pay_date"]), values,
                             status_code=exc.status_code)
    return Redirect(f"/entitlements/runs/{run_id}", status_code=303)


@get("/entitlements/runs/{run_id:int}", opt=requires(Perm.fund_read), include_in_schema=False,
     sync_to_thread=True)
def entitlement_run_page(request: Request[Any, Any, Any], db: Session, org_scope: Scope, run_id: Id) -> Template:
    """The run; while it is running the page reloads itself every two seconds (no script needed)."""
    row = services.get_run(db, org_scope, run_id)
    return Template("entitlement_run.html", context=page_context(
        request, r=jobs.view(db, Path(request.app.state.settings.ledger_dir), row)))


@get("/entitlements/reconcile", opt=requires(Perm.fund_read), include_in_schema=False, sync_to_thread=True)
def entitlements_reconcile(request: Request[Any, Any, Any], db: Session, org_scope: Scope,
                           from_: str | None = Parameter(query="from", default=None, pattern=MONTH),
                           to: str | None = Parameter(default=None, pattern=MONTH)) -> Template:
    first, last = from_ or f"{dt.date.today().year}-01", to or _this_month()
    report = services.reconcile(db, org_scope, first, last, None, keep=500)
    orgs = registry.Orgs(db)
    return Template("entitlement_reconcile.html", context=page_context(
        request, first=first, last=last, report=report, rows=[d.out(orgs) for d in report.rows],
        kinds=services.KINDS_ZH))


# --- programmes: which organisation's book pays a scheme for its subtree, from which month -------------------

PROGRAMME_FIELDS = ("org_id", "scheme", "first_month", "fund")
SCHEME_OPTIONS = [(s.value, z) for s, z in rules.SCHEME_ZH.items()]
FUND_OPTIONS = [(f.value, z) for f, z in FUND_ZH.items()]


def _programmes_page(request: Request[Any, Any, Any], db: Session, scope: Scope, values: dict[str, str],
                     errors: dict[str, str] | None = None, *, confirm: bool = False, done: int | None = None,
                     status_code: int = 200) -> Template:
    orgs = [(str(o.id), o.name) for _, o in fund_service.list_books(db, scope)]
    names = {int(i): n for i, n in orgs}
    rows = [(p, names.get(p.org_id) or getattr(db.get(Organisation, p.org_id), "name", ""))
            for p in services.list_programmes(db, scope)]
    shown = {"org_id": dict(orgs).get(values["org_id"], ""), "scheme": dict(SCHEME_OPTIONS).get(values["scheme"], ""),
             "fund": dict(FUND_OPTIONS).get(values["fund"], "")}
    return Template("entitlement_programmes.html", status_code=status_code, context=page_context(
        request, rows=rows, values=values, errors=errors or {}, confirm=confirm, shown=shown, orgs=orgs,
        schemes=SCHEME_OPTIONS, funds=FUND_OPTIONS, done=done, can_write=_can(request, Perm.fund_write),
        scheme_zh={s.value: z for s, z in rules.SCHEME_ZH.items()}, fund_zh={f.value: z for f, z in FUND_ZH.items()}))


@get("/entitlements/programmes", opt=requires(Perm.fund_read), include_in_schema=False)
async def programmes_page(request: Request[Any, Any, Any], db: Session, org_scope: Scope,
                          done: int | None = Parameter(default=None, ge=1, le=2_147_483_647)) -> Template:
    values = {"org_id": "", "scheme": rules.Scheme.only_child_reward.value, "first_month": _this_month(),
              "fund": Fund.general.value}
    page: Template = await anyio.to_thread.run_sync(lambda: _programmes_page(request, db, org_scope, values,
                                                                             done=done))
    return page


@post("/entitlements/programmes", opt=requires(Perm.fund_write), include_in_schema=False, sync_to_thread=True)
def programme_set(request: Request[Any, Any, Any], db: Session, org_scope: Scope, data: Form) -> Response[Any]:
    """核对 shows who will pay what from when (nothing written); 确认 sets it through the service, which judges
    it (a refusal comes back under its field with the choices kept). Setting the same programme again
    changes nothing, so a double submit is harmless."""
    values = clean(data, PROGRAMME_FIELDS)
    step = data.get("step", "check")
    if step != "confirm":
        return _programmes_page(request, db, org_scope, values, confirm=step == "check")
    try:
        if not values["org_id"].isdigit():
            raise Invalid("请选择发放组织", field="org_id")
        row, _created = services.set_programme(db, org_scope, int(values["org_id"]), scheme=values["scheme"],
                                               first_month=values["first_month"], fund=values["fund"])
    except DomainError as exc:
        db.rollback()
        return _programmes_page(request, db, org_scope, values, errors_of(exc, PROGRAMME_FIELDS),
                                status_code=exc.status_code)
    return Redirect(f"/entitlements/programmes?done={row.id}", status_code=303)


ROUTES = [entitlements_page, entitlements_preview, entitlements_run, entitlement_run_page, entitlements_reconcile,
          programmes_page, programme_set]
