"""/public/statements: published (signed) annual fund statements, without login, with their public PDFs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request, Response, get
from litestar.response import Template
from sqlalchemy.orm import Session

from assoc_ledger.auth.guards import requires
from assoc_ledger.auth.scope import Perm
from assoc_ledger.core.schemas import Id
from assoc_ledger.reports import statements
from assoc_ledger.reports.routes import pdf_response
from assoc_ledger.web.context import page_context


@get("/public/statements", opt=requires(Perm.public), include_in_schema=False, sync_to_thread=True)
def public_statements(request: Request[Any, Any, Any], db: Session) -> Template:
    rows = [(r, statements.state_of(db, r)) for r in statements.published(db)]
    return Template("public_statements.html", context=page_context(request, rows=rows, STATE_ZH=statements.STATE_ZH))


@get("/public/statements/{statement_id:int}/pdf", opt=requires(Perm.public), include_in_schema=False,
     sync_to_thread=True)
def public_statement_pdf(request: Request[Any, Any, Any], db: Session, statement_id: Id) -> Response[bytes]:
    row = statements.published_one(db, statement_id)
    return pdf_response(db, Path(request.app.state.settings.ledger_dir), row, "public")


ROUTES = [public_statements, public_statement_pdf]
