"""Household tables: an append-only event log (the truth) and the current projection that queries and uniqueness use.

A household's facts on any date are the fold of its events (``rules.fold``); ``household_members`` and
``household_kinds`` hold only the fold of every event known now, rebuilt after each event, so that
"one household per person" is also a unique index and lists can filter by kind in SQL.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from assoc_ledger.core.db import Base, UTCDateTime, utcnow


class Household(Base):
    __tablename__ = "households"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Current home organisation (village or community); past homes are in the events.
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    address: Mapped[str | None] = mapped_column(String(200))
    registered_on: Mapped[date] = mapped_column(Date)
    # False once the whole household has moved out of the county: kept, never deleted.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class HouseholdEvent(Base):
    """One fact about a household, never changed: when it became true, and when and by whom it was recorded."""

    __tablename__ = "household_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    effective_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(Integer)
    recorded_by: Mapped[str | None] = mapped_column(String(100))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class HouseholdMember(Base):
    """Current membership (projection): a person is in at most one household now."""

    __tablename__ = "household_members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), unique=True)
    relation: Mapped[str] = mapped_column(String(10))
    since: Mapped[date] = mapped_column(Date)


class HouseholdKind(Base):
    """Current kinds (projection), for filtering lists by kind."""

    __tablename__ = "household_kinds"
    __table_args__ = (UniqueConstraint("household_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30), index=True)
    since: Mapped[date] = mapped_column(Date)


class Pairing(Base):
    """结对帮扶: one volunteer (a membership flagged volunteer) with one household, from a date, until a date."""

    __tablename__ = "pairings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("memberships.id"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    from_date: Mapped[date] = mapped_column(Date)
    until_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Visit(Base):
    """走访: what was done and handed over, confirmed by the household's signed sheet (stored by content hash)."""

    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pairing_id: Mapped[int] = mapped_column(ForeignKey("pairings.id"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    visited_on: Mapped[date] = mapped_column(Date, index=True)
    services: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[str | None] = mapped_column(String(1000))
    goods: Mapped[str | None] = mapped_column(String(500))
    cash_fen: Mapped[int | None] = mapped_column(BigInteger)
    # The 走访慰问 payment posted with the visit, in the same transaction.
    fund_entry_id: Mapped[int | None] = mapped_column(ForeignKey("fund_entries.id"))
    signer_name: Mapped[str] = mapped_column(String(50))
    sheet_sha256: Mapped[str] = mapped_column(String(64))
    sheet_type: Mapped[str] = mapped_column(String(30))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    recorded_by: Mapped[str | None] = mapped_column(String(100))


class HouseholdReview(Base):
    """A change a visitor noticed (child born, death, moved, hardship ended), listed until someone in scope
    records the event or dismisses it with a reason."""

    __tablename__ = "household_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    change: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(String(500))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    opened_by: Mapped[str | None] = mapped_column(String(100))
    # Open while closed_at is empty; then "recorded" (with the event) or "dismissed" (with the reason).
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_by: Mapped[str | None] = mapped_column(String(100))
    resolution: Mapped[str | None] = mapped_column(String(20))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("household_events.id"))
    reason: Mapped[str | None] = mapped_column(String(500))
