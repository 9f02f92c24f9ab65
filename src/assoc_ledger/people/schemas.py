"""API shapes for people. Resident IDs and phones leave the service masked, except through the logged reveal."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from assoc_ledger.core.personal import mask_phone
from assoc_ledger.core.schemas import IdField, Schema, refuse_nulls
from assoc_ledger.people.models import Person


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
        return cls(id=p.id, name=p.name, resident_id_masked=p.resident_id_masked,
                   birth_date=p.birth_date, sex=p.sex,  # type: ignore[arg-type]
                   phone_masked=mask_phone(p.phone), address=p.address, org_id=p.org_id, died_on=p.died_on)


class RevealRequest(Schema):
    reason: str = Field(min_length=2, max_length=200, description="查看完整身份证号的事由（记入审计日志）")


class RevealOut(Schema):
    person_id: int
    resident_id: str
