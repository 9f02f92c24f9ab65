"""A caller of the books in its own process, for the crash test of posting inside a caller's transaction.

It plays another area (relief cases): for each row of its own table it posts the payment (every fifth
as a payment roll) and, in the same transaction (``within``), marks the row paid with the entry's id and
sequence number; it prints
``ACK <row id> <seq>`` (flushed) only after the write has returned.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def pay_roll(session: Session, ledger_dir: Path, book_id: int, row_id: int, households: int) -> service.Posted:
    """A row paid as a batch: one voucher with its roll, so a kill also lands between commit, roll and text."""
    lines = [{"payee": f"户{row_id}-{k}", "resident_id": f"341122********{k % 10000:04d}", "period": "2026-03",
              "amount": "1.00", "reference": f"R{row_id}-{k}"} for k in range(households)]
    return service.post_roll(session, ledger_dir, Scope.everything(), book_id, key=payout_key(row_id),
                             date="2026-03-02", category="general", roll=f"payout-{row_id}", lines=lines,
                             voucher=f"付-{row_id}", within=mark_paid(row_id))


def kill_at(moment: str, nth: int) -> Callable[[str, tuple[Any, ...]], None]:
    """SIGKILL this process at an exact moment after a commit, seen through Python's audit events (the
    writer itself is untouched): ``roll`` just before a roll file is renamed into place, ``text`` just
    before an entry's text is appended to its year file."""
    seen = 0

    def hook(event: str, args: tuple[Any, ...]) -> None:
        nonlocal seen
        hit = ((moment == "roll" and event == "os.rename" and str(args[1]).endswith(".csv"))
               or (moment == "text" and event == "open" and str(args[0]).endswith(".beancount")
                   and str(args[1]).startswith("a")))
        if hit:
            seen += 1
            if seen == nth:
                os.kill(os.getpid(), signal.SIGKILL)
    return hook


def main() -> None:
    db_url, ledger_dir, book_id, start, count = sys.argv[1:6]
    if os.environ.get("KILL_AT"):
        sys.addaudithook(kill_at(os.environ["KILL_AT"], int(os.environ.get("KILL_NTH", "1"))))
    audit.install()
    factory = make_sessionmaker(make_engine(db_url))
    for row_id in range(int(start), int(start) + int(count)):
        with factory() as db:
            if row_id % 5 == 4:
                posted = pay_roll(db, Path(ledger_dir), int(book_id), row_id, 2000)
            else:
                posted = pay(db, Path(ledger_dir), int(book_id), row_id, f"{1 + row_id % 9}.{row_id % 100:02d}")
        print(f"ACK {row_id} {posted.seq}", flush=True)


if __name__ == "__main__":
    main()
