"""Users, grants, passwords (argon2id), web sessions, API tokens and login throttling."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from assoc_ledger.auth.models import ApiToken, LoginAttempt, RoleGrant, User, WebSession
from assoc_ledger.auth.scope import Grant, Perm, Principal, Role
from assoc_ledger.auth.tree import org_tree
from assoc_ledger.core.db import utcnow
from assoc_ledger.core.errors import Conflict, DomainError, Invalid, NotFound


@functools.cache
def _hasher() -> PasswordHasher:
    """argon2id with the library's current recommended parameters. ``ASSOC_PASSWORD_PROFILE`` names another of
    argon2's own profiles (the test suite sets CHEAPEST: the same argon2id, at a cost that does not dominate
    hundreds of throwaway users); a hash records its parameters, so any profile verifies any other's hashes."""
    name = os.environ.get("ASSOC_PASSWORD_PROFILE", "")
    if not name:
        return PasswordHasher()
    if name not in {"CHEAPEST", "PRE_21_2", "RFC_9106_HIGH_MEMORY", "RFC_9106_LOW_MEMORY"}:
        raise SystemExit(f"ASSOC_PASSWORD_PROFILE={name!r}: not one of argon2's profiles")
    return PasswordHasher.from_parameters(getattr(profiles, name))


SESSION_TTL = timedelta(hours=8)
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
CLIENT_WINDOW = timedelta(minutes=15)
MAX_CLIENT_FAILURES = 20
MIN_PASSWORD = 10


class LoginRefused(DomainError):
    status_code = 401
    title = "登录失败"


class LockedOut(DomainError):
    status_code = 429
    title = "登录尝试过多"


def hash_secret(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"密码至少{MIN_PASSWORD}个字符", field="password")
    return _hasher().hash(password)


def create_user(session: Session, username: str, password: str, display_name: str | None = None,
                person_id: int | None = None) -> User:
    username = username.strip()
    if not username:
        raise Invalid("用户名不能为空", field="username")
    if session.scalar(select(User.id).where(User.username == username)):
        raise Conflict(f"用户名 {username} 已存在", field="username")
    user = User(username=username, display_name=display_name or username,
                password_hash=hash_password(password), person_id=person_id)
    session.add(user)
    session.flush()
    return user


def grant_role(session: Session, user: User, role: Role, org_id: int) -> RoleGrant:
    if not org_tree().paths(session, [org_id]):
        raise NotFound("组织不存在", field="org_id")
    existing = session.scalar(select(RoleGrant).where(
        RoleGrant.user_id == user.id, RoleGrant.role == role.value, RoleGrant.org_id == org_id,
        RoleGrant.revoked_at.is_(None)))
    if existing:
        return existing
    grant = RoleGrant(user_id=user.id, role=role.value, org_id=org_id)
    session.add(grant)
    session.flush()
    return grant


def revoke_grant(session: Session, grant_id: int) -> RoleGrant:
    grant = session.get(RoleGrant, grant_id)
    if grant is None or grant.revoked_at is not None:
        raise NotFound("授权不存在", field="grant_id")
    grant.revoked_at = utcnow()
    return grant


def principal_for(session: Session, user: User, token: ApiToken | None = None) -> Principal:
    rows = session.execute(select(RoleGrant.role, RoleGrant.org_id).where(
        RoleGrant.user_id == user.id, RoleGrant.revoked_at.is_(None)).order_by(RoleGrant.id)).all()
    paths = org_tree().paths(session, {oid for _, oid in rows}, open_only=True)
    grants = tuple(Grant(Role(r), oid, paths[oid]) for r, oid in rows if oid in paths)
    perms = frozenset(Perm(p) for p in token.perms) if token is not None and token.perms is not None else None
    return Principal(user_id=user.id, username=user.username, grants=grants,
                     token_id=token.id if token else None, token_perms=perms)


def _locked(user: User, now: datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now


def authenticate_password(session: Session, username: str, password: str, client: str | None) -> User:
    """Check a password. Repeated failures lock the account and throttle the client address."""
    now = utcnow()
    recent_client_failures = session.scalar(
        select(func.count()).select_from(LoginAttempt).where(
            LoginAttempt.client == client, LoginAttempt.ok.is_(False),
            LoginAttempt.at > now - CLIENT_WINDOW)
    ) or 0
    if client and recent_client_failures >= MAX_CLIENT_FAILURES:
        raise LockedOut("登录失败次数过多，请15分钟后再试")
    user = session.scalar(select(User).where(User.username == username))
    if user is not None and _locked(user, now):
        raise LockedOut("该账号因多次登录失败已暂时锁定，请15分钟后再试")
    ok = False
    if user is not None and user.is_active:
        try:
            ok = _hasher().verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            ok = False
    else:
        # Spend the same time as a real check so usernames cannot be probed by timing.
        with contextlib.suppress(VerificationError, InvalidHashError):
            _hasher().verify(_dummy_hash(), password)
    session.add(LoginAttempt(username=username[:64], client=client, ok=ok))
    if not ok:
        if user is not None:
            user.failed_logins += 1
            if user.failed_logins >= MAX_FAILED_LOGINS:
                user.locked_until = now + LOCKOUT
                user.failed_logins = 0
        raise LoginRefused("用户名或密码错误")
    assert user is not None
    user.failed_logins = 0
    user.locked_until = None
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = _hasher().hash(password)
    return user


@functools.cache
def _dummy_hash() -> str:
    return _hasher().hash("not-a-real-password-for-timing")


def start_session(session: Session, user: User, client: str | None) -> tuple[str, WebSession]:
    token = secrets.token_urlsafe(32)
    ws = WebSession(token_hash=hash_secret(token), csrf_token=secrets.token_urlsafe(24), user_id=user.id,
                    expires_at=utcnow() + SESSION_TTL, client=client)
    session.add(ws)
    session.flush()
    return token, ws


def session_user(session: Session, token: str) -> tuple[User, WebSession] | None:
    ws = session.scalar(select(WebSession).where(WebSession.token_hash == hash_secret(token)))
    if ws is None or ws.ended_at is not None or ws.expires_at <= utcnow():
        return None
    user = session.get(User, ws.user_id)
    if user is None or not user.is_active:
        return None
    return user, ws


def end_session(session: Session, token: str) -> None:
    ws = session.scalar(select(WebSession).where(WebSession.token_hash == hash_secret(token)))
    if ws is not None and ws.ended_at is None:
        ws.ended_at = utcnow()


TOKEN_PREFIX = "alt_"  # noqa: S105 - a marker, not a secret


def create_token(session: Session, user: User, name: str, perms: list[Perm] | None = None,
                 expires_at: datetime | None = None) -> tuple[str, ApiToken]:
    """Returns the token text once; only its hash is stored."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    tok = ApiToken(user_id=user.id, name=name, prefix=secret[:12], token_hash=hash_secret(secret),
                   perms=[p.value for p in perms] if perms is not None else None, expires_at=expires_at)
    session.add(tok)
    session.flush()
    return secret, tok


def token_user(session: Session, secret: str) -> tuple[User, ApiToken] | None:
    tok = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_secret(secret)))
    now = utcnow()
    if tok is None or tok.revoked_at is not None or (tok.expires_at is not None and tok.expires_at <= now):
        return None
    user = session.get(User, tok.user_id)
    if user is None or not user.is_active:
        return None
    return user, tok


def revoke_token(session: Session, user_id: int, token_id: int, *, admin: bool = False) -> ApiToken:
    tok = session.get(ApiToken, token_id)
    if tok is None or (tok.user_id != user_id and not admin):
        raise NotFound("令牌不存在", field="token_id")
    if tok.revoked_at is None:
        tok.revoked_at = utcnow()
    return tok
