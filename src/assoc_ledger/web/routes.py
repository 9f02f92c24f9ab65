"""Web pages. Thin: each page calls the same services as the API, with the same guards and scope."""

from __future__ import annotations

import datetime as dt
import secrets
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from sqlalchemy.orm import Session

from assoc_ledger.auth import services as auth_services
from assoc_ledger.auth.deps import client_of
from assoc_ledger.auth.guards import CSRF_FIELD, requires
from assoc_ledger.auth.middleware import SESSION_COOKIE
from assoc_ledger.auth.scope import Perm, Principal, Scope
from assoc_ledger.core.money import from_fen
from assoc_ledger.core.schemas import MAX_ID, OptionalId
from assoc_ledger.members import services as member_services
from assoc_ledger.members.models import LeftReason, MemberRole
from assoc_ledger.orgs import services as org_services
from assoc_ledger.orgs.models import OrgKind
from assoc_ledger.web import dashboard
from assoc_ledger.web.case_pages import ROUTES as CASE_PAGES
from assoc_ledger.web.context import page_context
from assoc_ledger.web.entitlement_pages import ROUTES as ENTITLEMENT_PAGES
from assoc_ledger.web.fund_pages import ROUTES as FUND_PAGES
from assoc_ledger.web.fund_pages import yuan
from assoc_ledger.web.household_forms import ROUTES as HOUSEHOLD_FORMS
from assoc_ledger.web.household_pages import ROUTES as HOUSEHOLD_PAGES
from assoc_ledger.web.import_pages import ROUTES as IMPORT_PAGES
from assoc_ledger.web.money_pages import ROUTES as MONEY_PAGES
from assoc_ledger.web.pairing_pages import ROUTES as PAIRING_PAGES
from assoc_ledger.web.report_pages import ROUTES as REPORT_PAGES
from assoc_ledger.web.scheme_pages import ROUTES as SCHEME_PAGES
from assoc_ledger.web.statement_pages import ROUTES as STATEMENT_PAGES
from assoc_ledger.web.visit_pages import ROUTES as VISIT_PAGES

LOGIN_CSRF_COOKIE = "assoc_login_csrf"
STATIC_DIR = Path(str(files("assoc_ledger.web") / "static"))


def _login_form(request: Request[Any, Any, Any], error: str | None, username: str = "",
                status_code: int = 200) -> Template:
    token = secrets.token_urlsafe(24)
    return Template("login.html", context=page_context(request, login_csrf=token, error=error, username=username),
                    status_code=status_code,
                    cookies=[Cookie(key=LOGIN_CSRF_COOKIE, value=token, httponly=True, samesite="strict",
                                    path="/login")])


@get("/login", opt=requires(Perm.public), include_in_schema=False)
async def login_page(request: Request[Any, Any, Any],
                     error: str | None = Parameter(default=None, max_length=10)) -> Template:
    return _login_form(request, error)


@post("/login", opt=requires(Perm.public), include_in_schema=False, sync_to_thread=True)
def login_submit(request: Request[Any, Any, Any], db: Session,
                 data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]) -> Response[Any]:
    sent = data.get(CSRF_FIELD, "")
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not sent or not expected or not secrets.compare_digest(sent, expected):
        return Redirect("/login?error=csrf", status_code=303)
    # A refused login answers the form again with the username kept (never the password): typing it
    # twice on a phone is what a secretary should not have to do.
    username = data.get("username", "").strip()[:64]
    try:
        user = auth_services.authenticate_password(db, username, data.get("password", ""), client_of(request))
    except auth_services.LockedOut:
        db.commit()
        return _login_form(request, "locked", username, status_code=400)
    except auth_services.LoginRefused:
        db.commit()
        return _login_form(request, "bad", username, status_code=400)
    token, _ = auth_services.start_session(db, user, client_of(request))
    settings = request.app.state.settings
    return Redirect("/", status_code=303, cookies=[
        Cookie(key=SESSION_COOKIE, value=token, httponly=True, samesite="strict", secure=settings.secure_cookies,
               path="/", max_age=int(auth_services.SESSION_TTL.total_seconds())),
        Cookie(key=LOGIN_CSRF_COOKIE, value="", max_age=0, path="/login")])


@post("/logout", opt=requires(Perm.authenticated), include_in_schema=False, sync_to_thread=True)
def logout_submit(request: Request[Any, Any, Any], db: Session) -> Response[Any]:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        auth_services.end_session(db, token)
    return Redirect("/login", status_code=303,
                    cookies=[Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/", httponly=True)])


@get("/", opt=requires(Perm.authenticated), include_in_schema=False, sync_to_thread=True)
def home(request: Request[Any, Any, Any], db: Session, principal: Principal,
         year: int | None = Parameter(default=None, ge=2000, le=2100)) -> Template:
    scope = Scope(perm=Perm.org_read, paths=tuple(principal.paths_for(Perm.org_read)), principal=principal)
    roots = []
    for grant in principal.grants:
        if scope.contains(grant.org_path):
            org = org_services.get_org(db, grant.org_id, scope)
            roots.append((grant, org, org_services.coverage(db, scope, org.id)))
    today = dt.date.today()
    shown_year = year or today.year
    month = f"{today:%Y-%m}"
    return Template("home.html", context=page_context(
        request, roots=roots, year=shown_year, month=month,
        books=dashboard.book_cards(db, principal, shown_year),
        unvisited=dashboard.unvisited_pairings(db, principal, month), cases=dashboard.waiting_cases(db, principal),
        last_run=dashboard.last_run(db, principal), from_fen=from_fen, yuan=yuan))


@get("/orgs", opt=requires(Perm.org_read), include_in_schema=False, sync_to_thread=True)
def orgs_page(request: Request[Any, Any, Any], db: Session, org_scope: Scope, under: OptionalId = None,
              kind: OrgKind | None = None, q: str | None = Parameter(default=None, max_length=50),
              page: int = Parameter(default=1, ge=1, le=100_000)) -> Template:
    limit = 100
    rows, total = org_services.list_orgs(db, org_scope, under=under, kind=kind, q=q, limit=limit,
                                         offset=(page - 1) * limit)
    return Template("orgs.html", context=page_context(request, rows=rows, total=total, page=page, limit=limit,
                                              under=under, kind=kind.value if kind else "", q=q or ""))


@get("/members", opt=requires(Perm.member_read), include_in_schema=False, sync_to_thread=True)
def members_page(request: Request[Any, Any, Any], db: Session, org_scope: Scope, under: OptionalId = None,
                 role: MemberRole | None = None, status: Literal["active", "left", "all"] = "active",
                 volunteer: bool | None = None, q: str | None = Parameter(default=None, max_length=50),
                 page: int = Parameter(default=1, ge=1, le=MAX_ID // 50), after: OptionalId = None,
                 before: OptionalId = None, last: bool = False) -> Template:
    limit = 50
    f = member_services.MemberFilter(under=under, role=role, status=status, volunteer=volunteer, q=q)
    # Cursor links (上一页/下一页/末页): the 2,000th page of a county's roster costs what the first does.
    result = member_services.member_page(db, org_scope, f, limit=limit, after=after, before=before, last=last,
                                         offset=0 if after or before or last else (page - 1) * limit)
    # The export takes the same filters: what the secretary sees is what the sheet holds (IDs masked).
    wanted = {"under": under, "role": role.value if role else None, "status": status, "volunteer": volunteer, "q": q}
    export = "/api/members/export.xlsx?" + urlencode({k: str(v).lower() if isinstance(v, bool) else v
                                                      for k, v in wanted.items() if v not in (None, "")})
    return Template("members.html", context=page_context(
        request, export=export, rows=result.rows, total=result.total, next=result.next or "", prev=result.prev or "",
        limit=limit, under=under, role=role.value if role else "",
        status=status, volunteer=volunteer, q=q or "", roles=list(MemberRole),
        reasons=list(LeftReason)))


static_router = create_static_files_router(path="/static", directories=[STATIC_DIR], opt=requires(Perm.public),
                                           include_in_schema=False)

ROUTES = [login_page, login_submit, logout_submit, home, orgs_page, members_page, *FUND_PAGES, *IMPORT_PAGES,
          *MONEY_PAGES, *VISIT_PAGES, *CASE_PAGES,
          *ENTITLEMENT_PAGES, *STATEMENT_PAGES, *HOUSEHOLD_FORMS, *HOUSEHOLD_PAGES, *PAIRING_PAGES, *REPORT_PAGES,
          *SCHEME_PAGES, static_router]
