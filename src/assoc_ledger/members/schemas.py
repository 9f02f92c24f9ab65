"""API shapes for people and members. Resident IDs and phones leave the service masked."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from assoc_ledger.core.personal import mask_phone, mask_resident_id
from assoc_ledger.core.schemas import IdField, Schema, refuse_nulls
from assoc_ledger.members.models import MEMBER_ROLE_ZH, LeftReason, MemberRole, Membership, Person


class PersonCreate(Schema):
    name: str = Field(min_length=1, max_length=50, description="姓名")
    resident_id: str = Field(min_length=1, max_length=40, description="18位公民身份号码")
    org_id: IdField = Field(description="所属组织（户籍/居住）")
    phone: str | None = Field(default=None, max_length=20, description="联系电话")
    address: str | None = Field(default=None, max_length=200, description="住址")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("姓名不能为空")
        return v.strip()


class PersonUpdate(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=50)
    phone: str | None = Field(default=None, max_length=20)
    address: str | None = Field(default=None, max_length=200)
    org_id: IdField | None = Field(default=None)
    died_on: date | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        refuse_nulls(data, ("name",))
        return data


class PersonOut(Schema):
    id: int
    name: str
    resident_id_masked: str = Field(description="脱敏身份证号，如 110101********123X")
    birth_date: date
    sex: Literal["M", "F"]
    phone_masked: str | None
    address: str | None
    org_id: int
    died_on: date | None

    @classmethod
    def of(cls, p: Person) -> PersonOut:
        return cls(id=p.id, name=p.name, resident_id_masked=mask_resident_id(p.resident_id) or "",
                   birth_date=p.birth_date, sex=p.sex,  # type: ignore[arg-type]
                   phone_masked=mask_phone(p.phone), address=p.address, org_id=p.org_id, died_on=p.died_on)


class RevealRequest(Schema):
    reason: str = Field(min_length=2, max_length=200, description="查看完整身份证号的事由（记入审计日志）")


class RevealOut(Schema):
    person_id: int
    resident_id: str


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
