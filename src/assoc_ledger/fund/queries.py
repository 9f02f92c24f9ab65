"""Reads over a book's index: balances of accounts and of funds, and the filtered journal."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.orm import Session

from assoc_ledger.core.money import from_fen
from assoc_ledger.fund.chart import FUND_ZH, Fund
from assoc_ledger.fund.models import FundAccount, FundEntry, FundMonthTotal, FundPosting


def book_accounts(session: Session, book_id: int) -> list[FundAccount]:
    return list(session.scalars(select(FundAccount).where(FundAccount.book_id == book_id)
                                .order_by(FundAccount.id)).all())


def balance_of(session: Session, book_id: int, account: str, on: dt.date | None = None) -> Decimal:
    """Balance of an account (and its sub-accounts) at the end of a date."""
    names = list(session.scalars(select(FundAccount.name).where(
        FundAccount.book_id == book_id,
        or_(FundAccount.name == account, FundAccount.name.startswith(account + ":", autoescape=True)))).all())
    return from_fen(sum(_fen_at(session, book_id, names, on).values()))


def balances(session: Session, book_id: int, on: dt.date | None = None) -> list[tuple[FundAccount, Decimal]]:
    accounts = book_accounts(session, book_id)
    if on is None:  # the writer's running balance is every posting so far
        return [(a, from_fen(a.balance_fen)) for a in accounts]
    sums = _fen_at(session, book_id, [a.name for a in accounts], on)
    return [(a, from_fen(sums.get(a.name, 0))) for a in accounts]


def _fen_at(session: Session, book_id: int, names: list[str], on: dt.date | None) -> dict[str, int]:
    """Fen per account at the end of ``on``: month totals before its month + that month's postings up to it.

    Both reads go through indexes by (book, account, month/date), so the cost is the number of accounts
    and of one month's postings, whatever the length of the book.
    """
    if not names:
        return {}
    if on is None:
        return dict(session.execute(select(FundAccount.name, FundAccount.balance_fen).where(
            FundAccount.book_id == book_id, FundAccount.name.in_(names))).tuples().all())
    month = on.replace(day=1)
    before = select(FundMonthTotal.account, func.sum(FundMonthTotal.amount_fen)).where(
        FundMonthTotal.book_id == book_id, FundMonthTotal.account.in_(names), FundMonthTotal.month < month
    ).group_by(FundMonthTotal.account)
    within = select(FundPosting.account, func.sum(FundPosting.amount_fen)).where(
        FundPosting.book_id == book_id, FundPosting.account.in_(names), FundPosting.date >= month,
        FundPosting.date <= on).group_by(FundPosting.account)
    sums: dict[str, int] = {}
    for stmt in (before, within):
        for name, fen in session.execute(stmt).tuples():
            sums[name] = sums.get(name, 0) + int(fen or 0)
    return sums


def rebuild_month_totals(session: Session, book_id: int) -> int:
    """Recompute a book's month totals from its postings (for books whose rows were loaded in bulk)."""
    session.execute(delete(FundMonthTotal).where(FundMonthTotal.book_id == book_id))
    totals: dict[tuple[str, dt.date], int] = {}
    rows = session.execute(select(FundPosting.account, FundPosting.date, FundPosting.amount_fen)
                           .where(FundPosting.book_id == book_id).execution_options(yield_per=10000)).tuples()
    for account, day, fen in rows:
        key = (account, day.replace(day=1))
        totals[key] = totals.get(key, 0) + fen
    if totals:
        session.execute(insert(FundMonthTotal), [{"book_id": book_id, "account": a, "month": m, "amount_fen": f}
                                                 for (a, m), f in sorted(totals.items())])
    return len(totals)


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
