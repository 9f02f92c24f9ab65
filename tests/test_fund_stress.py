"""Many writer processes at once, and a writer killed with SIGKILL at random moments: every acknowledged
entry is in the books exactly once, the hash chain holds, bean-check is clean, balances add up."""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.core.db import make_engine, make_sessionmaker
from assoc_ledger.core.money import from_fen
from assoc_ledger.fund import service, verify
from assoc_ledger.fund.models import FundAccount, FundBook, FundEntry, FundPosting
from tests.conftest import Tree
from tests.crash import preloaded, run_and_kill
from tests.fund_support import Books, bean_check, open_books
from tests.fund_writer import amount_for

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture
def sqlite_books(sqlite_url: str, tmp_path: Path) -> Books:
    engine = make_engine(sqlite_url)
    factory = make_sessionmaker(engine)
    with factory() as session:
        tree = Tree(session)
        session.commit()
    return open_books(factory, tmp_path / "ledgers", tree.county.id, tree.town_a.id, tree.town_b.id)


def _writer(url: str, books: Books, worker: int, start: int, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.fund_writer", url, str(books.ledger_dir),
                             str(books.county), str(worker), str(start), str(count)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _keys_in_file(books: Books, book: FundBook) -> Counter[str]:
    text = (books.ledger_dir / book.slug / "2026.beancount").read_text()
    return Counter(line.split('"')[1] for line in text.splitlines() if line.startswith('  key: "'))


def _check_books(books: Books, factory: sessionmaker[Session], acked: set[str],
                 repairs: list[object] | None = None) -> FundBook:
    with factory() as db:
        fixed = service.recover_all(db, books.ledger_dir)  # what start-up does
        if repairs is not None:
            repairs.extend(fixed)
        book = db.get(FundBook, books.county)
        assert book is not None
        report = verify.verify_book(db, books.ledger_dir, book)
        assert report.ok, [str(p) for p in report.problems[:5]]
        in_file = _keys_in_file(books, book)
        assert all(in_file[k] == 1 for k in acked), [k for k in acked if in_file[k] != 1][:5]
        assert max(in_file.values(), default=1) == 1
        db_keys = Counter(db.scalars(select(FundEntry.idem_key).where(FundEntry.book_id == book.id)).all())
        assert db_keys == in_file
        return book


def test_eight_processes_post_four_thousand_entries(sqlite_books: Books, sqlite_url: str) -> None:
    books = sqlite_books
    procs = [_writer(sqlite_url, books, w, 0, 500) for w in range(8)]
    acked: set[str] = set()
    for w, proc in enumerate(procs):
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        acked |= {f"w{w}-{line.split()[1]}" for line in out.splitlines() if line.startswith("ACK")}
    assert len(acked) == 4000
    book = _check_books(books, books.factory, acked)
    assert book.next_seq == 4001
    assert bean_check(books.ledger_dir / book.slug / "main.beancount").returncode == 0
    expected_income = sum(Decimal(amount_for(w, i)) for w in range(8) for i in range(500) if i % 4 != 3)
    with books.factory() as db:
        sums = dict(db.execute(select(FundPosting.account, func.sum(FundPosting.amount_fen))
                               .where(FundPosting.book_id == book.id).group_by(FundPosting.account)).tuples().all())
        running = dict(db.execute(select(FundAccount.name, FundAccount.balance_fen)
                                  .where(FundAccount.book_id == book.id)).tuples().all())
    assert from_fen(-sums["Income:Donation:Person"]) == expected_income
    assert from_fen(sums["Expenses:Relief:Visits"]) == Decimal(8 * 125)
    assert from_fen(sums["Assets:Bank:General"]) == expected_income - 8 * 125
    assert {a: f for a, f in running.items() if f} == {a: int(f) for a, f in sums.items() if f}


def test_writer_killed_fifty_times(sqlite_books: Books, sqlite_url: str) -> None:
    books = sqlite_books
    rng = random.Random(20260401)
    acked: set[str] = set()
    next_index = 0
    kills = 0
    repairs: list[object] = []
    with preloaded("tests.fund_writer") as writers:
        while kills < 50:
            run = run_and_kill(writers, [sqlite_url, str(books.ledger_dir), str(books.county), "0", str(next_index),
                                         "10000"], rng, kill_at=None, after=(0.0, 0.25))
            kills += 1
            acked |= {f"w0-{i}" for i, _ in run.acks}
            # A restarted writer resumes after the last acknowledged entry; an entry committed but not
            # acknowledged is posted again with the same key and must not appear twice.
            next_index = max((int(k.split("-")[1]) for k in acked), default=-1) + 1
            _check_books(books, books.factory, acked, repairs)
    print(f"{kills} kills, {len(acked)} acknowledged, {len(repairs)} file repairs at restart")
    assert len(acked) > 50
    book = _check_books(books, books.factory, acked)
    assert bean_check(books.ledger_dir / book.slug / "main.beancount").returncode == 0
