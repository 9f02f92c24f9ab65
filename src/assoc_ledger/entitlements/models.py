"""Entitlement tables: programmes (who pays which scheme from when), runs, roll lines (one per household and
range of months paid, with the facts that made them due), and exits.

A roll line is written in the same transaction as the books' voucher and roll it belongs to (``within``),
so a line exists exactly when its money has been posted; the facts on it are the run's frozen snapshot.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    event,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from assoc_ledger.core.db import Base, UTCDateTime, utcnow
from assoc_ledger.fund.models import FundEntry


class EntitlementProgramme(Base):
    """A recurring scheme paid by one organisation's book for its subtree, from a first month on.

    The organisation is the paying organisation the scheme names: a household that moves between
    townships below it stays with the same payer. ``scheme_version_id`` will name the relief area's
    scheme version once that area exists (one column, filled then).
    """

    __tablename__ = "entitlement_programmes"
    __table_args__ = (UniqueConstraint("scheme", "org_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scheme: Mapped[str] = mapped_column(String(30))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    fund: Mapped[str] = mapped_column(String(30))
    first_month: Mapped[date] = mapped_column(Date)
    scheme_version_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(100))


class EntitlementRun(Base):
    """One run for a month and a subtree: what it used (rule version, standards, registry watermark) and did."""

    __tablename__ = "entitlement_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[date] = mapped_column(Date, index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    pay_date: Mapped[date] = mapped_column(Date)
    # running → done (or partial: lines of payers outside the runner's scope left for them) | failed (refused
    # after it started, see ``problem``); a run found "running" with nobody holding the run lock died and is
    # marked interrupted.
    status: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_by: Mapped[str | None] = mapped_column(String(100))
    rule_version: Mapped[str] = mapped_column(String(60))
    # The registry as the run read it: events up to this id, and the standards and programmes in force.
    max_event_id: Mapped[int] = mapped_column(Integer)
    basis: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    households: Mapped[int] = mapped_column(Integer, default=0)
    lines: Mapped[int] = mapped_column(Integer, default=0)
    months: Mapped[int] = mapped_column(Integer, default=0)
    arrears_months: Mapped[int] = mapped_column(Integer, default=0)
    total_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    exits: Mapped[int] = mapped_column(Integer, default=0)
    problem: Mapped[str | None] = mapped_column(String(1000))  # why a background run failed (status "failed")


LIVE = text("reversed_by_entry_id IS NULL")
"""A line whose voucher stands; a reversed one (冲销 in the books) no longer counts as paid."""
REVERSED = text("reversed_by_entry_id IS NOT NULL")


class EntitlementLine(Base):
    """One household paid for months ``from_month``..``to_month`` of one scheme by one run, and why."""

    __tablename__ = "entitlement_lines"
    __table_args__ = (
        # Never the same months twice: a second line starting at the same month is refused by the database,
        # unless the first one's voucher was reversed in the books (those months are then paid again).
        Index("uq_entitlement_lines_live", "scheme", "household_id", "from_month", unique=True,
              sqlite_where=LIVE, postgresql_where=LIVE),
        # Covers what runs and reconciliation read of the lines (months paid per household and scheme).
        Index("ix_entitlement_lines_paid", "household_id", "scheme", "from_month", "to_month", "months",
              "monthly_fen", sqlite_where=LIVE, postgresql_where=LIVE),
        # The few reversed lines, found without reading the others.
        Index("ix_entitlement_lines_reversed", "reversed_by_entry_id", sqlite_where=REVERSED,
              postgresql_where=REVERSED),
    )
    __audit__ = False  # written in bulk with the voucher; the voucher and the run are the audit trail

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("entitlement_runs.id"), index=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("entitlement_programmes.id"))
    scheme: Mapped[str] = mapped_column(String(30))
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    payee_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    payee: Mapped[str] = mapped_column(String(60))
    resident_id: Mapped[str] = mapped_column(String(18))  # masked
    from_month: Mapped[date] = mapped_column(Date)
    to_month: Mapped[date] = mapped_column(Date)
    months: Mapped[int] = mapped_column(Integer)
    units: Mapped[int] = mapped_column(Integer)
    monthly_fen: Mapped[int] = mapped_column(BigInteger)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    arrears: Mapped[bool] = mapped_column(Boolean)
    book_id: Mapped[int] = mapped_column(ForeignKey("fund_books.id"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("fund_entries.id"), index=True)
    reference: Mapped[str] = mapped_column(String(60))
    # The facts the run read (its snapshot): a later registry edit leaves these as they were.
    qualified_on: Mapped[date] = mapped_column(Date)
    certificate_no: Mapped[str | None] = mapped_column(String(60))
    child_id: Mapped[int | None] = mapped_column(Integer)
    child_birth: Mapped[date | None] = mapped_column(Date)
    standard_from: Mapped[date] = mapped_column(Date)
    # Set in the reversing entry's own transaction when the books reverse this line's voucher (see below).
    reversed_by_entry_id: Mapped[int | None] = mapped_column(ForeignKey("fund_entries.id"))
    # 长效帮扶 (long_term): the relief case and the scheme version whose monthly amount the line paid.
    relief_case_id: Mapped[int | None] = mapped_column(Integer, index=True)
    scheme_version_id: Mapped[int | None] = mapped_column(Integer)


class EntitlementExit(Base):
    """变更和退出: a household stops being paid under a scheme after ``month``, for ``reason``; found by a run."""

    __tablename__ = "entitlement_exits"
    __table_args__ = (UniqueConstraint("household_id", "scheme", "month", "reason"),)
    __audit__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    scheme: Mapped[str] = mapped_column(String(30))
    month: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(20))
    run_id: Mapped[int] = mapped_column(ForeignKey("entitlement_runs.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EntitlementOutlook(Base):
    """The rule's reading of one household, kept between runs: a due range (open-ended: 9999-12) or an exit.

    Recomputed from the event log whenever the household changes (a later event, a changed person record, a
    new rule version, see ``EntitlementOutlookMark``); a run over unchanged households reads these rows
    instead of folding every household's history again. A cache, never a source: dropping it loses nothing.
    """

    __tablename__ = "entitlement_outlooks"
    __audit__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    scheme: Mapped[str] = mapped_column(String(30))
    kind: Mapped[str] = mapped_column(String(4))  # due | exit
    first_month: Mapped[date] = mapped_column(Date)  # due: first month; exit: the last month paid
    last_month: Mapped[date] = mapped_column(Date)  # due: last month (9999-12-01 open); exit: first day it fails
    units: Mapped[int] = mapped_column(Integer)
    org_id: Mapped[int | None] = mapped_column(Integer)
    qualified_on: Mapped[date | None] = mapped_column(Date)
    certificate_no: Mapped[str | None] = mapped_column(String(60))
    child_id: Mapped[int | None] = mapped_column(Integer)
    child_birth: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(String(20))


class EntitlementOutlookMark(Base):
    """When a household's outlook was computed: from events up to ``max_event_id``, under ``rule_version``."""

    __tablename__ = "entitlement_outlook_marks"
    __audit__ = False

    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), primary_key=True)
    max_event_id: Mapped[int] = mapped_column(Integer)
    rule_version: Mapped[str] = mapped_column(String(60))
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    payee_person_id: Mapped[int | None] = mapped_column(Integer)
    payee: Mapped[str] = mapped_column(String(60))
    resident_id: Mapped[str] = mapped_column(String(18))


LINE_STANDS = EntitlementLine.reversed_by_entry_id.is_(None)
"""In a query: the line's voucher stands (the same condition as the partial indexes, so they serve it)."""


@event.listens_for(Session, "after_flush")
def _reversed_vouchers_unpay_their_lines(session: Session, _ctx: object) -> None:
    """A reversing entry flushed now takes back the lines of the voucher it reverses, in its own transaction:
    their months count as unpaid from then on (reconciliation names them; the next run pays them again)."""
    reversals = [(obj.id, obj.reverses_id) for obj in session.new
                 if isinstance(obj, FundEntry) and obj.reverses_id is not None]
    for reversal_id, reversed_id in reversals:
        session.connection().execute(
            update(EntitlementLine)
            .where(EntitlementLine.entry_id == reversed_id, EntitlementLine.reversed_by_entry_id.is_(None))
            .values(reversed_by_entry_id=reversal_id))
