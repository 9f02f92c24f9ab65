"""Relief tables: schemes as versioned data, cases, their append-only steps and their documents.

A scheme (``relief_schemes``) names what is paid and who runs it; each change of its standard is a new
``relief_scheme_versions`` row from a date, and a case keeps the version it was registered under. A case's
history is ``relief_case_steps``: one row per step (who, when, comment), appended and never changed
(``services`` refuses any update or delete of a step at flush time).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from assoc_ledger.core.db import Base, UTCDateTime, utcnow


class Scheme(Base):
    """救助项目: a named scheme of one of the ten relief categories, run by one fund-keeping organisation."""

    __tablename__ = "relief_schemes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(30), index=True)  # fund.chart.Category (one of the ten)
    # The organisation that runs the scheme and whose fund book pays it (county, township, town, street).
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(100))


class SchemeVersion(Base):
    """One standard of a scheme, in force from ``effective_from`` until the next version's date (or ``ends_on``)."""

    __tablename__ = "relief_scheme_versions"
    __table_args__ = (UniqueConstraint("scheme_id", "version"), UniqueConstraint("scheme_id", "effective_from"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scheme_id: Mapped[int] = mapped_column(ForeignKey("relief_schemes.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)  # last day the scheme takes cases, if it ends
    fund: Mapped[str] = mapped_column(String(40))  # fund.chart.Fund: General or a restricted fund
    amount_rule: Mapped[str] = mapped_column(String(10))  # fixed | ceiling | monthly (rules.AmountRule)
    # Fixed amount, ceiling, or amount per month, in fen; None = read from the dated standards (fund.standards).
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    standard: Mapped[str | None] = mapped_column(String(40))  # fund.standards.AidScheme when amount_fen is None
    months: Mapped[int | None] = mapped_column(Integer)  # monthly rule: the longest period a case may cover
    household_kinds: Mapped[list[str]] = mapped_column(JSON, default=list)  # households.rules.KindCode; [] = any
    documents: Mapped[list[str]] = mapped_column(JSON, default=list)  # document types required at review
    review_steps: Mapped[list[str]] = mapped_column(JSON, default=list)  # ["review", "approve"] or ["approve"]
    review_due_days: Mapped[int | None] = mapped_column(Integer)  # emergency: review within N days of payment
    yearly_limit: Mapped[int | None] = mapped_column(Integer)  # one-off cases per household per calendar year
    basis: Mapped[str | None] = mapped_column(String(300))  # the document that fixed the standard (文件依据)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(100))


class ReliefCase(Base):
    """救助案件: one application of one household under one scheme version; ``state`` is the fold of its steps."""

    __tablename__ = "relief_cases"
    __table_args__ = (Index("ix_relief_cases_scheme_household_date", "scheme_id", "household_id", "case_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scheme_id: Mapped[int] = mapped_column(ForeignKey("relief_schemes.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("relief_scheme_versions.id"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    # The household's organisation on the case date: what the scope checks read.
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    category: Mapped[str] = mapped_column(String(30), index=True)
    case_date: Mapped[date] = mapped_column(Date)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    months: Mapped[int | None] = mapped_column(Integer)
    # 长效帮扶 paid by the month (relief.rules.paid_monthly): the first and last month paid (first days of the
    # months). The end is the planned end until the case is closed, then the month it was closed if earlier.
    start_month: Mapped[date | None] = mapped_column(Date)
    end_month: Mapped[date | None] = mapped_column(Date)
    payee: Mapped[str] = mapped_column(String(100))
    summary: Mapped[str] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(20), index=True)
    recorded_by_id: Mapped[int | None] = mapped_column(Integer)
    reviewed_by_id: Mapped[int | None] = mapped_column(Integer)
    approved_by_id: Mapped[int | None] = mapped_column(Integer)
    reviewed_on: Mapped[date | None] = mapped_column(Date)
    review_due_on: Mapped[date | None] = mapped_column(Date)  # emergency: paid first, reviewed by this date
    fund_entry_id: Mapped[int | None] = mapped_column(ForeignKey("fund_entries.id"), unique=True)
    paid_on: Mapped[date | None] = mapped_column(Date)
    pay_attempt: Mapped[int] = mapped_column(Integer, default=0)  # raised by each reversal: the next payment's key
    pay_problem: Mapped[str | None] = mapped_column(String(500))  # why the fund could not pay (case stays approved)
    idem_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CaseStep(Base):
    """One step of a case, appended and never changed: who did what, when, with what comment."""

    __tablename__ = "relief_case_steps"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("relief_cases.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(Integer)
    username: Mapped[str | None] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    step_date: Mapped[date] = mapped_column(Date)  # the business date of the step (e.g. the payment date)
    comment: Mapped[str | None] = mapped_column(String(500))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CaseDocument(Base):
    """A document of a case (申请书, 困难证明 …), uploaded with the visits' rules and stored by content hash."""

    __tablename__ = "relief_case_documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("relief_cases.id"), index=True)
    doc_type: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(30))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    uploaded_by: Mapped[str | None] = mapped_column(String(100))
