"""A person (人员) with the resident ID stored as ciphertext, a keyed lookup hash and the facts derived from it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from assoc_ledger.core.db import Base, UTCDateTime, utcnow
from assoc_ledger.core.personal import mask_id_parts

# Never shown anywhere, not even masked: the audit log records the masked number instead.
SEALED_COLUMNS = frozenset({"resident_id_cipher", "resident_id_hash"})


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50), index=True)
    # AES-GCM (nonce + ciphertext + tag), bound to resident_id_hash; the key is outside the database.
    resident_id_cipher: Mapped[bytes] = mapped_column(LargeBinary)
    # HMAC-SHA256 of the number: one person per ID without the number itself being stored.
    resident_id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # First six digits (行政区划代码) and last four: masking and suffix search without decrypting.
    resident_id_region: Mapped[str] = mapped_column(String(6))
    resident_id_tail: Mapped[str] = mapped_column(String(4), index=True)
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))
    phone: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(200))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    died_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def resident_id_masked(self) -> str:
        """110101********123X, from the region and tail columns alone."""
        return mask_id_parts(self.resident_id_region, self.resident_id_tail)

    @property
    def resident_id(self) -> str | None:
        """The number as typed, only on a person this process has just registered; never read back.

        A stored person's number is available through ``people.services.reveal_resident_id`` only,
        which logs the view.
        """
        given: str | None = self.__dict__.get("_number_as_given")
        return given

    @staticmethod
    def audit_view(row: dict[str, Any]) -> dict[str, Any]:
        """What the audit log keeps of a person row: the masked number, never ciphertext or hash."""
        out = {k: v for k, v in row.items() if k not in SEALED_COLUMNS}
        region, tail = row.get("resident_id_region"), row.get("resident_id_tail")
        if isinstance(region, str) and isinstance(tail, str):
            out["resident_id"] = mask_id_parts(region, tail)
        return out
