"""HTTP routes for memberships, roles and member groups, and a person's membership history."""

from __future__ import annotations

from typing import Literal

from litestar import Controller, get, patch, post
from litestar.params import Parameter
from sqlalchemy.orm import Session

from assoc_ledger.auth.guards import requires
from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.errors import Invalid
from assoc_ledger.core.schemas import MAX_ID, Id, OptionalId
from assoc_ledger.members import services
from assoc_ledger.members.models import MEMBER_ROLE_ZH, MemberRole
from assoc_ledger.members.schemas import (
    GroupCreate,
    GroupOut,
    JoinRequest,
    LeaveRequest,
    MemberPageOut,
    MembershipOut,
    RoleAssign,
    RoleEnd,
    RoleTermOut,
    TransferRequest,
    VolunteerUpdate,
)


@get("/api/people/{person_id:int}/memberships", opt=requires(Perm.member_read), sync_to_thread=True,
     tags=["人员 people"])
def person_memberships(db: Session, org_scope: Scope, person_id: Id) -> list[MembershipOut]:
    """A person's memberships, oldest first (served here: people know nothing of memberships)."""
    return [MembershipOut.of(m) for m in services.person_history(db, org_scope, person_id)]


class MemberController(Controller):
    path = "/api/members"
    tags = ["会员 members"]  # noqa: RUF012

    @get("/", opt=requires(Perm.member_read), sync_to_thread=True)
    def list_members(self, db: Session, org_scope: Scope, under: OptionalId = None,
                     role: MemberRole | None = None,
                     status: Literal["active", "left", "all"] = "active", volunteer: bool | None = None,
                     q: str | None = Parameter(default=None, max_length=50),
                     group_id: OptionalId = None,
                     limit: int = Parameter(default=50, ge=1, le=500),
                     offset: int = Parameter(default=0, ge=0, le=MAX_ID),
                     after: int | None = Parameter(default=None, ge=1, le=MAX_ID,
                                                   description="游标：此会员记录之后的一页，见上页的 next"),
                     before: int | None = Parameter(default=None, ge=1, le=MAX_ID,
                                                    description="游标：此会员记录之前的一页，见本页的 prev"),
                     last: bool = Parameter(default=False, description="最后一页")) -> MemberPageOut:
        """会员名册，按（组织，姓名）排列。翻页用 after/before 游标或 last=true；offset 越往后越慢。"""
        if (after is not None) + (before is not None) + last + (offset > 0) > 1:
            raise Invalid("after、before、last 与 offset 只能选用一个", field="after")
        f = services.MemberFilter(under=under, role=role, status=status, volunteer=volunteer, q=q,
                                  group_id=group_id)
        page = services.member_page(db, org_scope, f, limit=limit, offset=offset, after=after, before=before,
                                    last=last)
        return MemberPageOut(items=[MembershipOut.of(m) for m in page.rows], total=page.total, limit=limit,
                             offset=page.offset, next=page.next, prev=page.prev)

    @post("/", opt=requires(Perm.member_write), sync_to_thread=True)
    def join(self, db: Session, org_scope: Scope, data: JoinRequest) -> MembershipOut:
        return MembershipOut.of(services.join(db, org_scope, **data.model_dump()))

    @get("/{membership_id:int}", opt=requires(Perm.member_read), sync_to_thread=True)
    def get_membership(self, db: Session, org_scope: Scope, membership_id: Id) -> MembershipOut:
        return MembershipOut.of(services.get_membership(db, org_scope, membership_id))

    @post("/{membership_id:int}/leave", opt=requires(Perm.member_write), sync_to_thread=True)
    def leave(self, db: Session, org_scope: Scope, membership_id: Id, data: LeaveRequest) -> MembershipOut:
        return MembershipOut.of(services.leave(db, org_scope, membership_id, data.left_on, data.reason))

    @post("/{membership_id:int}/transfer", opt=requires(Perm.member_write), sync_to_thread=True)
    def transfer(self, db: Session, org_scope: Scope, membership_id: Id, data: TransferRequest) -> MembershipOut:
        return MembershipOut.of(services.transfer(db, org_scope, membership_id, data.to_org_id, data.on))

    @post("/{membership_id:int}/roles", opt=requires(Perm.member_write), sync_to_thread=True)
    def assign_role(self, db: Session, org_scope: Scope, membership_id: Id, data: RoleAssign) -> RoleTermOut:
        t = services.assign_role(db, org_scope, membership_id, data.role, data.start_on)
        return RoleTermOut(id=t.id, role=data.role, role_zh=_zh(data.role), start_on=t.start_on, end_on=t.end_on)

    @post("/{membership_id:int}/roles/{term_id:int}/end", opt=requires(Perm.member_write), sync_to_thread=True)
    def end_role(self, db: Session, org_scope: Scope, membership_id: Id, term_id: Id, data: RoleEnd) -> RoleTermOut:
        t = services.end_role(db, org_scope, membership_id, term_id, data.end_on)
        role = MemberRole(t.role)
        return RoleTermOut(id=t.id, role=role, role_zh=_zh(role), start_on=t.start_on, end_on=t.end_on)

    @patch("/{membership_id:int}/volunteer", opt=requires(Perm.member_write), sync_to_thread=True)
    def set_volunteer(self, db: Session, org_scope: Scope, membership_id: Id, data: VolunteerUpdate) -> MembershipOut:
        return MembershipOut.of(services.set_volunteer(db, org_scope, membership_id, data.is_volunteer, data.skills))


class GroupController(Controller):
    path = "/api/orgs/{org_id:int}/groups"
    tags = ["会员小组 groups"]  # noqa: RUF012

    @get("/", opt=requires(Perm.member_read), sync_to_thread=True)
    def list_groups(self, db: Session, org_scope: Scope, org_id: Id) -> list[GroupOut]:
        return [GroupOut.model_validate(g) for g in services.list_groups(db, org_scope, org_id)]

    @post("/", opt=requires(Perm.member_write), sync_to_thread=True)
    def create_group(self, db: Session, org_scope: Scope, org_id: Id, data: GroupCreate) -> GroupOut:
        return GroupOut.model_validate(services.create_group(db, org_scope, org_id, data.name))


def _zh(role: MemberRole) -> str:
    return MEMBER_ROLE_ZH[role]


ROUTES = [MemberController, GroupController, person_memberships]
