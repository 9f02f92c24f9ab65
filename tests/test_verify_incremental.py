"""Incremental verify on both backends: once a book has checkpoints, a hand edit anywhere in a year file
(first entry, middle, last, or the header) is still named, entries appended since are checked, and a
database row changed behind the writer's back is found; ``--full`` starts from nothing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.auth.scope import Role
from assoc_ledger.core.config import Settings
from assoc_ledger.fund import service, verify
from assoc_ledger.fund.models import FundBook, FundEntry, FundVerifyCheckpoint
from tests.conftest import AuthFor, Tree
from tests.fund_support import EVERYTHING, Books, open_books


def post(b: Books, n: int, start: int = 0) -> None:
    with b.session() as db:
        for i in range(start, start + n):
            service.post_income(db, b.ledger_dir, EVERYTHING, b.county, key=f"in-{i}", date=f"2026-01-{1 + i % 28:02d}",
                                amount=f"{100 + i}.00", source="donation_person", payer=f"捐款人{i}",
                                voucher=f"收-{i}")


def check(b: Books, *, full: bool = False) -> verify.Report:
    with b.session() as db:
        return verify.verify_book(db, b.ledger_dir, db.get_one(FundBook, b.county), full=full)


def checkpoints(b: Books) -> list[tuple[int, int, int]]:
    with b.session() as db:
        return [(c.year, c.size, c.seq) for c in db.scalars(select(FundVerifyCheckpoint).where(
            FundVerifyCheckpoint.book_id == b.county)).all()]


@pytest.fixture
def books(session_factory: sessionmaker[Session], settings: Settings, tree: Tree) -> Books:
    b = open_books(session_factory, settings.ledger_dir, tree.county.id, tree.town_a.id, tree.town_b.id)
    post(b, 9)
    first = check(b)
    assert first.ok, first.problems
    return b


def _year(b: Books) -> Path:
    return b.ledger_dir / f"county-{b.county_org}" / "2026.beancount"


def test_checkpoint_moves_with_the_book_and_appended_entries_are_checked(books: Books) -> None:
    year = _year(books)
    assert checkpoints(books) == [(2026, year.stat().st_size, 9)]
    post(books, 3, start=9)
    again = check(books)
    assert again.ok and again.entries == 12
    assert checkpoints(books) == [(2026, year.stat().st_size, 12)]
    # An edit in what was appended since the checkpoint is found too.
    post(books, 1, start=12)
    year.write_bytes(year.read_bytes().replace("捐款人12".encode(), "捐款人99".encode()))
    report = check(books)
    assert not report.ok and report.first is not None and report.first.seq == 13
    assert checkpoints(books)[0][2] == 12  # a failed verify leaves the checkpoint where it was


@pytest.mark.parametrize(("where", "seq"), [("first", 1), ("middle", 5), ("last", 9), ("header", None)])
def test_a_hand_edit_anywhere_is_named_by_the_incremental_verify(books: Books, where: str, seq: int | None) -> None:
    year = _year(books)
    good = year.read_bytes()
    if where == "header":
        edited = good.replace("请勿手工修改".encode(), "可以手工修改".encode(), 1)
    else:
        # Same length on purpose: only the bytes differ, so no size check can be what finds it.
        edited = good.replace(f"{100 + seq - 1}.00 CNY".encode(), f"{100 + seq - 1}.01 CNY".encode(), 1)
    assert edited != good and len(edited) == len(good)
    year.write_bytes(edited)
    report = check(books)
    assert not report.ok
    assert report.first is not None and report.first.file.endswith("2026.beancount")
    if seq is not None:
        assert report.first.seq == seq
        start = edited.rindex(b"\n2026-", 0, edited.index(f'seq: "{seq}"'.encode())) + 1
        line = edited[:start].count(b"\n") + 1  # the transaction's own line
        assert report.first.line == line, report.problems
    year.write_bytes(good)
    assert check(books).ok


def test_a_row_changed_behind_the_writer_is_found(books: Books) -> None:
    post(books, 2, start=9)
    with books.session() as db:
        db.execute(update(FundEntry).where(FundEntry.book_id == books.county, FundEntry.seq == 10)
                   .values(hash="f" * 64))
        db.commit()
    assert not check(books).ok


def test_full_verify_ignores_checkpoints(books: Books) -> None:
    with books.session() as db:  # a forged checkpoint claims a prefix that was never verified
        db.execute(update(FundVerifyCheckpoint).where(FundVerifyCheckpoint.book_id == books.county)
                   .values(digest="0" * 64))
        db.commit()
    assert not check(books).ok
    full = check(books, full=True)
    assert full.ok and full.entries == 9
    assert check(books).ok  # the full verify wrote true checkpoints


def test_server_verifies_in_a_background_job_with_progress(client: TestClient[Any], tree: Tree,
                                                           auth_for: AuthFor, books: Books) -> None:
    h = auth_for(Role.auditor, tree.county.id)
    url = f"/api/fund/books/{books.county}/verify"
    assert client.get(url + "/status", headers=h).json()["state"] == "none"
    started = client.post(url, params={"full": "true"}, headers=h)
    assert started.status_code in (200, 202)
    job = started.json()["job_id"]
    deadline = time.monotonic() + 60
    while (status := client.get(url + "/status", headers=h).json())["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert (status["job_id"], status["state"], status["full"], status["ok"]) == (job, "done", True, True)
    assert status["checked"] == status["total"] == 9
    year = _year(books)
    year.write_bytes(year.read_bytes().replace(b"101.00 CNY", b"101.50 CNY", 1))
    report = client.get(url, headers=h)  # starts an incremental job and waits for it
    assert report.status_code == 200
    assert report.json()["ok"] is False and "2026.beancount" in report.json()["first"]
    assert report.json()["job_id"] > job
