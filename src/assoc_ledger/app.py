"""Assembles the Litestar application from each domain area's routes."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, get
from litestar.config.response_cache import ResponseCacheConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import State
from litestar.di import Provide
from litestar.handlers import HTTPRouteHandler
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.template.config import TemplateConfig
from litestar.types import ControllerRouterHandler
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from assoc_ledger import __version__
from assoc_ledger.auth import audit
from assoc_ledger.auth.deps import provide_db
from assoc_ledger.auth.guards import (
    SYSTEM_PATH_PREFIXES,
    declared_perm,
    permission_guard,
    provide_principal,
    provide_scope,
    requires,
)
from assoc_ledger.auth.middleware import AuthMiddleware
from assoc_ledger.auth.routes import AUTH_ROUTES
from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.config import Settings, get_settings
from assoc_ledger.core.db import make_engine, make_sessionmaker
from assoc_ledger.core.errors import EXCEPTION_HANDLERS
from assoc_ledger.core.security import security_headers_middleware
from assoc_ledger.members.routes import GroupController, MemberController, person_memberships
from assoc_ledger.orgs.models import Organisation
from assoc_ledger.orgs.routes import OrgController, OrgCreated
from assoc_ledger.people.keys import check_key_on_startup
from assoc_ledger.people.routes import PersonController

log = logging.getLogger("assoc_ledger")
# Package data, found through importlib.resources so that an installed wheel serves its own pages.
TEMPLATES = Path(str(files("assoc_ledger") / "templates"))


@get("/healthz", opt=requires(Perm.public), include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


def open_fund_book(request: Request[Any, Any, Any], db: Session, org: Organisation, scope: Scope) -> None:
    """A fund-keeping level gets its books (chart of accounts, earmark rules) as it is created."""
    from assoc_ledger.fund import service as fund_service

    if org.kind in fund_service.BOOK_KINDS:
        fund_service.open_book(db, Path(request.app.state.settings.ledger_dir), org.id, scope)


ON_ORG_CREATED: tuple[OrgCreated, ...] = (open_fund_book,)


def route_handlers() -> list[ControllerRouterHandler]:
    handlers: list[ControllerRouterHandler] = [healthz, OrgController, PersonController, MemberController,
                                               GroupController, person_memberships, *AUTH_ROUTES]
    handlers.extend(_optional_routes())
    return handlers


def _optional_routes() -> Sequence[ControllerRouterHandler]:
    """Domain areas register here as they arrive; each module exposes ROUTES."""
    found: list[ControllerRouterHandler] = []
    for module in ("assoc_ledger.fund.routes", "assoc_ledger.members.import_routes",
                   "assoc_ledger.households.routes", "assoc_ledger.households.visit_routes",
                   "assoc_ledger.relief.routes", "assoc_ledger.entitlements.routes",
                   "assoc_ledger.reports.routes", "assoc_ledger.web.routes", "assoc_ledger.web.public_pages"):
        try:
            mod = __import__(module, fromlist=["ROUTES"])
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise
            continue
        found.extend(mod.ROUTES)
    return found


def undeclared_routes(app: Litestar) -> list[str]:
    """Every handler must declare its permission; the app refuses to start otherwise."""
    missing = []
    for route in app.routes:
        if route.path.startswith(SYSTEM_PATH_PREFIXES):
            continue
        for handler in getattr(route, "route_handlers", []):
            if handler.http_methods == {"OPTIONS"}:  # Litestar's automatic OPTIONS answer
                continue
            if isinstance(handler, HTTPRouteHandler) and declared_perm(handler) is None:
                missing.append(f"{sorted(handler.http_methods)} {route.path}")
    return missing


def recover_books(app: Litestar) -> None:
    """Start-up: bring every book's files back into agreement with the committed entries (after a crash)."""
    from sqlalchemy.exc import DBAPIError

    from assoc_ledger.fund import service as fund_service

    try:
        with app.state.session_factory() as db:
            repairs = fund_service.recover_all(db, Path(app.state.settings.ledger_dir))
    except DBAPIError as exc:  # not migrated yet: `assoc-ledger migrate` first
        log.warning("ledger recovery skipped: %s", exc.orig)
        return
    for repair in repairs:
        log.warning("ledger repaired at start-up: %s", repair)
    app.state.fund_recovered = True


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Litestar:
    settings = settings or get_settings()
    engine = engine or make_engine(settings.database_url)
    audit.install()
    state = State({"settings": settings, "engine": engine, "session_factory": make_sessionmaker(engine),
                   "trust_proxy": False})
    app = Litestar(
        route_handlers=route_handlers(),
        dependencies={"db": Provide(provide_db),
                      "org_scope": Provide(provide_scope, sync_to_thread=False),
                      "principal": Provide(provide_principal, sync_to_thread=False),
                      "on_org_created": Provide(lambda: ON_ORG_CREATED, sync_to_thread=False)},
        guards=[permission_guard],
        middleware=[DefineMiddleware(AuthMiddleware, exclude=["^/schema"]), security_headers_middleware],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=OpenAPIConfig(title="assoc-ledger 计生协会账务系统 API", version=__version__,
                                     path="/schema", render_plugins=[SwaggerRenderPlugin()]),
        response_cache_config=ResponseCacheConfig(),
        template_config=TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine),
        request_max_body_size=settings.max_upload_bytes,
        state=state,
        on_startup=[check_key_on_startup, recover_books],
        debug=settings.debug,
    )
    missing = undeclared_routes(app)
    if missing:
        raise RuntimeError(f"routes without a declared permission: {missing}")
    return app


def app_factory() -> Any:
    """Entry for ``uvicorn --factory``."""
    return create_app()
