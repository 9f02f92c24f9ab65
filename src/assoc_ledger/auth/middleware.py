"""Authenticates each request from an API token (Authorization: Bearer) or a session cookie."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio
from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.auth import services
from assoc_ledger.core.db import utcnow

SESSION_COOKIE = "assoc_session"
LAST_USED_RESOLUTION = timedelta(minutes=5)


class AuthMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        cookie = connection.cookies.get(SESSION_COOKIE)
        if not header and not cookie:
            return AuthenticationResult(user=None, auth=None)
        factory: sessionmaker[Session] = connection.app.state.session_factory
        # Database work off the event loop, like every sync handler.
        return await anyio.to_thread.run_sync(_authenticate, factory, header, cookie)


def _authenticate(factory: sessionmaker[Session], header: str, cookie: str | None) -> AuthenticationResult:
    with factory() as db:
        db.info["audit_off"] = True
        if header:
            scheme, _, secret = header.partition(" ")
            found = services.token_user(db, secret.strip()) if scheme.lower() == "bearer" else None
            if found is None:
                return AuthenticationResult(user=None, auth={"kind": "bad-token"})
            user, token = found
            now = utcnow()
            # Record use coarsely: a write per request would serialise every reader behind the writer lock.
            if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
                token.last_used_at = now
                db.commit()
            principal = services.principal_for(db, user, token)
            return AuthenticationResult(user=principal, auth={"kind": "token", "token_id": token.id})
        assert cookie is not None
        found_s = services.session_user(db, cookie)
        if found_s is None:
            return AuthenticationResult(user=None, auth={"kind": "expired-session"})
        user, ws = found_s
        principal = services.principal_for(db, user)
        return AuthenticationResult(user=principal, auth={"kind": "session", "csrf": ws.csrf_token,
                                                          "session_id": ws.id})
