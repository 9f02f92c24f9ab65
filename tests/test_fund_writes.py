"""The write path of the fund books on both backends: splits, links, refusals that leave the books
byte-identical, idempotency, reversal, month close, recovery after a crash, tamper and rebuild."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.core.config import Settings
from assoc_ledger.core.errors import Conflict, DomainError, Invalid
from assoc_ledger.fund import files, service, verify
from assoc_ledger.fund.models import FundBook, FundEntry, FundPosting
from tests.conftest import Tree
from tests.fund_support import EVERYTHING, Books, bean_check, counts, fund_books, open_books, snapshot


@pytest.fixture
def books(session_factory: sessionmaker[Session], settings: Settings, tree: Tree) -> Books:
    return open_books(session_factory, settings.ledger_dir, tree.county.id, tree.town_a.id, tree.town_b.id)


def income(b: Books, key: str, amount: str = "100000.00", source: str = "budget", date: str = "2026-01-05",
           book: int | None = None, **kw: Any) -> service.Posted:
    with b.session() as db:
        return service.post_income(db, b.ledger_dir, EVERYTHING, book or b.county, key=key, date=date, amount=amount,
                                   source=source, payer=kw.pop("payer", "县财政局"), voucher=kw.pop("voucher", "收-1"),
                                   **kw)


def payment(b: Books, key: str, amount: str = "100.00", category: str = "general", fund: str = "General",
            date: str = "2026-01-10", book: int | None = None, **kw: Any) -> service.Posted:
    with b.session() as db:
        return service.post_payment(db, b.ledger_dir, EVERYTHING, book or b.county, key=key, date=date,
                                    amount=amount, category=category, fund=fund,
                                    payee=kw.pop("payee", "王某某户"), voucher=kw.pop("voucher", "付-1"), **kw)


def entry(b: Books, key: str, postings: list[dict[str, Any]], date: str = "2026-01-12") -> service.Posted:
    with b.session() as db:
        return service.post_entry(db, b.ledger_dir, EVERYTHING, b.county, key=key, date=date, narration="调整",
                                  voucher="转-1", postings=postings)


def postings_of(b: Books, book_id: int, seq: int) -> list[tuple[str, int]]:
    with b.session() as db:
        rows = db.execute(select(FundPosting.account, FundPosting.amount_fen)
                          .where(FundPosting.book_id == book_id, FundPosting.seq == seq)
                          .order_by(FundPosting.id)).tuples().all()
    return list(rows)


def test_earmarked_income_is_split_and_books_check_clean(books: Books) -> None:
    income(books, "fee-1", "12345.67", source="maintenance_fee")
    income(books, "ct-1", "50000.00", source="central_transfer", date="2026-01-06")
    assert postings_of(books, books.county, 1) == [("Assets:Bank:General", 1111110),
                                                   ("Assets:Bank:Restricted:JiangLiFuZhu", 123457),
                                                   ("Income:MaintenanceFeeShare", -1234567)]
    assert postings_of(books, books.county, 2)[1] == ("Assets:Bank:Restricted:JiangLiFuZhu", 1000000)
    payment(books, "reward-1", "800.00", category="only_child_reward", fund="JiangLiFuZhu")
    for main in fund_books(books.ledger_dir):
        result = bean_check(main)
        assert result.returncode == 0, result.stderr
    with books.session() as db:
        book = db.get(FundBook, books.county)
        assert book is not None
        report = verify.verify_book(db, books.ledger_dir, book)
        assert report.ok, report.problems
        assert report.entries == 3
        assert service.balance_of(db, books.county, "Assets:Bank:Restricted") == Decimal("10434.57")


def test_transfer_is_one_linked_entry_per_book_and_balances_across(books: Books) -> None:
    income(books, "b-1", "200000.00")
    with books.session() as db:
        posted = service.post_transfer(db, books.ledger_dir, EVERYTHING, books.county, books.town_a,
                                       key="alloc-1", date="2026-02-01", amount="50000.00", voucher="拨-1")
    assert [p.book_id for p in posted] == [books.county, books.town_a]
    with books.session() as db:
        out, into = (db.get(FundEntry, p.entry_id) for p in posted)
        assert out is not None
        assert into is not None
        assert set(out.links) == set(into.links) == {f"county-{books.county_org}-2", f"town-{books.town_a_org}-1"}
        assert (service.balance_of(db, books.county, "Expenses:Allocation")
                == -service.balance_of(db, books.town_a, "Income:Allocation") == Decimal("50000.00"))
        assert service.balance_of(db, books.town_a, "Assets") == Decimal("50000.00")
    for main in fund_books(books.ledger_dir):
        assert bean_check(main).returncode == 0


REFUSALS: list[tuple[str, str, dict[str, Any]]] = [
    ("overdraw", "amount", {"kind": "payment", "amount": "150000.01"}),
    ("restricted misuse", "fund", {"kind": "payment", "amount": "10.00", "category": "publicity",
                                   "fund": "JiangLiFuZhu"}),
    ("restricted overdraw", "amount", {"kind": "payment", "amount": "10000.01", "category": "special_family",
                                       "fund": "JiangLiFuZhu"}),
    ("restricted to general", "category", {"kind": "entry", "postings": [
        {"account": "Assets:Bank:General", "amount": "10.00"},
        {"account": "Assets:Bank:Restricted:JiangLiFuZhu", "amount": "-10.00"}]}),
    ("closed period", "date", {"kind": "payment", "date": "2026-01-31"}),
    ("unbalanced", "postings", {"kind": "entry", "postings": [
        {"account": "Expenses:Publicity", "amount": "10.00"},
        {"account": "Assets:Bank:General", "amount": "-9.99"}]}),
    ("bad account", "account", {"kind": "entry", "postings": [
        {"account": "Expenses:Relief:Nonsense", "amount": "10.00"},
        {"account": "Assets:Bank:General", "amount": "-10.00"}]}),
    ("earmark bypassed", "postings", {"kind": "entry", "postings": [
        {"account": "Assets:Bank:General", "amount": "10.00"},
        {"account": "Income:MaintenanceFeeShare", "amount": "-10.00"}]}),
    ("zero amount", "amount", {"kind": "payment", "amount": "0"}),
    ("negative amount", "amount", {"kind": "payment", "amount": "-5.00"}),
    ("three decimals", "amount", {"kind": "payment", "amount": "1.005"}),
    ("float amount", "amount", {"kind": "payment", "amount": 1.5}),
    ("unknown category", "category", {"kind": "payment", "category": "lottery"}),
    ("bad date", "date", {"kind": "payment", "date": "2026-02-30"}),
    ("missing voucher", "voucher", {"kind": "payment", "voucher": ""}),
    ("missing key", "idempotency_key", {"kind": "payment", "key": ""}),
]


@pytest.mark.parametrize(("case", "field", "request_"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals_write_nothing(books: Books, case: str, field: str, request_: dict[str, Any]) -> None:
    income(books, "seed-fee", "100000.00", source="maintenance_fee")  # 90,000 general + 10,000 restricted
    income(books, "seed-budget", "60000.00")
    with books.session() as db:
        service.close_month(db, books.ledger_dir, EVERYTHING, books.county, "2026-01")
    before, rows_before = snapshot(books.ledger_dir), counts(books.factory)
    req = dict(request_)
    kind = req.pop("kind")

    def attempt() -> None:
        if kind == "payment":
            req.setdefault("date", "2026-02-03")
            payment(books, req.pop("key", "refused-1"), **req)
        else:
            entry(books, "refused-1", req["postings"], date="2026-02-03")

    with pytest.raises(DomainError) as caught:
        attempt()
    err = caught.value
    fields = [e["field"] for e in err.errors]
    assert any(f is not None and f.endswith(field) for f in fields), (fields, err.detail)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in err.detail), err.detail
    assert snapshot(books.ledger_dir) == before
    assert counts(books.factory) == rows_before


def test_several_problems_are_reported_at_once(books: Books) -> None:
    with pytest.raises(Invalid) as caught:
        payment(books, "k", amount="1.001", category="nope", date="2026-13-01", voucher="")
    assert {e["field"] for e in caught.value.errors} >= {"amount", "category", "date", "voucher"}


def test_same_request_ten_times_posts_once(books: Books) -> None:
    results = [income(books, "same-key", "500.00") for _ in range(10)]
    assert len({(r.seq, r.hash) for r in results}) == 1
    assert [r.replayed for r in results] == [False] + [True] * 9
    assert counts(books.factory)[0] == 1
    with pytest.raises(Conflict) as caught:
        income(books, "same-key", "501.00")
    assert caught.value.field == "idempotency_key"
    with books.session() as db, pytest.raises(Conflict):  # a transfer touching that book cannot reuse it either
        service.post_transfer(db, books.ledger_dir, EVERYTHING, books.town_a, books.county, key="same-key",
                              date="2026-01-06", amount="1.00", voucher="拨-9")


def test_same_request_concurrently_posts_once(books: Books) -> None:
    results: list[service.Posted] = []
    problems: list[BaseException] = []

    def post() -> None:
        try:
            results.append(income(books, "race-key", "700.00"))
        except BaseException as exc:
            problems.append(exc)

    threads = [threading.Thread(target=post) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not problems
    assert len({r.hash for r in results}) == 1
    assert len(results) == 10
    assert counts(books.factory)[0] == 1
    assert (books.ledger_dir / f"county-{books.county_org}" / "2026.beancount").read_text().count("race-key") == 1


def test_reversal_is_linked_and_only_once(books: Books) -> None:
    income(books, "r-in", "1000.00")
    paid = payment(books, "r-pay", "300.00", category="visits")
    with books.session() as db:
        [rev] = service.reverse(db, books.ledger_dir, EVERYTHING, books.county, paid.seq, key="r-rev",
                                date="2026-01-11", reason="重复支付", voucher="冲-1")
    with books.session() as db:
        original = db.scalar(select(FundEntry).where(FundEntry.id == paid.entry_id))
        reversal = db.get(FundEntry, rev.entry_id)
        assert original is not None
        assert reversal is not None
        assert set(original.links) <= set(reversal.links)
        assert reversal.reverses_id == original.id
        assert ["reason", "重复支付"] in reversal.meta
        assert service.balance_of(db, books.county, "Expenses:Relief:Visits") == 0
    with books.session() as db, pytest.raises(DomainError, match="已被冲销"):
        service.reverse(db, books.ledger_dir, EVERYTHING, books.county, paid.seq, key="r-rev-2",
                        date="2026-01-12", reason="再冲", voucher="冲-2")
    with books.session() as db, pytest.raises(DomainError, match="不能再冲销"):
        service.reverse(db, books.ledger_dir, EVERYTHING, books.county, rev.seq, key="r-rev-3",
                        date="2026-01-12", reason="再冲", voucher="冲-3")
    text = (books.ledger_dir / f"county-{books.county_org}" / "2026.beancount").read_text()
    assert f'reverses: "county-{books.county_org}-{paid.seq}"' in text


def test_reversing_a_transfer_reverses_both_books(books: Books) -> None:
    income(books, "t-in", "9000.00")
    with books.session() as db:
        [out, _] = service.post_transfer(db, books.ledger_dir, EVERYTHING, books.county, books.town_b,
                                         key="t-1", date="2026-03-01", amount="4000.00", voucher="拨-2")
        service.reverse(db, books.ledger_dir, EVERYTHING, books.county, out.seq, key="t-rev", date="2026-03-02",
                        reason="拨错乡镇", voucher="冲-4")
    with books.session() as db:
        assert service.balance_of(db, books.town_b, "Assets") == 0
        assert service.balance_of(db, books.county, "Assets") == Decimal("9000.00")
    for main in fund_books(books.ledger_dir):
        assert bean_check(main).returncode == 0


def test_reversing_income_that_was_spent_is_refused(books: Books) -> None:
    got = income(books, "s-in", "1000.00")
    payment(books, "s-pay", "900.00")
    before = snapshot(books.ledger_dir)
    with books.session() as db, pytest.raises(DomainError, match="余额不足"):
        service.reverse(db, books.ledger_dir, EVERYTHING, books.county, got.seq, key="s-rev", date="2026-01-20",
                        reason="退回", voucher="冲-5")
    assert snapshot(books.ledger_dir) == before


def test_backdated_payment_cannot_overdraw_a_later_day(books: Books) -> None:
    income(books, "bd-in", "1000.00", date="2026-04-01")
    payment(books, "bd-pay", "800.00", date="2026-04-20")
    income(books, "bd-in2", "5000.00", date="2026-04-25")
    with pytest.raises(DomainError, match="余额不足"):
        payment(books, "bd-late", "300.00", date="2026-04-10")  # 1000 − 300 − 800 < 0 on 04-20
    payment(books, "bd-ok", "200.00", date="2026-04-10")


def test_month_close(books: Books) -> None:
    income(books, "c-in", "2000.00", date="2026-05-03")
    with books.session() as db:
        service.post_entry(db, books.ledger_dir, EVERYTHING, books.county, key="c-draw", date="2026-05-04",
                           narration="提取备用金", voucher="转-2", postings=[
                               {"account": "Assets:Cash:General", "amount": "300.00"},
                               {"account": "Assets:Bank:General", "amount": "-300.00"}])
        service.close_month(db, books.ledger_dir, EVERYTHING, books.county, "2026-05")
        with pytest.raises(Conflict):
            service.close_month(db, books.ledger_dir, EVERYTHING, books.county, "2026-04", key="again")
        with pytest.raises(DomainError, match="尚未结束"):
            service.close_month(db, books.ledger_dir, EVERYTHING, books.county, "2099-01")
    text = (books.ledger_dir / f"county-{books.county_org}" / "2026.beancount").read_text()
    assert "2026-06-01 balance Assets:Bank:General" in text
    assert "1700.00 CNY" in text
    assert "2026-06-01 balance Assets:Cash:General" in text
    assert "300.00 CNY" in text
    with pytest.raises(DomainError, match="已结账"):
        payment(books, "c-late", "10.00", date="2026-05-31")
    payment(books, "c-june", "10.00", date="2026-06-01")
    assert bean_check(books.ledger_dir / f"county-{books.county_org}" / "main.beancount").returncode == 0


def _county_year(b: Books) -> Path:
    return b.ledger_dir / f"county-{b.county_org}" / "2026.beancount"


def test_recovery_truncates_partial_text_and_appends_missing_entries(books: Books) -> None:
    for i in range(4):
        income(books, f"rec-{i}", f"{100 + i}.00")
    good = snapshot(books.ledger_dir)
    year = _county_year(books)
    data = year.read_bytes()
    # A crash after commit, before the append completed: the last entry half written.
    cut = data.rfind(b"2026-01-05 *")
    year.write_bytes(data[: cut + 40])
    with books.session() as db:
        report = verify.verify_book(db, books.ledger_dir, db.get(FundBook, books.county))  # type: ignore[arg-type]
        assert not report.ok
        repairs = service.recover_all(db, books.ledger_dir)
    assert [(r.path.name, r.appended_entries) for r in repairs] == [("2026.beancount", 1)]
    assert snapshot(books.ledger_dir) == good
    # A crash before any text: the next write appends the missing entry first.
    year.write_bytes(data[:cut])
    income(books, "rec-next", "1.00")
    text = year.read_text()
    assert text.count("rec-3") == 1
    assert text.index("rec-3") < text.index("rec-next")


def test_tamper_is_named_and_blocks_writes_until_rebuild(books: Books) -> None:
    income(books, "tm-1", "1000.00")
    income(books, "tm-2", "2000.00", date="2026-01-07")
    good = snapshot(books.ledger_dir)
    year = _county_year(books)
    text = year.read_text()
    tampered = text.replace("Assets:Bank:General   2000.00 CNY", "Assets:Bank:General   2900.00 CNY")
    assert tampered != text
    year.write_text(tampered)
    line = tampered[: tampered.index("2026-01-07 *")].count("\n") + 1
    with books.session() as db:
        book = db.get(FundBook, books.county)
        assert book is not None
        report = verify.verify_book(db, books.ledger_dir, book)
    assert report.first is not None
    assert report.first.seq == 2
    assert report.first.line == line
    assert report.first.file.endswith("2026.beancount")
    checked = bean_check(books.ledger_dir / f"county-{books.county_org}" / "main.beancount")
    assert checked.returncode != 0
    assert f"2026.beancount:{line}" in checked.stderr
    assert "哈希" in checked.stderr
    # Growing the file (extra digits) makes the next write refuse rather than build on a forged file.
    year.write_text(tampered.replace("2900.00 CNY", "29000.00 CNY"))
    with pytest.raises(Conflict, match="rebuild"):
        income(books, "tm-3", "1.00", date="2026-01-08")
    with books.session() as db:
        book = db.get(FundBook, books.county)
        assert book is not None
        files.rebuild_book(db, books.ledger_dir, book)
    assert snapshot(books.ledger_dir) == good


def test_rebuild_is_byte_identical(books: Books) -> None:
    income(books, "rb-0", "50.00", date="2025-12-01")
    income(books, "rb-1", "1000.00", source="central_transfer")
    payment(books, "rb-2", "10.00", category="publicity", date="2025-12-30")
    with books.session() as db:
        service.post_transfer(db, books.ledger_dir, EVERYTHING, books.county, books.town_a, key="rb-3",
                              date="2026-02-02", amount="100.00", voucher="拨-3")
    good = snapshot(books.ledger_dir)
    assert any(k.endswith("2025.beancount") for k in good)
    for path in books.ledger_dir.rglob("*.beancount"):
        path.unlink()
    with books.session() as db:
        for book in service.iter_books(db):
            files.rebuild_book(db, books.ledger_dir, book)
    assert snapshot(books.ledger_dir) == good
