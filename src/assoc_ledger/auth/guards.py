"""The one place where routes declare who may call them.

Every route handler carries ``opt=requires(Perm.X)``. The app-wide :func:`permission_guard`
refuses a handler that declares nothing (fail closed), demands a login for everything but
``Perm.public``, enforces CSRF for cookie sessions, and checks the principal holds the
permission somewhere. Handlers then receive a :class:`Scope` that limits every query to the
subtrees where the permission is held.
"""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from assoc_ledger.auth.scope import Perm, Principal, Scope

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Served by Litestar itself (the OpenAPI document and its viewers): public, read-only.
SYSTEM_PATH_PREFIXES = ("/schema",)
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "_csrf"


def requires(perm: Perm) -> dict[str, Any]:
    """Declare the permission a route needs: ``@get("/x", opt=requires(Perm.org_read))``."""
    return {"perm": perm}


def declared_perm(handler: BaseRouteHandler) -> Perm | None:
    perm = handler.opt.get("perm")
    return perm if isinstance(perm, Perm) else None


def current_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    user = connection.scope.get("user")
    return user if isinstance(user, Principal) else None


async def permission_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    perm = declared_perm(handler)
    if perm is None and getattr(handler, "http_methods", None) == {"OPTIONS"}:
        return
    if perm is None and connection.scope["path"].startswith(SYSTEM_PATH_PREFIXES):
        return
    if perm is None:
        raise PermissionDeniedException("该接口未声明访问权限")
    if perm is Perm.public:
        return
    principal = current_principal(connection)
    if principal is None:
        raise NotAuthorizedException("请先登录")
    method = connection.scope.get("method", "GET")
    auth = connection.scope.get("auth") or {}
    if method not in SAFE_METHODS and auth.get("kind") == "session":
        sent = connection.headers.get(CSRF_HEADER)
        if sent is None and isinstance(connection, Request):
            ctype = connection.headers.get("content-type", "")
            if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
                form = await connection.form()
                value = form.get(CSRF_FIELD)
                sent = value if isinstance(value, str) else None
        if not sent or not secrets.compare_digest(sent, str(auth.get("csrf", ""))):
            raise PermissionDeniedException("CSRF 校验失败，请刷新页面后重试")
    if not principal.can(perm):
        raise PermissionDeniedException("没有执行此操作的权限")


def provide_scope(request: Request[Any, Any, Any]) -> Scope:
    handler = request.scope["route_handler"]
    perm = declared_perm(handler) or Perm.public
    principal = current_principal(request)
    if principal is None:
        return Scope(perm=perm, paths=())
    return Scope(perm=perm, paths=tuple(principal.paths_for(perm)), principal=principal)


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    principal = current_principal(request)
    if principal is None:
        raise NotAuthorizedException("请先登录")
    return principal
