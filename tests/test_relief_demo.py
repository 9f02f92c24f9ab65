"""The relief demo on the demo year's books: every state, every category, emergency reviews on time, late and
overdue, a case the restricted fund cannot pay; and the sum of paid cases by category equals, to the fen, the
books' expense postings for those cases as beanquery reads them from the ledger files (net of reversals)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from beancount import loader
from beanquery.query import run_query
from sqlalchemy import select

from assoc_ledger.core.config import Settings
from assoc_ledger.core.db import make_engine, make_sessionmaker
from assoc_ledger.core.money import from_fen
from assoc_ledger.demo.relief import load_relief_demo
from assoc_ledger.fund.chart import CATEGORIES, Category
from assoc_ledger.fund.demo import load_fund_demo
from assoc_ledger.relief import services as relief
from assoc_ledger.relief.models import ReliefCase, Scheme
from assoc_ledger.relief.rules import RELIEF_CATEGORIES, State
from tests.conftest import Tree
from tests.fund_support import EVERYTHING, bean_check, fund_books, snapshot

TODAY = dt.date(2026, 11, 23)
ACCOUNT_CATEGORY = {CATEGORIES[c].account: c.value for c in Category}


def _books_side(ledger_dir: Path) -> tuple[dict[str, Decimal], set[int]]:
    """Expense postings of entries carrying a relief case, minus those the books reversed, by category."""
    by_category: dict[str, Decimal] = defaultdict(Decimal)
    cases: set[int] = set()
    for main in fund_books(ledger_dir):
        entries, errors, options = loader.load_file(str(main))
        assert errors == []
        slug = main.parent.name
        _, reversed_rows = run_query(entries, options, "SELECT entry_meta('reverses') AS r")
        reversed_links = {r[0] for r in reversed_rows if r[0]}
        _, rows = run_query(entries, options, "SELECT entry_meta('relief-case') AS c, entry_meta('seq') AS seq, "
                                              "account, number WHERE account ~ '^Expenses:Relief:'")
        for case, seq, account, number in rows:
            if case is None or f"{slug}-{seq}" in reversed_links:
                continue
            by_category[ACCOUNT_CATEGORY[account]] += number
            cases.add(int(case))
    return dict(by_category), cases


def test_relief_demo_ties_to_the_books(sqlite_url: str, tmp_path: Path) -> None:
    factory = make_sessionmaker(make_engine(sqlite_url))
    with factory() as s:
        Tree(s)
        s.commit()
    settings = Settings(database_url=sqlite_url, ledger_dir=tmp_path / "ledgers", upload_dir=tmp_path / "uploads")
    load_fund_demo(factory, settings, today=TODAY)
    states = load_relief_demo(factory, settings, today=TODAY)
    assert set(states) == {s.value for s in State}
    with factory() as s:
        categories = set(s.scalars(select(Scheme.category)).all())
        assert categories == {c.value for c in RELIEF_CATEGORIES}
        cases = s.scalars(select(ReliefCase)).all()
        emergency = [c for c in cases if c.category == "emergency" and c.review_due_on is not None]
        assert any(c.reviewed_on and c.reviewed_on > c.review_due_on for c in emergency)  # reviewed late
        assert any(c.reviewed_on and c.reviewed_on <= c.review_due_on for c in emergency)  # on time
        overdue = relief.list_cases(s, EVERYTHING, relief.CaseFilter(overdue_review=True, today=TODAY))
        assert [c.category for c in overdue] == ["emergency"]
        unpaid = [c for c in cases if c.state == State.approved.value and c.pay_problem]
        assert len(unpaid) == 1 and "余额不足" in (unpaid[0].pay_problem or "")
        assert unpaid[0].category == "special_family"
        assert any(c.pay_attempt == 1 and c.state == State.paid.value for c in cases)  # reversed and paid again
        paid = [c for c in cases if c.state in (State.paid.value, State.closed.value)]
        db_side: dict[str, Decimal] = defaultdict(Decimal)
        for c in paid:
            db_side[c.category] += from_fen(c.amount_fen)
    books_side, book_cases = _books_side(settings.ledger_dir)
    assert book_cases == {c.id for c in paid}
    assert books_side == dict(db_side)
    assert len(books_side) >= 8
    # Run again: nothing new in the database or the books.
    files = snapshot(settings.ledger_dir)
    assert load_relief_demo(factory, settings, today=TODAY) == states
    assert snapshot(settings.ledger_dir) == files
    for main in fund_books(settings.ledger_dir):
        assert bean_check(main).returncode == 0
