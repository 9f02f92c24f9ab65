"""Web pages of the fund books (公益金): the books in the user's scope, and one book's balances and journal.

Thin: the same services, guards and scope as ``/api/fund``. Money is written through the forms of
``web.money_pages`` (with a confirmation step and an idempotency key), the API and the CLI.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from litestar import Request, get
from litestar.params import Parameter
from litestar.response import Template
from sqlalchemy.orm import Session

from assoc_ledger.auth.guards import requires
from assoc_ledger.auth.scope import Perm, Principal, Scope
from assoc_ledger.core.errors import Invalid
from assoc_ledger.core.money import from_fen
from assoc_ledger.core.schemas import MAX_ID, Id
from assoc_ledger.fund import service
from assoc_ledger.fund.chart import CATEGORIES, SOURCES
from assoc_ledger.web.context import page_context

JOURNAL_PAGE = 50

CATEGORY_ZH: dict[str, str] = {
    **{s.value: line.zh for s, line in SOURCES.items()},
    **{c.value: line.zh for c, line in CATEGORIES.items()},
    "allocation": "上下级拨付",
}


def _date(value: str | None, field: str) -> dt.date | None:
    """Forms send empty date fields as ``""``: that means no date; anything else must be YYYY-MM-DD."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Invalid("日期格式应为 YYYY-MM-DD", field=field) from None


def yuan(amount: Decimal) -> str:
    """1,234.50 style (thousands separated, two places, minus sign kept): what a cashier reads."""
    return f"{amount:,.2f}"


@get("/fund", opt=requires(Perm.fund_read), include_in_schema=False, sync_to_thread=True)
def fund_books_page(request: Request[Any, Any, Any], db: Session, org_scope: Scope,
                    on: str | None = Parameter(default=None, max_length=10)) -> Template:
    day = _date(on, "on")
    rows = []
    for book, org in service.list_books(db, org_scope):
        funds = service.fund_balances(db, book.id, day)
        rows.append((book, org, funds, sum((amount for _, _, amount in funds), Decimal("0.00"))))
    return Template("fund_books.html", context=page_context(request, rows=rows, on=day, yuan=yuan))


@get("/fund/books/{book_id:int}", opt=requires(Perm.fund_read), include_in_schema=False, sync_to_thread=True)
def fund_book_page(request: Request[Any, Any, Any], db: Session, org_scope: Scope, book_id: Id,
                   account: str | None = Parameter(default=None, max_length=120),
                   from_: str | None = Parameter(query="from", default=None, max_length=10),
                   to: str | None = Parameter(default=None, max_length=10),
                   category: str | None = Parameter(default=None, max_length=40),
                   q: str | None = Parameter(default=None, max_length=100),
                   page: int = Parameter(default=1, ge=1, le=MAX_ID // JOURNAL_PAGE),
                   after: str | None = Parameter(default=None, max_length=30),
                   before: str | None = Parameter(default=None, max_length=30),
                   last: bool = False, posted: int | None = Parameter(default=None, ge=1, le=MAX_ID)) -> Template:
    book = service.get_book(db, book_id, org_scope)
    date_from, date_to = _date(from_, "from"), _date(to, "to")
    balances = service.balances(db, book_id, date_to)
    zh = {a.name: a.zh for a, _ in balances}
    flt = service.JournalFilter(account or None, date_from, date_to, category or None, q or None)
    # The pager's links are cursors (上一页/下一页/末页), so a page deep in a long book costs what the first
    # does; ``page=`` still opens a numbered page for old links.
    after_at, before_at = (service.parse_cursor(c) if c else None for c in (after, before))
    result = service.journal_page(db, book_id, flt, limit=JOURNAL_PAGE, after=after_at, before=before_at,
                                  last=last, offset=0 if after_at or before_at or last else (page - 1) * JOURNAL_PAGE)
    journal = [(e, [(p.account, zh.get(p.account, p.account), from_fen(p.amount_fen)) for p in legs])
               for e, legs in result.rows]
    return Template("fund_book.html", context=page_context(
        request, book=book, balances=balances, funds=service.funds_of(balances), journal=journal,
        total=result.total, total_exact=result.total_exact,
        next=service.cursor_text(result.next) if result.next else "",
        prev=service.cursor_text(result.prev) if result.prev else "", limit=JOURNAL_PAGE, account=account or "",
        date_from=date_from, date_to=date_to, category=category or "", q=q or "", CATEGORY_ZH=CATEGORY_ZH,
        yuan=yuan, posted=posted, can_write=_can(request, Perm.fund_write), can_close=_can(request, Perm.fund_close)))


def _can(request: Request[Any, Any, Any], perm: Perm) -> bool:
    principal = request.scope.get("user")
    return isinstance(principal, Principal) and principal.can(perm)


ROUTES = [fund_books_page, fund_book_page]
