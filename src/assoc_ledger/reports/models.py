"""Annual fund statements (年度公益金收支报告): frozen figures, the books' fingerprint, preparer and signer.

A statement row is written once when prepared and once more when an auditor signs it; after that it never
changes (``_refuse_edits``). A later change of the books is shown as staleness, never by editing the row.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, UniqueConstraint, event, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from assoc_ledger.core.db import Base, UTCDateTime, utcnow
from assoc_ledger.core.errors import Conflict

SIGN_FIELDS = frozenset({"signed_by_id", "signed_by", "signed_at", "sign_comment"})


class Statement(Base):
    __tablename__ = "statements"
    __table_args__ = (UniqueConstraint("org_id", "year", "version"),)
    # Prepare and sign are recorded by explicit audit notes (the frozen figures are too large for a diff).
    __audit__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    # {"books": [{"book_id", "slug", "seq", "hash", "files": {name: {"sha256", "size"}}}]}
    fingerprint: Mapped[dict[str, Any]] = mapped_column(JSON)
    program_version: Mapped[str] = mapped_column(String(40))
    prepared_by_id: Mapped[int | None] = mapped_column(Integer)
    prepared_by: Mapped[str] = mapped_column(String(100))
    prepared_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    signed_by_id: Mapped[int | None] = mapped_column(Integer)
    signed_by: Mapped[str | None] = mapped_column(String(100))
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sign_comment: Mapped[str | None] = mapped_column(String(1000))


@event.listens_for(Statement, "before_update")
def _refuse_edits(_mapper: Mapper[Any], _connection: Connection, target: Statement) -> None:
    """Only the sign-off may be added, once; everything else a statement says is frozen when prepared."""
    state = inspect(target)
    changed = {attr.key for attr in state.attrs if attr.history.has_changes()}
    if changed - SIGN_FIELDS:
        raise Conflict("报告编制后不可修改；如账簿有变，请编制新版本", field="statement")
    signed = state.attrs.signed_at.history
    if changed and any(v is not None for v in (*signed.unchanged, *signed.deleted)):
        raise Conflict("报告已签发，不可修改", field="statement")
