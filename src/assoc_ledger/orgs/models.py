"""Organisation tree, stored with a materialised path so a subtree is one indexed prefix query."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, Select, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from assoc_ledger.auth.scope import Scope
from assoc_ledger.auth.tree import provide
from assoc_ledger.core.db import Base, UTCDateTime, utcnow


class OrgKind(StrEnum):
    county = "county"  # 县
    township = "township"  # 乡
    town = "town"  # 镇
    street = "street"  # 街道/办事处
    village = "village"  # 村
    community = "community"  # 社区/居委会
    enterprise = "enterprise"  # 企业
    migrant = "migrant"  # 流动人口


ORG_KIND_ZH: dict[OrgKind, str] = {
    OrgKind.county: "县",
    OrgKind.township: "乡",
    OrgKind.town: "镇",
    OrgKind.street: "街道",
    OrgKind.village: "村",
    OrgKind.community: "社区",
    OrgKind.enterprise: "企业",
    OrgKind.migrant: "流动人口",
}

# Which kinds may hang under which; enterprise and migrant chapters go under any level (“两个延伸”).
ALLOWED_PARENTS: dict[OrgKind, set[OrgKind | None]] = {
    OrgKind.county: {None},
    OrgKind.township: {OrgKind.county},
    OrgKind.town: {OrgKind.county},
    OrgKind.street: {OrgKind.county},
    OrgKind.village: {OrgKind.township, OrgKind.town, OrgKind.street},
    OrgKind.community: {OrgKind.township, OrgKind.town, OrgKind.street},
    OrgKind.enterprise: {OrgKind.county, OrgKind.township, OrgKind.town, OrgKind.street,
                         OrgKind.village, OrgKind.community},
    OrgKind.migrant: {OrgKind.county, OrgKind.township, OrgKind.town, OrgKind.street,
                      OrgKind.village, OrgKind.community},
}


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    # 统计用区划代码 (12 digits) where the unit has one.
    code: Mapped[str | None] = mapped_column(String(20), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    # "/1/14/203/": ids from the root down to this unit, both ends slashed.
    path: Mapped[str] = mapped_column(String(400), index=True)
    depth: Mapped[int] = mapped_column(Integer, default=0)
    population: Mapped[int | None] = mapped_column(Integer)
    married_women_cba: Mapped[int | None] = mapped_column(Integer)  # 育龄已婚妇女
    constituted: Mapped[bool] = mapped_column(Boolean, default=False)  # 整建
    constituted_on: Mapped[date | None] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    def is_within(self, path: str) -> bool:
        return self.path.startswith(path)

    @property
    def org_path(self) -> str:
        """Where the row sits in the tree, as every audited row is asked (an organisation is its own place)."""
        return self.path


class OrgEvent(Base):
    """History of an organisation: created, renamed, moved, closed, changed. Append-only."""

    __tablename__ = "org_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    effective_on: Mapped[date | None] = mapped_column(Date)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class _SqlOrgTree:
    """This area's answer to access control's :class:`~assoc_ledger.auth.tree.OrgTree` port."""

    def paths(self, session: Session, org_ids: Collection[int], *, open_only: bool = False) -> dict[int, str]:
        # Through the identity map, as the audit hook did before this port: it asks for the same few
        # organisations on every row it records, and a loaded one is not fetched again.
        out: dict[int, str] = {}
        for org_id in org_ids:
            org = session.get(Organisation, org_id)
            if org is not None and not (open_only and org.closed_on is not None):
                out[org_id] = org.path
        return out

    def ids_in(self, scope: Scope) -> Select[Any]:
        return select(Organisation.id).where(scope.clause(Organisation.path))


provide(_SqlOrgTree())
