"""API shapes for members. The person inside a membership is shown as ``people`` shows it (masked)."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from assoc_ledger.core.schemas import IdField, Page, Schema
from assoc_ledger.members.models import MEMBER_ROLE_ZH, LeftReason, MemberRole, Membership
from assoc_ledger.people.schemas import PersonOut


class JoinRequest(Schema):
    person_id: IdField = Field()
    org_id: IdField = Field(description="入会的协会")
    joined_on: date = Field(description="入会日期")
    roles: list[MemberRole] = Field(default_factory=lambda: [MemberRole.member], max_length=7)
    is_volunteer: bool = False
    volunteer_skills: str | None = Field(default=None, max_length=500)
    group_id: IdField | None = Field(default=None)


class LeaveRequest(Schema):
    left_on: date
    reason: LeftReason


class TransferRequest(Schema):
    to_org_id: IdField = Field()
    on: date


class RoleAssign(Schema):
    role: MemberRole
    start_on: date


class RoleEnd(Schema):
    end_on: date


class VolunteerUpdate(Schema):
    is_volunteer: bool
    skills: str | None = Field(default=None, max_length=500)


class RoleTermOut(Schema):
    id: int
    role: MemberRole
    role_zh: str
    start_on: date
    end_on: date | None


class MembershipOut(Schema):
    id: int
    person: PersonOut
    org_id: int
    org_name: str = Field(description="所属协会名称")
    group_id: int | None
    joined_on: date
    left_on: date | None
    left_reason: LeftReason | None
    is_volunteer: bool
    volunteer_skills: str | None
    roles: list[RoleTermOut]

    @classmethod
    def of(cls, m: Membership) -> MembershipOut:
        return cls(
            id=m.id, person=PersonOut.of(m.person), org_id=m.org_id, org_name=m.org.name, group_id=m.group_id,
            joined_on=m.joined_on,
            left_on=m.left_on, left_reason=LeftReason(m.left_reason) if m.left_reason else None,
            is_volunteer=m.is_volunteer, volunteer_skills=m.volunteer_skills,
            roles=[RoleTermOut(id=t.id, role=MemberRole(t.role), role_zh=MEMBER_ROLE_ZH[MemberRole(t.role)],
                               start_on=t.start_on, end_on=t.end_on) for t in m.roles],
        )


class GroupCreate(Schema):
    name: str = Field(min_length=1, max_length=100)


class GroupOut(Schema):
    id: int
    org_id: int
    name: str


class MemberPageOut(Page[MembershipOut]):
    """A page of the roster; ``next``/``prev`` are membership ids for ``after=``/``before=`` (keyset paging)."""

    offset: int | None = Field(description="本页第一条在结果中的位置；用游标翻页时为空")  # type: ignore[assignment]
    next: int | None = Field(default=None, description="下一页：after=此值；为空表示没有下一页")
    prev: int | None = Field(default=None, description="上一页：before=此值；为空表示没有上一页")
