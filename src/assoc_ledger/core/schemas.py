"""Shared pydantic building blocks for the API."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from litestar.params import Parameter
from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


MAX_ID = 2_147_483_647  # ids fit a 32-bit signed integer on both backends

Id = Annotated[int, Parameter(ge=1, le=MAX_ID, description="记录编号")]
"""A path or query parameter naming a record."""

IdField = Annotated[int, Field(ge=1, le=MAX_ID)]
"""A body field naming a record."""


def refuse_nulls(data: object, fields: tuple[str, ...]) -> None:
    """PATCH bodies: leaving a field out keeps it; sending null for a required field is an error."""
    if isinstance(data, dict):
        for name in fields:
            if name in data and data[name] is None:
                raise ValueError(f"{name} 不能为空（不修改请省略该字段）")

OptionalId = Annotated[int | None, Parameter(ge=1, le=MAX_ID, description="记录编号")]
"""An optional query parameter naming a record (bounds kept: ``Id | None`` would drop them)."""
