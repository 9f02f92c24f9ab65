"""Security headers on every response (CSP, nosniff, frame-ancestors, referrer policy)."""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")
# The OpenAPI explorer loads its assets from a CDN-free bundle inline; relax only there.
SCHEMA_CSP = ("default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline' https:; "
              "script-src 'self' 'unsafe-inline' https:; frame-ancestors 'none'")


def security_headers_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await app(scope, receive, send)
            return
        is_schema = scope["path"].startswith("/schema")

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                headers["Content-Security-Policy"] = SCHEMA_CSP if is_schema else CSP
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "same-origin"
                headers["Cache-Control"] = headers.get("Cache-Control") or "no-store"
            await send(message)

        await app(scope, receive, send_wrapper)

    return middleware
