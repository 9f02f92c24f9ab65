"""Who may do what, where: permissions, roles and the organisation scope of a request.

Every route declares one :class:`Perm` (see ``guards.py``). A request's :class:`Scope` is
the set of organisation subtrees in which the current principal holds that permission;
services filter every query through it and answer 404 for anything outside.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import ColumnElement, false, or_, true
from sqlalchemy.orm import InstrumentedAttribute

from assoc_ledger.core.errors import NotFound


class Role(StrEnum):
    admin = "admin"
    secretary = "secretary"  # 秘书长 / 计生专干
    reviewer = "reviewer"  # 审核人
    approver = "approver"  # 审批人：会长、常务副会长、乡镇办公室
    auditor = "auditor"  # 审计


ROLE_ZH = {Role.admin: "管理员", Role.secretary: "秘书长", Role.reviewer: "审核人", Role.approver: "审批人",
           Role.auditor: "审计"}


class Perm(StrEnum):
    public = "public"  # anyone, no login
    authenticated = "authenticated"  # any logged-in user, no organisation data
    org_read = "org:read"
    org_write = "org:write"
    member_read = "member:read"
    member_write = "member:write"
    id_view = "person:id-view"  # see a full resident ID (logged)
    household_read = "household:read"  # 计生家庭、结对帮扶、走访
    household_write = "household:write"
    fund_read = "fund:read"
    fund_write = "fund:write"
    fund_close = "fund:close"
    case_review = "case:review"  # 审核、驳回救助案件
    case_approve = "case:approve"  # 审批救助案件
    audit_read = "audit:read"
    statement_sign = "statement:sign"
    user_admin = "user:admin"


_READ = {Perm.org_read, Perm.member_read, Perm.fund_read, Perm.household_read}
ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.admin: frozenset(set(Perm) - {Perm.public, Perm.authenticated}),
    Role.secretary: frozenset(_READ | {Perm.org_write, Perm.member_write, Perm.id_view, Perm.fund_write,
                                        Perm.household_write}),
    Role.reviewer: frozenset(_READ | {Perm.case_review, Perm.id_view, Perm.fund_close}),
    Role.approver: frozenset(_READ | {Perm.case_review, Perm.case_approve, Perm.id_view}),
    Role.auditor: frozenset(_READ | {Perm.audit_read, Perm.statement_sign, Perm.id_view}),
}

WRITE_PERMS = frozenset({Perm.org_write, Perm.member_write, Perm.fund_write, Perm.household_write, Perm.fund_close,
                         Perm.case_review, Perm.case_approve, Perm.user_admin})


@dataclass(frozen=True)
class Grant:
    role: Role
    org_id: int
    org_path: str


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    grants: tuple[Grant, ...] = ()
    token_id: int | None = None
    # API tokens may be narrowed to a subset of permissions.
    token_perms: frozenset[Perm] | None = None

    def paths_for(self, perm: Perm) -> list[str]:
        if self.token_perms is not None and perm not in self.token_perms:
            return []
        paths = sorted({g.org_path for g in self.grants if perm in ROLE_PERMS[g.role]})
        # Drop paths already covered by an ancestor path.
        kept: list[str] = []
        for p in paths:
            if not any(p.startswith(k) for k in kept):
                kept.append(p)
        return kept

    def can(self, perm: Perm, org_path: str | None = None) -> bool:
        if perm in (Perm.public, Perm.authenticated):
            return True
        paths = self.paths_for(perm)
        if org_path is None:
            return bool(paths)
        return any(org_path.startswith(p) for p in paths)

    @property
    def roles(self) -> set[Role]:
        return {g.role for g in self.grants}


@dataclass(frozen=True)
class Scope:
    """The organisation subtrees a request may touch for its declared permission."""

    perm: Perm
    paths: tuple[str, ...] = field(default_factory=tuple)
    principal: Principal | None = None

    @classmethod
    def everything(cls, perm: Perm = Perm.org_read) -> Scope:
        """For the CLI and internal jobs: the whole tree."""
        return cls(perm=perm, paths=("/",))

    def clause(self, path_column: InstrumentedAttribute[str] | InstrumentedAttribute[str | None]
               | ColumnElement[str]) -> ColumnElement[bool]:
        if "/" in self.paths:
            return true()
        if not self.paths:
            return false()
        return or_(*[path_column.startswith(p, autoescape=True) for p in self.paths])

    def contains(self, org_path: str) -> bool:
        return any(org_path.startswith(p) for p in self.paths)

    def require(self, org_path: str, what: str = "记录") -> None:
        """Objects outside scope are reported as missing, so nothing about them leaks."""
        if not self.contains(org_path):
            raise NotFound(f"{what}不存在")

    def narrowed(self, perm: Perm) -> Scope:
        if self.principal is None:
            return Scope(perm=perm, paths=self.paths)
        return Scope(perm=perm, paths=tuple(self.principal.paths_for(perm)), principal=self.principal)

    @property
    def user_id(self) -> int | None:
        return self.principal.user_id if self.principal else None


def merge_paths(paths: Iterable[str]) -> tuple[str, ...]:
    kept: list[str] = []
    for p in sorted(set(paths)):
        if not any(p.startswith(k) for k in kept):
            kept.append(p)
    return tuple(kept)
