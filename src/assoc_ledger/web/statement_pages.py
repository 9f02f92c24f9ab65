"""Annual statements (年度公益金收支报告): prepare, read with charts, sign off, download.

Thin over ``reports.statements``: preparing freezes the year's figures (a new version each time); an
auditor other than the preparer signs; the PDFs (internal and public) download from the statements API.
The public list of signed statements is the reports area's page (``web.public_pages``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import anyio
from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from assoc_ledger.auth.guards import requires
from assoc_ledger.auth.scope import Perm, Principal, Scope
from assoc_ledger.core.errors import DomainError, Invalid
from assoc_ledger.core.schemas import Id
from assoc_ledger.fund import service as fund_service
from assoc_ledger.reports import pdf, statements
from assoc_ledger.web.context import page_context
from assoc_ledger.web.forms import clean, errors_of

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _can(request: Request[Any, Any, Any], perm: Perm) -> bool:
    p = request.scope.get("user")
    return isinstance(p, Principal) and p.can(perm)


def _list_page(request: Request[Any, Any, Any], db: Session, scope: Scope, values: dict[str, str] | None = None,
               errors: dict[str, str] | None = None, status_code: int = 200) -> Template:
    rows = [(r, statements.state_of(db, r)) for r in statements.list_statements(db, scope)]
    orgs = [(str(o.id), o.name) for _, o in fund_service.list_books(db, scope.narrowed(Perm.fund_read))]
    return Template("statements_list.html", status_code=status_code, context=page_context(
        request, rows=rows, STATE_ZH=statements.STATE_ZH, orgs=orgs, errors=errors or {},
        values=values or {"org_id": orgs[0][0] if orgs else "", "year": str(dt.date.today().year - 1)},
        can_prepare=_can(request, Perm.fund_write)))


@get("/statements", opt=requires(Perm.fund_read), include_in_schema=False)
async def statements_page(request: Request[Any, Any, Any], db: Session, org_scope: Scope) -> Template:
    return await anyio.to_thread.run_sync(lambda: _list_page(request, db, org_scope))


@post("/statements", opt=requires(Perm.fund_write), include_in_schema=False, sync_to_thread=True)
def statement_prepare(request: Request[Any, Any, Any], db: Session, org_scope: Scope, data: Form) -> Response[Any]:
    values = clean(data, ["org_id", "year"])
    try:
        try:
            org_id, year = int(values["org_id"]), int(values["year"])
        except ValueError:
            raise Invalid("请选择组织并填写年度", field="year" if values["org_id"] else "org_id") from None
        row = statements.prepare(db, org_scope, Path(request.app.state.settings.ledger_dir), org_id, year,
                                 statements.actor_of(org_scope))
    except DomainError as exc:
        if exc.status_code == 404 and exc.field not in ("org_id", "year"):
            raise
        db.rollback()
        return _list_page(request, db, org_scope, values, errors_of(exc, ["org_id", "year"]),
                          status_code=exc.status_code)
    return Redirect(f"/statements/{row.id}", status_code=303)


def _statement_page(request: Request[Any, Any, Any], db: Session, scope: Scope, statement_id: int,
                    errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                    status_code: int = 200) -> Template:
    row = statements.get(db, scope, statement_id)
    state = statements.state_of(db, row)
    return Template("statement_page.html", status_code=status_code, context=page_context(
        request, s=row, f=row.figures, state=state, state_zh=statements.STATE_ZH[state],
        changes=statements.changes_since(db, row), charts=pdf.charts(row.figures), errors=errors or {},
        values=values or {}, can_sign=_can(request, Perm.statement_sign)))


@get("/statements/{statement_id:int}", opt=requires(Perm.fund_read), include_in_schema=False)
async def statement_page(request: Request[Any, Any, Any], db: Session, org_scope: Scope,
                         statement_id: Id) -> Template:
    return await anyio.to_thread.run_sync(lambda: _statement_page(request, db, org_scope, statement_id))


@post("/statements/{statement_id:int}", opt=requires(Perm.statement_sign), include_in_schema=False,
      sync_to_thread=True)
def statement_sign(request: Request[Any, Any, Any], db: Session, org_scope: Scope, statement_id: Id,
                   data: Form) -> Response[Any]:
    values = clean(data, ["comment"])
    try:
        statements.sign(db, org_scope, statement_id, statements.actor_of(org_scope), values["comment"])
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _statement_page(request, db, org_scope, statement_id, errors_of(exc, ["comment"]), values,
                               status_code=exc.status_code)
    return Redirect(f"/statements/{statement_id}", status_code=303)


ROUTES = [statements_page, statement_prepare, statement_page, statement_sign]
