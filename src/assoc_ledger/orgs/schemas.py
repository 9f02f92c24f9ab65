"""API shapes for organisations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import Field, field_validator, model_validator

from assoc_ledger.core.schemas import MAX_ID, IdField, Schema, refuse_nulls
from assoc_ledger.orgs.models import OrgKind

CODE_PATTERN = r"^\d{6,12}$"


class OrgCreate(Schema):
    name: str = Field(min_length=1, max_length=100, description="名称")
    kind: OrgKind = Field(description="级别/类型")
    parent_id: IdField | None = Field(default=None, description="上级组织")
    code: str | None = Field(default=None, pattern=CODE_PATTERN, description="统计用区划代码")
    population: int | None = Field(default=None, ge=0, le=100_000_000, description="人口数")
    married_women_cba: int | None = Field(default=None, ge=0, le=100_000_000, description="育龄已婚妇女数")
    constituted: bool = Field(default=False, description="是否已整建")
    constituted_on: date | None = Field(default=None, description="整建日期")

    @field_validator("name")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("名称不能为空")
        return v


class OrgUpdate(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    code: str | None = Field(default=None, pattern=CODE_PATTERN)
    population: int | None = Field(default=None, ge=0, le=100_000_000)
    married_women_cba: int | None = Field(default=None, ge=0, le=100_000_000)
    constituted: bool | None = None
    constituted_on: date | None = None
    version: int | None = Field(default=None, ge=1, le=MAX_ID, description="乐观并发：读取时的版本号")

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        refuse_nulls(data, ("name", "constituted"))
        return data


class OrgMove(Schema):
    parent_id: IdField = Field(description="新的上级组织")
    effective_on: date | None = None


class OrgClose(Schema):
    closed_on: date
    reason: str = Field(min_length=1, max_length=200)


class OrgOut(Schema):
    id: int
    name: str
    kind: OrgKind
    code: str | None
    parent_id: int | None
    path: str
    depth: int
    population: int | None
    married_women_cba: int | None
    constituted: bool
    constituted_on: date | None
    closed_on: date | None
    version: int


class OrgEventOut(Schema):
    id: int
    kind: str
    at: datetime
    effective_on: date | None
    actor_id: int | None
    detail: dict[str, Any]


class CoverageRow(Schema):
    org_id: int
    name: str
    units: int
    constituted: int
    percent: str = Field(description="整建率，百分比，一位小数")
