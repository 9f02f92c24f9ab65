"""Login, logout, API tokens, user administration and the audit log."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import Parameter
from pydantic import Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from assoc_ledger.auth import services
from assoc_ledger.auth.deps import client_of
from assoc_ledger.auth.guards import requires
from assoc_ledger.auth.middleware import SESSION_COOKIE
from assoc_ledger.auth.models import ApiToken, AuditEntry, RoleGrant, User
from assoc_ledger.auth.scope import Perm, Principal, Role, Scope
from assoc_ledger.auth.tree import org_tree, require_org
from assoc_ledger.core.errors import NotFound
from assoc_ledger.core.schemas import MAX_ID, Id, IdField, Page, Schema


class LoginRequest(Schema):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class GrantOut(Schema):
    role: Role
    org_id: int


class MeOut(Schema):
    user_id: int
    username: str
    grants: list[GrantOut]
    csrf_token: str | None = Field(default=None, description="会话请求的 X-CSRF-Token 头取值")


class TokenCreate(Schema):
    name: str = Field(min_length=1, max_length=100)
    perms: list[Perm] | None = Field(default=None, description="限定权限；为空表示与用户相同")
    expires_at: datetime | None = None


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    perms: list[str] | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="只显示这一次，请妥善保存")


class UserCreate(Schema):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    password: str = Field(min_length=10, max_length=256)
    display_name: str | None = Field(default=None, max_length=100)


class UserOut(Schema):
    id: int
    username: str
    display_name: str
    is_active: bool


class GrantCreate(Schema):
    role: Role
    org_id: IdField


class GrantRecord(Schema):
    id: int
    user_id: int
    role: Role
    org_id: int
    granted_at: datetime
    revoked_at: datetime | None


class AuditOut(Schema):
    id: int
    at: datetime
    user_id: int | None
    username: str | None
    action: str
    object_type: str
    object_id: str | None
    org_path: str | None
    client: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    note: str | None
    hash: str


def _me(principal: Principal, csrf: str | None) -> MeOut:
    return MeOut(user_id=principal.user_id, username=principal.username,
                 grants=[GrantOut(role=g.role, org_id=g.org_id) for g in principal.grants], csrf_token=csrf)


class AuthController(Controller):
    path = "/api/auth"
    tags = ["登录 auth"]  # noqa: RUF012

    @post("/login", opt=requires(Perm.public), sync_to_thread=True, status_code=200)
    def login(self, request: Request[Any, Any, Any], db: Session, data: LoginRequest) -> Response[MeOut]:
        client = client_of(request)
        try:
            user = services.authenticate_password(db, data.username, data.password, client)
        except (services.LoginRefused, services.LockedOut):
            db.commit()  # keep the failed attempt on record, then refuse
            raise
        token, ws = services.start_session(db, user, client)
        principal = services.principal_for(db, user)
        settings = request.app.state.settings
        cookie = Cookie(key=SESSION_COOKIE, value=token, httponly=True, samesite="strict",
                        secure=settings.secure_cookies, path="/",
                        max_age=int(services.SESSION_TTL.total_seconds()))
        return Response(_me(principal, ws.csrf_token), cookies=[cookie])

    @post("/logout", opt=requires(Perm.authenticated), sync_to_thread=True, status_code=200)
    def logout(self, request: Request[Any, Any, Any], db: Session) -> Response[dict[str, str]]:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            services.end_session(db, token)
        return Response({"status": "logged-out"},
                        cookies=[Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/", httponly=True)])

    @get("/me", opt=requires(Perm.authenticated))
    async def me(self, request: Request[Any, Any, Any], principal: Principal) -> MeOut:
        auth = request.auth or {}
        return _me(principal, auth.get("csrf") if isinstance(auth, dict) else None)

    @get("/tokens", opt=requires(Perm.authenticated), sync_to_thread=True)
    def list_tokens(self, db: Session, principal: Principal) -> list[TokenOut]:
        rows = db.scalars(select(ApiToken).where(ApiToken.user_id == principal.user_id).order_by(ApiToken.id))
        return [TokenOut.model_validate(t) for t in rows]

    @post("/tokens", opt=requires(Perm.authenticated), sync_to_thread=True)
    def create_token(self, db: Session, principal: Principal, data: TokenCreate) -> TokenCreated:
        user = db.get(User, principal.user_id)
        assert user is not None
        perms = data.perms
        if principal.token_perms is not None:  # a narrowed token cannot mint a wider one
            perms = [p for p in (perms or list(principal.token_perms)) if p in principal.token_perms]
        secret, tok = services.create_token(db, user, data.name, perms, data.expires_at)
        return TokenCreated(token=secret, **TokenOut.model_validate(tok).model_dump())

    @post("/tokens/{token_id:int}/revoke", opt=requires(Perm.authenticated), sync_to_thread=True,
          status_code=200)
    def revoke_token(self, db: Session, principal: Principal, token_id: Id) -> TokenOut:
        return TokenOut.model_validate(services.revoke_token(db, principal.user_id, token_id))


class UserController(Controller):
    path = "/api/users"
    tags = ["用户 users"]  # noqa: RUF012

    @get("/", opt=requires(Perm.user_admin), sync_to_thread=True)
    def list_users(self, db: Session, org_scope: Scope) -> list[UserOut]:
        in_scope = select(RoleGrant.user_id).where(RoleGrant.org_id.in_(org_tree().ids_in(org_scope)))
        rows = db.scalars(select(User).where(User.id.in_(in_scope)).order_by(User.id))
        return [UserOut.model_validate(u) for u in rows]

    @post("/", opt=requires(Perm.user_admin), sync_to_thread=True)
    def create_user(self, db: Session, data: UserCreate) -> UserOut:
        return UserOut.model_validate(services.create_user(db, data.username, data.password, data.display_name))

    @get("/{user_id:int}/grants", opt=requires(Perm.user_admin), sync_to_thread=True)
    def list_grants(self, db: Session, org_scope: Scope, user_id: Id) -> list[GrantRecord]:
        _user_in_scope(db, org_scope, user_id)
        rows = db.scalars(select(RoleGrant).where(RoleGrant.user_id == user_id,
                                                  RoleGrant.org_id.in_(org_tree().ids_in(org_scope)))
                          .order_by(RoleGrant.id))
        return [GrantRecord.model_validate(g) for g in rows]

    @post("/{user_id:int}/grants", opt=requires(Perm.user_admin), sync_to_thread=True)
    def grant(self, db: Session, org_scope: Scope, user_id: Id, data: GrantCreate) -> GrantRecord:
        user = db.get(User, user_id)
        if user is None:
            raise NotFound("用户不存在", field="user_id")
        has_any = db.scalar(select(RoleGrant.id).where(RoleGrant.user_id == user_id).limit(1))
        if has_any is not None:  # a user already placed elsewhere is not this admin's to extend
            _user_in_scope(db, org_scope, user_id)
        require_org(db, data.org_id, org_scope)  # an admin can only grant within their own subtree
        return GrantRecord.model_validate(services.grant_role(db, user, data.role, data.org_id))

    @post("/{user_id:int}/grants/{grant_id:int}/revoke", opt=requires(Perm.user_admin), sync_to_thread=True,
          status_code=200)
    def revoke(self, db: Session, org_scope: Scope, user_id: Id, grant_id: Id) -> GrantRecord:
        grant = db.get(RoleGrant, grant_id)
        if grant is None or grant.user_id != user_id:
            raise NotFound("授权不存在", field="grant_id")
        require_org(db, grant.org_id, org_scope)
        return GrantRecord.model_validate(services.revoke_grant(db, grant_id))


def _user_in_scope(db: Session, org_scope: Scope, user_id: int) -> None:
    """Users are visible to an admin when they hold some role inside the admin's subtree."""
    found = db.scalar(select(RoleGrant.id).where(RoleGrant.user_id == user_id,
                                                 RoleGrant.org_id.in_(org_tree().ids_in(org_scope))).limit(1))
    if found is None:
        raise NotFound("用户不存在", field="user_id")


class AuditController(Controller):
    path = "/api/audit"
    tags = ["审计日志 audit"]  # noqa: RUF012

    @get("/", opt=requires(Perm.audit_read), sync_to_thread=True)
    def list_audit(self, db: Session, org_scope: Scope, action: str | None = Parameter(default=None, max_length=64),
                   limit: int = Parameter(default=100, ge=1, le=1000),
                   offset: int = Parameter(default=0, ge=0, le=MAX_ID)) -> Page[AuditOut]:
        stmt = select(AuditEntry).where(org_scope.clause(AuditEntry.org_path) if "/" not in org_scope.paths
                                        else AuditEntry.id > 0)
        if action:
            stmt = stmt.where(AuditEntry.action == action)
        total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = db.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit).offset(offset))
        return Page(items=[AuditOut.model_validate(r) for r in rows], total=total, limit=limit, offset=offset)

    @get("/export.csv", opt=requires(Perm.audit_read), sync_to_thread=True, media_type="text/csv")
    def export_audit(self, db: Session, org_scope: Scope) -> Response[str]:
        stmt = select(AuditEntry).order_by(AuditEntry.id)
        if "/" not in org_scope.paths:
            stmt = stmt.where(org_scope.clause(AuditEntry.org_path))
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["id", "时间", "用户", "操作", "对象类型", "对象ID", "组织路径", "来源", "修改前", "修改后",
                    "备注", "哈希"])
        for e in db.scalars(stmt).yield_per(1000):
            w.writerow([e.id, e.at.isoformat(), e.username, e.action, e.object_type, e.object_id, e.org_path,
                        e.client, e.before, e.after, e.note, e.hash])
        return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="audit.csv"'})


AUTH_ROUTES = [AuthController, UserController, AuditController]
