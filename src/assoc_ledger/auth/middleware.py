"""Authenticates each request from an API token (Authorization: Bearer) or a session cookie."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.auth import services
from assoc_ledger.core.db import utcnow

SESSION_COOKIE = "assoc_session"


class AuthMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        factory: sessionmaker[Session] = connection.app.state.session_factory
        header = connection.headers.get("authorization", "")
        cookie = connection.cookies.get(SESSION_COOKIE)
        if not header and not cookie:
            return AuthenticationResult(user=None, auth=None)
        with factory() as db:
            db.info["audit_off"] = True
            if header:
                scheme, _, secret = header.partition(" ")
                found = services.token_user(db, secret.strip()) if scheme.lower() == "bearer" else None
                if found is None:
                    return AuthenticationResult(user=None, auth={"kind": "bad-token"})
                user, token = found
                token.last_used_at = utcnow()
                principal = services.principal_for(db, user, token)
                db.commit()
                return AuthenticationResult(user=principal, auth={"kind": "token", "token_id": token.id})
            assert cookie is not None
            found_s = services.session_user(db, cookie)
            if found_s is None:
                return AuthenticationResult(user=None, auth={"kind": "expired-session"})
            user, ws = found_s
            principal = services.principal_for(db, user)
            return AuthenticationResult(user=principal, auth={"kind": "session", "csrf": ws.csrf_token,
                                                              "session_id": ws.id})
