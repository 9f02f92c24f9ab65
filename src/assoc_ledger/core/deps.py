"""Request-scoped dependencies: a database session that commits when the handler succeeds."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from litestar import Request
from sqlalchemy.orm import Session

from assoc_ledger.auth.audit import Actor, set_actor
from assoc_ledger.auth.guards import current_principal


def client_of(request: Request[Any, Any, Any]) -> str | None:
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and request.app.state.get("trust_proxy"):
        return forwarded.split(",")[0].strip()[:100]
    return request.client.host if request.client else None


def provide_db(request: Request[Any, Any, Any]) -> Generator[Session, None, None]:
    session: Session = request.app.state.session_factory()
    principal = current_principal(request)
    set_actor(session, Actor(principal.user_id if principal else None,
                             principal.username if principal else None, client_of(request)))
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
