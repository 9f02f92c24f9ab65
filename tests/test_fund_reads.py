"""Reads that do not grow with the book, on both backends: balances at any date from month totals agree
to the fen with a sum over every posting; journal pages by cursor, and the last page, list exactly what
offset pages list; text search through the index finds Chinese of any length, kept in the entry's commit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.auth.scope import Role
from assoc_ledger.core.config import Settings
from assoc_ledger.core.money import from_fen
from assoc_ledger.fund import queries, service
from assoc_ledger.fund.models import FundBook, FundMonthTotal, FundPosting
from tests.conftest import AuthFor, Tree
from tests.fund_support import EVERYTHING, Books, open_books


@pytest.fixture
def books(session_factory: sessionmaker[Session], settings: Settings, tree: Tree) -> Books:
    b = open_books(session_factory, settings.ledger_dir, tree.county.id, tree.town_a.id, tree.town_b.id)
    with b.session() as db:
        # Three months, out of date order on purpose (a late receipt dated back), a transfer and a reversal.
        for i, day in enumerate(["2026-01-05", "2026-01-31", "2026-02-01", "2026-01-20", "2026-03-15"]):
            service.post_income(db, b.ledger_dir, EVERYTHING, b.county, key=f"in-{i}", date=day,
                                amount=f"{1000 + i}.0{i}", source="maintenance_fee" if i % 2 else "budget",
                                payer="县财政局" if i % 2 else "宏达建材有限公司", voucher=f"收-{i}")
        service.post_payment(db, b.ledger_dir, EVERYTHING, b.county, key="pay-1", date="2026-02-10",
                             amount="333.33", category="visits", payee="王某某户", voucher="付-1")
        service.post_transfer(db, b.ledger_dir, EVERYTHING, b.county, b.town_a, key="tr-1", date="2026-02-20",
                              amount="500.00", voucher="拨-1")
        service.reverse(db, b.ledger_dir, EVERYTHING, b.county, 6, key="rv-1", date="2026-03-01",
                        reason="重复支付", voucher="冲-1")
    return b


def _summed(db: Session, book_id: int, account: str, on: dt.date) -> Decimal:
    """The definition a balance must meet: every posting of the account and its sub-accounts up to ``on``."""
    fen = db.scalar(select(func.coalesce(func.sum(FundPosting.amount_fen), 0)).where(
        FundPosting.book_id == book_id, FundPosting.date <= on,
        (FundPosting.account == account) | FundPosting.account.startswith(account + ":")))
    return from_fen(int(fen or 0))


def test_balances_at_every_date_equal_the_sum_of_postings(books: Books) -> None:
    days = [dt.date(2025, 12, 31) + dt.timedelta(days=n) for n in range(0, 100, 3)]
    days += [dt.date(2026, 1, 31), dt.date(2026, 2, 1), dt.date(2026, 2, 28), dt.date(2026, 3, 1)]
    with books.session() as db:
        for book_id in (books.county, books.town_a):
            for on in days:
                for account, amount in service.balances(db, book_id, on):
                    assert amount == _summed(db, book_id, account.name, on), (account.name, on)
                for prefix in ("Assets", "Assets:Bank", "Income", "Expenses:Relief"):
                    assert service.balance_of(db, book_id, prefix, on) == _summed(db, book_id, prefix, on)
            now = service.balances(db, book_id)
            assert [(a.name, v) for a, v in now] == [(a.name, _summed(db, book_id, a.name, dt.date(9999, 1, 1)))
                                                     for a, _ in now]
        on = dt.date(2026, 2, 15)
        funds = {f: v for f, _, v in service.fund_balances(db, books.county, on)}
        assert funds["JiangLiFuZhu"] == (_summed(db, books.county, "Assets:Bank:Restricted", on)
                                         + _summed(db, books.county, "Assets:Cash:Restricted", on)) > 0


def test_month_totals_rebuilt_from_postings_equal_the_writers(books: Books) -> None:
    with books.session() as db:
        def totals() -> list[tuple[Any, ...]]:
            return [tuple(r) for r in db.execute(
                select(FundMonthTotal.account, FundMonthTotal.month, FundMonthTotal.amount_fen)
                .where(FundMonthTotal.book_id == books.county)
                .order_by(FundMonthTotal.account, FundMonthTotal.month)).all()]

        kept = totals()
        assert {m for _, m, _ in kept} == {dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)}
        queries.rebuild_month_totals(db, books.county)
        db.flush()
        assert totals() == kept
        db.rollback()


def _all_pages(db: Session, book_id: int, flt: queries.JournalFilter, limit: int) -> list[int]:
    seqs: list[int] = []
    page = queries.journal_page(db, book_id, flt, limit=limit)
    while True:
        seqs += [e.seq for e, _ in page.rows]
        if page.next is None:
            return seqs
        page = queries.journal_page(db, book_id, flt, limit=limit, after=page.next)


def test_cursor_pages_list_what_offset_lists(books: Books) -> None:
    with books.session() as db:
        everything, total = service.journal(db, books.county, queries.JournalFilter(), limit=1000)
        in_order = [e.seq for e, _ in everything]
        assert total == len(in_order) == 8
        assert in_order == [1, 4, 2, 3, 6, 7, 8, 5]  # (date, seq): the back-dated receipt sits in January
        for limit in (1, 2, 3, 8, 20):
            assert _all_pages(db, books.county, queries.JournalFilter(), limit) == in_order
        last = queries.journal_page(db, books.county, queries.JournalFilter(), limit=3, last=True)
        assert [e.seq for e, _ in last.rows] == in_order[-3:]
        assert (last.next, last.offset, last.total) == (None, 5, 8)
        back: list[int] = []
        page = last
        while True:
            back = [e.seq for e, _ in page.rows] + back
            if page.prev is None:
                break
            page = queries.journal_page(db, books.county, queries.JournalFilter(), limit=3, before=page.prev)
        assert back == in_order
        january = queries.JournalFilter(date_to=dt.date(2026, 1, 31))
        assert _all_pages(db, books.county, january, 2) == [1, 4, 2]
        assert queries.journal_page(db, books.county, january, limit=2, last=True).total == 3


@pytest.mark.parametrize(("text", "expected"), [
    ("宏达建材", [1, 3, 5]),   # Chinese, several characters: a phrase of bigrams in the index
    ("建材有限公司", [1, 3, 5]),
    ("县财政", [4, 2]),
    ("财政", [1, 4, 2, 3, 5]),  # two characters: one bigram in the index (财政拨款收入 too)
    ("收-", [1, 4, 2, 3, 5]),
    ("冲", [8]),
    ('"收', []),                # quotes in the text are text, not search syntax
    ("王某某户", [6, 8]),
    ("拨-1", [7]),
])
def test_search_finds_the_entries_containing_the_text(books: Books, text: str, expected: list[int]) -> None:
    with books.session() as db:
        rows, total = service.journal(db, books.county, queries.JournalFilter(text=text))
        assert [e.seq for e, _ in rows] == expected
        assert total == len(expected)


def test_search_index_is_kept_in_the_entrys_commit(books: Books) -> None:
    with books.session() as db:
        assert service.journal(db, books.county, queries.JournalFilter(text="慈善总会"))[1] == 0
        service.post_income(db, books.ledger_dir, EVERYTHING, books.county, key="new", date="2026-03-20",
                            amount="1.00", source="donation_company", payer="县慈善总会", voucher="收-new")
    with books.session() as db:
        rows, _ = service.journal(db, books.county, queries.JournalFilter(text="慈善总会"))
        assert [e.voucher for e, _ in rows] == ["收-new"]
        book = db.get(FundBook, books.county)
        assert book is not None and book.next_seq == 10


def test_journal_api_pages_by_cursor_and_refuses_bad_cursors(client: TestClient[Any], tree: Tree,
                                                             auth_for: AuthFor, books: Books) -> None:
    h = auth_for(Role.auditor, tree.county.id)
    url = f"/api/fund/books/{books.county}/journal"
    first = client.get(url, params={"limit": 3}, headers=h).json()
    assert [e["seq"] for e in first["items"]] == [1, 4, 2]
    assert (first["total"], first["offset"], first["prev"], first["next"]) == (8, 0, None, "2026-01-31:2")
    second = client.get(url, params={"limit": 3, "after": first["next"]}, headers=h).json()
    assert [e["seq"] for e in second["items"]] == [3, 6, 7]
    assert second["offset"] is None and second["prev"] == "2026-02-01:3"
    last = client.get(url, params={"limit": 3, "last": "true"}, headers=h).json()
    assert [e["seq"] for e in last["items"]] == [7, 8, 5]
    assert (last["offset"], last["next"], last["prev"]) == (5, None, "2026-02-20:7")
    before = client.get(url, params={"limit": 3, "before": last["prev"]}, headers=h).json()
    assert [e["seq"] for e in before["items"]] == [2, 3, 6]
    for bad in ({"after": "昨天:1"}, {"before": "2026-01-01"}, {"after": "2026-01-01:1", "last": "true"},
                {"after": "2026-01-01:1", "offset": 2}):
        refused = client.get(url, params=bad, headers=h)
        assert refused.status_code == 400, (bad, refused.text)
    found = client.get(url, params={"q": "宏达建材", "last": "true", "limit": 2}, headers=h).json()
    assert [e["seq"] for e in found["items"]] == [3, 5] and found["total"] == 3
