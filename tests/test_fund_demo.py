"""The demo year: every income source, every category, transfers, one reversal, month closes; bean-check
and Fava open every book with 0 errors; a second run posts nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from fava.core import FavaLedger
from sqlalchemy import func, select

from assoc_ledger.core.config import Settings
from assoc_ledger.core.db import make_engine, make_sessionmaker
from assoc_ledger.fund import service
from assoc_ledger.fund.chart import SOURCES, Category, Source
from assoc_ledger.fund.demo import load_fund_demo
from assoc_ledger.fund.models import FundEntry
from tests.conftest import Tree
from tests.fund_support import bean_check, fund_books


def test_demo_year(sqlite_url: str, tmp_path: Path) -> None:
    # One backend is enough for the demo; the write path itself is tested on both.
    session_factory = make_sessionmaker(make_engine(sqlite_url))
    with session_factory() as session:
        tree = Tree(session)
        session.commit()
    settings = Settings(database_url=sqlite_url, ledger_dir=tmp_path / "ledgers")
    first = load_fund_demo(session_factory, settings, today=dt.date(2026, 11, 23))
    assert set(first) == {f"county-{tree.county.id}", f"town-{tree.town_a.id}", f"township-{tree.town_b.id}"}
    assert load_fund_demo(session_factory, settings, today=dt.date(2026, 11, 23)) == {}
    with session_factory() as db:
        county = next(b for b in service.iter_books(db) if b.org_id == tree.county.id)
        cats = set(db.scalars(select(FundEntry.category).where(FundEntry.book_id == county.id)).all())
        assert {c.value for c in Category} <= cats
        assert {s.value for s in Source} <= cats
        assert db.scalar(select(func.count()).select_from(FundEntry).where(FundEntry.reverses_id.is_not(None))) == 1
        closes = db.scalar(select(func.count()).select_from(FundEntry).where(FundEntry.kind == "close"))
        assert closes == 3 * 12  # every month of the demo year, three books
        assert -service.balance_of(db, county.id, SOURCES[Source.budget].account) >= Decimal("200000")
        for book in service.iter_books(db):
            if book.id != county.id:
                assert -service.balance_of(db, book.id, SOURCES[Source.budget].account) >= Decimal("50000")
                assert service.balance_of(db, book.id, "Income:Allocation") < 0
    mains = fund_books(settings.ledger_dir)
    assert len(mains) == 3
    for main in mains:
        checked = bean_check(main)
        assert checked.returncode == 0, checked.stderr[:2000]
        ledger = FavaLedger(str(main))
        assert ledger.errors == []
