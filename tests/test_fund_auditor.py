"""What an auditor sees without trusting our code: Fava opens the books with no errors, and beanquery
over the files gives the same balances, to the fen, as our database index."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from beancount import loader
from beanquery.query import run_query
from fava.core import FavaLedger
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.core.config import Settings
from assoc_ledger.fund import service
from assoc_ledger.fund.chart import Category
from tests.conftest import Tree
from tests.fund_support import EVERYTHING, Books, fund_books, open_books


@pytest.fixture
def year_of_books(session_factory: sessionmaker[Session], settings: Settings, tree: Tree) -> Books:
    b = open_books(session_factory, settings.ledger_dir, tree.county.id, tree.town_a.id, tree.town_b.id)
    sources = ["budget", "donation_person", "donation_company", "maintenance_fee", "central_transfer", "interest",
               "other"]
    with b.session() as db:
        for month in range(1, 4):
            for i, source in enumerate(sources):
                service.post_income(db, b.ledger_dir, EVERYTHING, b.county, key=f"in-{month}-{i}",
                                    date=f"2026-{month:02d}-{i + 2:02d}", amount=f"{(i + 1) * 3333}.{month:02d}",
                                    source=source, payer="县财政局", voucher=f"收-{month}-{i}")
            service.post_transfer(db, b.ledger_dir, EVERYTHING, b.county, b.town_a, key=f"tr-{month}",
                                  date=f"2026-{month:02d}-15", amount="5000.00", voucher=f"拨-{month}")
            for j, cat in enumerate(Category):
                restricted = cat in (Category.only_child_reward, Category.special_family)
                service.post_payment(db, b.ledger_dir, EVERYTHING, b.county, key=f"pay-{month}-{j}",
                                     date=f"2026-{month:02d}-{j + 16:02d}", amount=f"{j + 1}0.{j:02d}",
                                     category=cat.value, fund="JiangLiFuZhu" if restricted else "General",
                                     payee=f"受助户{j}", voucher=f"付-{month}-{j}")
            service.close_month(db, b.ledger_dir, EVERYTHING, b.county, f"2026-{month:02d}")
        service.reverse(db, b.ledger_dir, EVERYTHING, b.county, 3, key="rev-1", date="2026-04-02",
                        reason="凭证重复", voucher="冲-1")
    return b


def test_fava_loads_every_book_without_errors(year_of_books: Books) -> None:
    mains = fund_books(year_of_books.ledger_dir)
    assert len(mains) == 3
    for main in mains:
        ledger = FavaLedger(str(main))
        assert ledger.errors == [], [e.message for e in ledger.errors]
        assert ledger.options["operating_currency"] == ["CNY"]
        assert ledger.accounts["Assets:Bank:Restricted:JiangLiFuZhu"].meta["name"] == "银行存款·限定用途·奖励扶助"


def test_index_balances_tie_to_beanquery_over_the_files(year_of_books: Books) -> None:
    b = year_of_books
    with b.session() as db:
        books = service.iter_books(db)
        compared = 0
        for book in books:
            main = b.ledger_dir / book.slug / "main.beancount"
            entries, errors, options = loader.load_file(str(main))
            assert errors == []
            for on in ("2026-01-31", "2026-02-14", "2026-04-30"):
                _, rows = run_query(entries, options,
                                    f"SELECT account, sum(number) AS total WHERE date <= {on} GROUP BY account")
                from_files = {r[0]: Decimal(r[1]) for r in rows}
                from_index = {a.name: amount for a, amount in service.balances(db, book.id, dt.date.fromisoformat(on))}
                assert {k: v for k, v in from_files.items() if v} == {k: v for k, v in from_index.items() if v}
                compared += len(from_files)
    assert compared > 40
