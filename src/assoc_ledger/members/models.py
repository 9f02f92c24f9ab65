"""Memberships with their role terms, and member groups. History is kept, never deleted."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from assoc_ledger.core.db import Base, UTCDateTime, utcnow
from assoc_ledger.orgs.models import Organisation
from assoc_ledger.people.models import Person


class MemberRole(StrEnum):
    president = "president"  # 会长
    exec_vice_president = "exec_vice_president"  # 常务副会长
    vice_president = "vice_president"  # 副会长
    secretary_general = "secretary_general"  # 秘书长
    council_member = "council_member"  # 理事
    member = "member"  # 会员
    group_leader = "group_leader"  # 小组长


MEMBER_ROLE_ZH: dict[MemberRole, str] = {
    MemberRole.president: "会长",
    MemberRole.exec_vice_president: "常务副会长",
    MemberRole.vice_president: "副会长",
    MemberRole.secretary_general: "秘书长",
    MemberRole.council_member: "理事",
    MemberRole.member: "会员",
    MemberRole.group_leader: "小组长",
}
MEMBER_ROLE_BY_ZH = {v: k for k, v in MEMBER_ROLE_ZH.items()}


class LeftReason(StrEnum):
    moved = "moved"  # 迁出/转会
    died = "died"  # 死亡
    withdrew = "withdrew"  # 退会


LEFT_REASON_ZH = {LeftReason.moved: "迁出", LeftReason.died: "死亡", LeftReason.withdrew: "退会"}


class MemberGroup(Base):
    """会员小组 under a chapter."""

    __tablename__ = "member_groups"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Membership(Base):
    """One spell of membership of one chapter. Moving chapter ends one spell and starts another."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("person_id", "org_id", "joined_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("member_groups.id"))
    joined_on: Mapped[date] = mapped_column(Date)
    left_on: Mapped[date | None] = mapped_column(Date)
    left_reason: Mapped[str | None] = mapped_column(String(20))
    is_volunteer: Mapped[bool] = mapped_column(Boolean, default=False)
    volunteer_skills: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    person: Mapped[Person] = relationship(lazy="joined")
    org: Mapped[Organisation] = relationship(lazy="joined")
    roles: Mapped[list[RoleTerm]] = relationship(
        back_populates="membership", order_by="RoleTerm.start_on", lazy="selectin"
    )


class RoleTerm(Base):
    __tablename__ = "role_terms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("memberships.id"), index=True)
    role: Mapped[str] = mapped_column(String(30))
    start_on: Mapped[date] = mapped_column(Date)
    end_on: Mapped[date | None] = mapped_column(Date)

    membership: Mapped[Membership] = relationship(back_populates="roles")
