"""Request-scoped dependencies: a database session that commits when the handler succeeds."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from sqlalchemy.orm import Session

from assoc_ledger.auth.audit import Actor, set_actor
from assoc_ledger.auth.guards import current_principal
from assoc_ledger.core.db import committing


def client_of(request: Request[Any, Any, Any]) -> str | None:
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and request.app.state.get("trust_proxy"):
        return forwarded.split(",")[0].strip()[:100]
    return request.client.host if request.client else None


async def provide_db(request: Request[Any, Any, Any]) -> AsyncGenerator[Session, None]:
    """The handler works in a worker thread; the commit runs here, on the event loop.

    Handlers that wait for a database lock occupy worker threads; were the lock holder's commit
    also queued for a worker, a full pool would deadlock until the lock timeout. On SQLite the
    lock is taken at the handler's first statement (see ``core.db._immediate_on_sqlite``), so this
    commit never waits for it.
    """
    session: Session = request.app.state.session_factory()
    principal = current_principal(request)
    set_actor(session, Actor(principal.user_id if principal else None,
                             principal.username if principal else None, client_of(request)))
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        session.info["write_request"] = True
    with committing(session):
        yield session
