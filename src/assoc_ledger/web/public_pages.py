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
from assoc_ledger.reports import pdf, statements
from assoc_ledger.web.context import page_context


@get("/public/statements", opt=requires(Perm.public), include_in_schema=False, sync_to_thread=True)
def public_statements(request: Request[Any, Any, Any], db: Session) -> Template:
    rows = [(r, statements.state_of(db, r)) for r in statements.published(db)]
    return Template("public_statements.html", context=page_context(request, rows=rows, STATE_ZH=statements.STATE_ZH))


CACHED = 32


@get("/public/statements/{statement_id:int}/pdf", opt=requires(Perm.public), include_in_schema=False,
     sync_to_thread=True)
def public_statement_pdf(request: Request[Any, Any, Any], db: Session, statement_id: Id) -> Response[bytes]:
    """A signed statement never changes, only its state (stale, superseded) can: the PDF is typeset once per
    state and kept, so anonymous requests cannot make the server typeset again and again."""
    row = statements.published_one(db, statement_id)
    cache: dict[tuple[int, str], bytes] = request.app.state.setdefault("public_statement_pdfs", {})
    state = statements.state_of(db, row)
    if (row.id, state) not in cache:
        if len(cache) >= CACHED:
            cache.pop(next(iter(cache)))
        cache[(row.id, state)] = pdf.render_pdf(row, "public", state, statements.STATE_ZH[state],
                                                statements.changes_since(db, row),
                                                Path(request.app.state.settings.ledger_dir))
    return Response(cache[(row.id, state)], media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="statement-{row.id}-v{row.version}-public.pdf"'})


ROUTES = [public_statements, public_statement_pdf]
