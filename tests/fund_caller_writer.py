"""A caller of the books in its own process, for the crash test of posting inside a caller's transaction.

It plays another area (relief cases): for each row of its own table it posts the payment and, in the
same transaction (``within``), marks the row paid with the entry's id and sequence number; it prints
``ACK <row id> <seq>`` (flushed) only after the write has returned.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, update
from sqlalchemy.orm import Session

from assoc_ledger.auth import audit
from assoc_ledger.auth.scope import Scope
from assoc_ledger.core.db import make_engine, make_sessionmaker
from assoc_ledger.core.errors import Conflict
from assoc_ledger.fund import service
from assoc_ledger.fund.models import FundEntry

# The caller's own table (a stand-in for relief cases): created by the test on the same database.
CALLER = MetaData()
PAYOUTS = Table("caller_payouts", CALLER,
                Column("id", Integer, primary_key=True),
                Column("payee", String(100), nullable=False),
                Column("amount_fen", BigInteger, nullable=False),
                Column("entry_id", Integer, nullable=True),
                Column("seq", Integer, nullable=True))


def payout_key(row_id: int) -> str:
    return f"payout-{row_id}"


def mark_paid(row_id: int) -> Callable[[Session, list[FundEntry]], None]:
    """The caller's half of the transaction: refuse a row already paid, else record the entry on it."""
    def within(session: Session, entries: list[FundEntry]) -> None:
        entry = entries[0]
        done = session.execute(update(PAYOUTS).where(PAYOUTS.c.id == row_id, PAYOUTS.c.entry_id.is_(None))
                               .values(entry_id=entry.id, seq=entry.seq))
        if done.rowcount != 1:
            raise Conflict(f"支付记录 {row_id} 已支付", field="row_id")
    return within


def pay(session: Session, ledger_dir: Path, book_id: int, row_id: int, amount: str,
        within: Callable[[Session, list[FundEntry]], None] | None = None) -> service.Posted:
    return service.post_payment(session, ledger_dir, Scope.everything(), book_id, key=payout_key(row_id),
                                date="2026-03-02", amount=amount, category="general", payee=f"帮扶对象{row_id}",
                                voucher=f"付-{row_id}", within=within or mark_paid(row_id))


def main() -> None:
    db_url, ledger_dir, book_id, start, count = sys.argv[1:6]
    audit.install()
    factory = make_sessionmaker(make_engine(db_url))
    for row_id in range(int(start), int(start) + int(count)):
        with factory() as db:
            posted = pay(db, Path(ledger_dir), int(book_id), row_id, f"{1 + row_id % 9}.{row_id % 100:02d}")
        print(f"ACK {row_id} {posted.seq}", flush=True)


if __name__ == "__main__":
    main()
