"""Reads over a book's index: balances of accounts and of funds, and the filtered journal."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from assoc_ledger.core.money import from_fen
from assoc_ledger.fund.chart import FUND_ZH, Fund
from assoc_ledger.fund.models import FundAccount, FundEntry, FundPosting


def book_accounts(session: Session, book_id: int) -> list[FundAccount]:
    return list(session.scalars(select(FundAccount).where(FundAccount.book_id == book_id)
                                .order_by(FundAccount.id)).all())


def balance_of(session: Session, book_id: int, account: str, on: dt.date | None = None) -> Decimal:
    """Balance of an account (and its sub-accounts) at the end of a date."""
    stmt = select(func.coalesce(func.sum(FundPosting.amount_fen), 0)).where(
        FundPosting.book_id == book_id,
        or_(FundPosting.account == account, FundPosting.account.startswith(account + ":", autoescape=True)))
    if on is not None:
        stmt = stmt.where(FundPosting.date <= on)
    return from_fen(int(session.scalar(stmt) or 0))


def balances(session: Session, book_id: int, on: dt.date | None = None) -> list[tuple[FundAccount, Decimal]]:
    stmt = select(FundPosting.account, func.sum(FundPosting.amount_fen)).where(FundPosting.book_id == book_id)
    if on is not None:
        stmt = stmt.where(FundPosting.date <= on)
    sums = dict(session.execute(stmt.group_by(FundPosting.account)).tuples().all())
    return [(a, from_fen(int(sums.get(a.name, 0)))) for a in book_accounts(session, book_id)]


def fund_balances(session: Session, book_id: int, on: dt.date | None = None) -> list[tuple[str, str, Decimal]]:
    """Restricted and unrestricted money side by side: (fund, Chinese name, bank + cash balance)."""
    return funds_of(balances(session, book_id, on))


def funds_of(account_balances: Iterable[tuple[FundAccount, Decimal]]) -> list[tuple[str, str, Decimal]]:
    """The fund totals of account balances already read (see ``balances``)."""
    totals: dict[str, Decimal] = {}
    for account, amount in account_balances:
        if account.kind == "asset" and account.fund:
            totals[account.fund] = totals.get(account.fund, Decimal(0)) + amount
    return [(f.value, FUND_ZH[f], totals.get(f.value, Decimal("0.00"))) for f in Fund]


@dataclass(frozen=True)
class JournalFilter:
    account: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    category: str | None = None
    text: str | None = None


def journal(session: Session, book_id: int, flt: JournalFilter, *, limit: int = 100,
            offset: int = 0) -> tuple[list[tuple[FundEntry, list[FundPosting]]], int]:
    stmt = select(FundEntry).where(FundEntry.book_id == book_id)
    if flt.account:
        sub = select(FundPosting.entry_id).where(
            FundPosting.book_id == book_id,
            or_(FundPosting.account == flt.account,
                FundPosting.account.startswith(flt.account + ":", autoescape=True)))
        stmt = stmt.where(FundEntry.id.in_(sub))
    if flt.date_from:
        stmt = stmt.where(FundEntry.date >= flt.date_from)
    if flt.date_to:
        stmt = stmt.where(FundEntry.date <= flt.date_to)
    if flt.category:
        stmt = stmt.where(FundEntry.category == flt.category)
    if flt.text:
        stmt = stmt.where(or_(FundEntry.narration.contains(flt.text, autoescape=True),
                              FundEntry.payee.contains(flt.text, autoescape=True),
                              FundEntry.voucher.contains(flt.text, autoescape=True)))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = list(session.scalars(stmt.order_by(FundEntry.date, FundEntry.seq).limit(limit).offset(offset)).all())
    if not rows:
        return [], total
    legs = session.scalars(select(FundPosting).where(FundPosting.entry_id.in_([r.id for r in rows]))
                           .order_by(FundPosting.id)).all()
    by_entry: dict[int, list[FundPosting]] = {}
    for leg in legs:
        by_entry.setdefault(leg.entry_id, []).append(leg)
    return [(r, by_entry.get(r.id, [])) for r in rows], total
