"""Journal text search through the unigram/bigram index, on both backends: for Chinese of one to five
characters, mixed ASCII and a text found nowhere it lists exactly what ``LIKE '%q%'`` over narration, payee
and voucher lists; PostgreSQL answers from its GIN index; a text search counts its total only up to a cap."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from litestar.testing import TestClient
from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.auth.scope import Role
from assoc_ledger.core.config import Settings
from assoc_ledger.core.migrate import alembic_config, upgrade
from assoc_ledger.fund import queries, service
from assoc_ledger.fund.models import FundEntry
from tests.conftest import AuthFor, Tree
from tests.fund_support import EVERYTHING, Books, open_books

PAYERS = ["县财政局", "宏达建材有限公司", "张三", "县慈善总会", "财政所", "李四捐款", "王某某户", "Ab-财政"]
PAYEES = ["王某某户", "走访对象12", "走访对象123", "县医院", "赵六", "计生特殊家庭", "政府采购中心"]
NARRATIONS = ["财政拨款收入", "走访慰问计生特殊家庭", "捐款", "政局通报", "县财政局拨付奖励扶助金", "付-12 走访",
              "慰问", "特别扶助金发放"]


@pytest.fixture
def sample(session_factory: sessionmaker[Session], settings: Settings, tree: Tree) -> Books:
    """A few dozen receipts and payments through the writer, with texts that overlap the way real ones do
    (财政 in 县财政局 and 财政拨款, 政局 on its own, 走访对象12 inside 走访对象123, vouchers 付-1 … 付-12x)."""
    b = open_books(session_factory, settings.ledger_dir, tree.county.id, tree.town_a.id, tree.town_b.id)
    with b.session() as db:
        for i in range(24):
            service.post_income(db, b.ledger_dir, EVERYTHING, b.county, key=f"in-{i}",
                                date=f"2026-01-{1 + i:02d}", amount=f"{1000 + i}.00", source="budget",
                                payer=PAYERS[i % len(PAYERS)], voucher=f"收-{i}",
                                narration=NARRATIONS[i % len(NARRATIONS)])
        for i in range(16):
            service.post_payment(db, b.ledger_dir, EVERYTHING, b.county, key=f"pay-{i}",
                                 date=f"2026-02-{1 + i:02d}", amount="10.00", category="visits",
                                 payee=PAYEES[i % len(PAYEES)], voucher=f"付-{i * 7}",
                                 narration=NARRATIONS[(i + 3) % len(NARRATIONS)])
        # Another book's entries share the index and must never show up in this book's search.
        service.post_income(db, b.ledger_dir, EVERYTHING, b.town_a, key="other", date="2026-01-02",
                            amount="5.00", source="budget", payer="县财政局", voucher="付-12")
    return b


QUERIES = ["财", "冲", "政", "财政", "走访", "捐款", "政局", "财政局", "县财政局拨", "走访对象12", "付-12", "付-1",
           "-", "ab-财", "对象123", "慈善总会慰问", "不存在的字"]


@pytest.fixture(params=["rare", "common"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways a search reads SQLite's index: a rare text's ids sorted, or (as for 县财政局 in a big book)
    the journal walked in chunks, here of three rows so that pages cross chunks."""
    if request.param == "common":
        monkeypatch.setattr(queries, "SEARCH_FEW", 0)
        monkeypatch.setattr(queries, "WALK_CHUNK", 3)
    return str(request.param)


@pytest.mark.parametrize("query", QUERIES)
def test_search_lists_what_like_lists(sample: Books, way: str, query: str) -> None:
    with sample.session() as db:
        like = or_(*(col.contains(query, autoescape=True) for col in
                     (FundEntry.narration, FundEntry.payee, FundEntry.voucher)))
        # Search is case-insensitive on both backends; the LIKE it is compared with is made so too.
        if db.get_bind().dialect.name == "postgresql":
            like = or_(*(col.icontains(query, autoescape=True) for col in
                         (FundEntry.narration, FundEntry.payee, FundEntry.voucher)))
        expected = list(db.scalars(select(FundEntry.seq).where(FundEntry.book_id == sample.county, like)
                                   .order_by(FundEntry.date, FundEntry.seq)).all())
        flt = queries.JournalFilter(text=query)
        rows, total = service.journal(db, sample.county, flt, limit=500)
        assert [e.seq for e, _ in rows] == expected
        assert total == len(expected)
        paged: list[int] = []  # forwards by cursor, backwards from the last page, and by offset
        page = queries.journal_page(db, sample.county, flt, limit=2)
        while True:
            paged += [e.seq for e, _ in page.rows]
            if page.next is None:
                break
            page = queries.journal_page(db, sample.county, flt, limit=2, after=page.next)
        back: list[int] = []
        page = queries.journal_page(db, sample.county, flt, limit=2, last=True)
        while True:
            back = [e.seq for e, _ in page.rows] + back
            if page.prev is None:
                break
            page = queries.journal_page(db, sample.county, flt, limit=2, before=page.prev)
        by_offset = queries.journal_page(db, sample.county, flt, limit=2, offset=3).rows
        assert paged == back == expected
        assert [e.seq for e, _ in by_offset] == expected[3:5]
    if query in ("不存在的字", "慈善总会慰问"):  # found in no single field
        assert expected == []
    elif query != "冲":
        assert expected, "the sample should contain this text"


def test_short_chinese_is_answered_from_the_index(db_url: str, sample: Books) -> None:
    with sample.session() as db:
        stmt = select(FundEntry.id).where(queries._text_matches(db, "财政"))
        sql = str(stmt.compile(db.get_bind(), compile_kwargs={"literal_binds": True}))
        if db_url.startswith("sqlite"):
            plan = "\n".join(str(row) for row in db.execute(text("EXPLAIN QUERY PLAN " + sql)).all())
            assert "fund_entries_fts" in plan, plan
            return
        # A few dozen rows are cheaper to scan, by the table or by the book's index: the planner is told
        # not to, so the plan shows whether the search expression is the one the GIN index serves.
        db.execute(text("SET enable_seqscan = off"))
        db.execute(text("SET enable_indexscan = off"))
        plan = "\n".join(db.execute(text("EXPLAIN " + sql)).scalars())
        assert "ix_fund_entries_search" in plan, plan


def test_text_search_counts_up_to_the_cap(monkeypatch: pytest.MonkeyPatch, sample: Books, client: TestClient[Any],
                                          tree: Tree, auth_for: AuthFor) -> None:
    monkeypatch.setattr(queries, "SEARCH_TOTAL_CAP", 5)
    with sample.session() as db:
        page = queries.journal_page(db, sample.county, queries.JournalFilter(text="财政"), limit=3)
        assert (page.total, page.total_exact) == (5, False)
        assert len(page.rows) == 3 and page.next is not None
        last = queries.journal_page(db, sample.county, queries.JournalFilter(text="财政"), limit=3, last=True)
        assert last.offset is None  # its place is unknown when the total is not
        few = queries.journal_page(db, sample.county, queries.JournalFilter(text="走访对象123"), limit=3)
        assert few.total_exact and few.total == 2
        everything = queries.journal_page(db, sample.county, queries.JournalFilter(), limit=3)
        assert (everything.total, everything.total_exact) == (40, True)
        category = queries.journal_page(db, sample.county, queries.JournalFilter(category="visits"), limit=3)
        assert (category.total, category.total_exact) == (16, True)
    h = auth_for(Role.auditor, tree.county.id)
    api = client.get(f"/api/fund/books/{sample.county}/journal", params={"q": "财政", "limit": 3}, headers=h).json()
    assert (api["total"], api["total_exact"]) == (5, False)
    plain = client.get(f"/api/fund/books/{sample.county}/journal", params={"limit": 3}, headers=h).json()
    assert (plain["total"], plain["total_exact"]) == (40, True)
    html = client.get(f"/fund/books/{sample.county}", params={"q": "财政"}, headers=h).text
    assert "共 5+ 笔" in html


def test_migration_indexes_the_entries_already_there(db_url: str, sample: Books) -> None:
    probes = ("财政", "走访对象12", "付-1", "慰")
    with sample.session() as db:
        before = {q: [e.seq for e, _ in service.journal(db, sample.county, queries.JournalFilter(text=q))[0]]
                  for q in probes}
    command.downgrade(alembic_config(db_url), "0006_fund_reads")
    upgrade(db_url)
    with sample.session() as db:
        after = {q: [e.seq for e, _ in service.journal(db, sample.county, queries.JournalFilter(text=q))[0]]
                 for q in probes}
    assert after == before and all(before.values())
