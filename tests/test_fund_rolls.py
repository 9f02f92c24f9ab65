"""Payment rolls (发放花名册): one voucher whose roll file is attached; verify and bean-check name a roll edited
by hand, rebuild and recovery re-create it byte for byte; bad rolls are refused and leave nothing behind."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.auth.scope import Role
from assoc_ledger.core.config import Settings
from assoc_ledger.core.db import make_engine, make_sessionmaker
from assoc_ledger.core.errors import Conflict, DomainError, Invalid
from assoc_ledger.core.personal import mask_resident_id
from assoc_ledger.fund import commands, files, rolls, service, verify
from assoc_ledger.fund.models import FundBook, FundEntry, FundRoll, FundRollLine
from tests.conftest import AuthFor, Tree
from tests.fund_support import EVERYTHING, Books, bean_check, open_books, snapshot

CLI = str(Path(sys.executable).with_name("assoc-ledger"))
# Valid resident IDs (GB 11643 check characters), masked before they reach the books.
FULL_IDS = ["11010519491231002X", "440524188001010014", "341122198703150018"]


def roll_lines(n: int, period: str = "2026-01", amount: str = "20.00") -> list[dict[str, Any]]:
    return [{"payee": f"王{i:05d}户", "resident_id": mask_resident_id(FULL_IDS[i % 3]), "period": period,
             "amount": amount, "reference": f"GRZ-{i:05d}"} for i in range(n)]


@pytest.fixture
def books(session_factory: sessionmaker[Session], settings: Settings, tree: Tree) -> Books:
    b = open_books(session_factory, settings.ledger_dir, tree.county.id, tree.town_a.id, tree.town_b.id)
    with b.session() as db:
        service.post_income(db, b.ledger_dir, EVERYTHING, b.county, key="fund-it", date="2026-01-05",
                            amount="100000.00", source="central_transfer", payer="县财政局", voucher="收-1")
    return b


def post(b: Books, key: str = "roll-1", name: str = "2026-01-only-child-reward", lines: Any = None,
         **kw: Any) -> service.Posted:
    with b.session() as db:
        return service.post_roll(db, b.ledger_dir, EVERYTHING, b.county, key=key, date=kw.pop("date", "2026-01-25"),
                                 category=kw.pop("category", "only_child_reward"), roll=name,
                                 lines=roll_lines(3) if lines is None else lines, voucher=kw.pop("voucher", "付-01-9"),
                                 fund=kw.pop("fund", "JiangLiFuZhu"), **kw)


def book_of(db: Session, b: Books) -> FundBook:
    book = db.get(FundBook, b.county)
    assert book is not None
    return book


def all_clean(b: Books) -> list[str]:
    with b.session() as db:
        book = book_of(db, b)
        report = verify.verify_book(db, b.ledger_dir, book)
        return [str(p) for p in report.problems + verify.verify_rolls(db, b.ledger_dir, book)]


def test_a_roll_is_one_voucher_with_its_file(books: Books) -> None:
    lines = roll_lines(3)[::-1]  # given in any order; filed in the roll's order
    lines.append({"payee": "李,某\"户", "resident_id": "341122********0018", "period": "2025-12", "amount": "0.01",
                  "reference": "GRZ-X"})
    posted = post(books, lines=lines)
    roll = books.ledger_dir / "county-1" / "rolls" / "2026-01-only-child-reward.csv"
    data = roll.read_bytes()
    assert data.decode().splitlines() == [
        "领款人,公民身份号码,期间,金额,参考号",
        '"李,某""户",341122********0018,2025-12,0.01,GRZ-X',
        "王00000户,110105********002X,2026-01,20.00,GRZ-00000",
        "王00001户,440524********0014,2026-01,20.00,GRZ-00001",
        "王00002户,341122********0018,2026-01,20.00,GRZ-00002"]
    text = (books.ledger_dir / "county-1" / "2026.beancount").read_text()
    digest = hashlib.sha256(data).hexdigest()
    assert f'  roll: "rolls/2026-01-only-child-reward.csv"\n  roll-sha256: "{digest}"\n  roll-lines: "4"' in text
    assert re.search(r"\n  Expenses:Relief:OnlyChildReward +60.01 CNY\n"
                     r"  Assets:Bank:Restricted:JiangLiFuZhu +-60.01 CNY", text)
    assert (f'2026-01-25 document Expenses:Relief:OnlyChildReward "rolls/2026-01-only-child-reward.csv" '
            f"^county-1-{posted.seq}") in text
    with books.session() as db:
        found = db.scalar(select(FundRoll).where(FundRoll.entry_id == posted.entry_id))
        assert found is not None and (found.sha256, found.line_count, found.total_fen) == (digest, 4, 6001)
    assert all_clean(books) == []
    assert bean_check(books.ledger_dir / "county-1" / "main.beancount").returncode == 0


def test_same_lines_in_another_order_replay_and_another_line_conflicts(books: Books) -> None:
    first = post(books, lines=roll_lines(5))
    again = post(books, lines=roll_lines(5)[::-1])
    assert again.replayed and again.seq == first.seq
    changed = roll_lines(5)
    changed[3]["amount"] = "20.01"  # one line of five: the request hash covers every line
    with pytest.raises(Conflict) as refused:
        post(books, lines=changed)
    assert refused.value.status_code == 409


BAD_LINES: list[tuple[str, dict[str, Any], type[DomainError], str]] = [
    ("three decimals", {"amount": "20.005"}, Invalid, "lines.1.amount"),
    ("full ID", {"resident_id": FULL_IDS[1]}, Invalid, "lines.1.resident_id"),
    ("float", {"amount": 20.0}, Invalid, "lines.1.amount"),
    ("period", {"period": "2026-13"}, Invalid, "lines.1.period"),
    ("no payee", {"payee": " "}, Invalid, "lines.1.payee"),
    ("same reference twice", {"reference": "GRZ-00000"}, DomainError, "lines.1.reference"),
]


@pytest.mark.parametrize(("case", "change", "kind", "field"), BAD_LINES, ids=[c[0] for c in BAD_LINES])
def test_a_bad_line_is_refused_and_nothing_is_written(books: Books, case: str, change: dict[str, Any],
                                                      kind: type[DomainError], field: str) -> None:
    before = snapshot(books.ledger_dir)
    lines = roll_lines(3)
    lines[1].update(change)
    with pytest.raises(kind) as refused:
        post(books, lines=lines)
    assert type(refused.value) is kind
    assert [(p.field, p.row) for p in refused.value.problems] == [(field, 2)]
    _nothing_written(books, before)


def _nothing_written(b: Books, before: dict[str, bytes]) -> None:
    assert snapshot(b.ledger_dir) == before
    assert not (b.ledger_dir / "county-1" / "rolls").exists()
    with b.session() as db:
        assert db.scalar(select(func.count()).select_from(FundRoll)) == 0
        assert db.scalar(select(func.count()).select_from(FundRollLine)) == 0


@pytest.mark.parametrize(("kw", "status"), [
    ({"lines": roll_lines(6000, amount="20.00")}, 422),  # 120,000 yuan: more than the restricted fund holds
    ({"category": "publicity"}, 422),  # restricted money for another purpose
    ({"name": "../escape"}, 400),
    ({"lines": []}, 400),
])
def test_a_roll_the_rules_refuse_writes_nothing(books: Books, kw: dict[str, Any], status: int) -> None:
    before = snapshot(books.ledger_dir)
    with pytest.raises(DomainError) as refused:
        post(books, **kw)
    assert refused.value.status_code == status
    _nothing_written(books, before)


def test_many_bad_lines_are_listed_up_to_a_limit(books: Books) -> None:
    with pytest.raises(Invalid) as refused:
        post(books, lines=roll_lines(1000, amount="1.001"))
    assert len(refused.value.problems) == commands.MAX_LISTED_PROBLEMS + 1
    assert refused.value.problems[-1].message == "另有 800 个问题未列出"


def test_a_roll_name_is_used_once_per_book(books: Books) -> None:
    post(books)
    before = snapshot(books.ledger_dir)
    roll_file = books.ledger_dir / "county-1" / "rolls" / "2026-01-only-child-reward.csv"
    kept = roll_file.read_bytes()
    with pytest.raises(Conflict):
        post(books, key="roll-2", lines=roll_lines(2))
    assert snapshot(books.ledger_dir) == before
    assert roll_file.read_bytes() == kept


def test_crash_after_commit_before_the_roll_is_written(books: Books) -> None:
    year = books.ledger_dir / "county-1" / "2026.beancount"
    committed_text = year.read_bytes()
    post(books, lines=roll_lines(50))
    roll_file = books.ledger_dir / "county-1" / "rolls" / "2026-01-only-child-reward.csv"
    written = roll_file.read_bytes()
    # What a crash right after COMMIT leaves: no roll file (or only its temporary), no entry text.
    roll_file.rename(roll_file.with_name(roll_file.name + ".tmp"))
    year.write_bytes(committed_text)
    with books.session() as db:
        repairs = service.recover_all(db, books.ledger_dir)
    assert [r.appended_entries for r in repairs] == [1]
    assert roll_file.read_bytes() == written
    assert not roll_file.with_name(roll_file.name + ".tmp").exists()
    assert all_clean(books) == []


def test_rebuild_reproduces_rolls_byte_for_byte(books: Books) -> None:
    post(books, lines=roll_lines(2500, amount="5.00"))
    post(books, key="roll-2", name="2026-02-only-child-reward", lines=roll_lines(10, period="2026-02"),
         date="2026-02-25")
    before = snapshot(books.ledger_dir)
    rolls_dir = books.ledger_dir / "county-1" / "rolls"
    saved = {p.name: p.read_bytes() for p in rolls_dir.iterdir()}
    for p in rolls_dir.iterdir():
        p.unlink()
    assert len(all_clean(books)) == 2
    with books.session() as db:
        book = book_of(db, books)
        with files.locked([files.book_paths(books.ledger_dir, book)]):
            files.rebuild_book(db, books.ledger_dir, book)
    assert {p.name: p.read_bytes() for p in rolls_dir.iterdir()} == saved
    assert snapshot(books.ledger_dir) == before
    assert all_clean(books) == []


def test_a_stray_file_in_the_rolls_folder_is_named(books: Books) -> None:
    post(books)
    stray = books.ledger_dir / "county-1" / "rolls" / "copy.csv"
    stray.write_text("x")
    assert all_clean(books) == [f"{stray}:0：发放花名册目录中有不属于任何分录的文件"]


def test_the_summary_is_what_the_writer_recorded() -> None:
    lines = [rolls.RollLine("甲", "341122********0018", "2026-01", Decimal("20.00"), f"R{i}") for i in range(5000)]
    data = b"".join(rolls.csv_chunks(lines))
    assert data.count(b"\n") == 5001
    assert data.endswith(b"R4999\n")


def test_edit_a_roll_verify_and_bean_check_name_it_rebuild_restores(sqlite_url: str, tmp_path: Path) -> None:
    """The acceptance path, with the operator's commands: post a roll, verify and bean-check pass; one amount
    edited in the roll makes both fail naming the file; `ledger rebuild` restores it and both pass."""
    factory = make_sessionmaker(make_engine(sqlite_url))
    with factory() as db:
        tree = Tree(db)
        db.commit()
    b = open_books(factory, tmp_path / "ledgers", tree.county.id, tree.town_a.id, tree.town_b.id)
    with b.session() as db:
        service.post_income(db, b.ledger_dir, EVERYTHING, b.county, key="fund-it", date="2026-01-05",
                            amount="100000.00", source="central_transfer", payer="县财政局", voucher="收-1")
    post(b, lines=roll_lines(1000))
    env = {**os.environ, "ASSOC_DATABASE_URL": sqlite_url, "ASSOC_LEDGER_DIR": str(b.ledger_dir), "COLUMNS": "300"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CLI, "ledger", *args], env=env, capture_output=True, text=True, check=False)

    roll_file = b.ledger_dir / "county-1" / "rolls" / "2026-01-only-child-reward.csv"
    good = roll_file.read_bytes()
    assert run("verify").returncode == 0
    assert run("bean-check", "county-1").returncode == 0
    roll_file.write_bytes(good.replace(b",20.00,GRZ-00417", b",200.00,GRZ-00417", 1))
    verified, checked = run("verify", "county-1"), run("bean-check", "county-1")
    assert verified.returncode == 1 and checked.returncode == 1
    assert str(roll_file) in verified.stdout.replace("\n", "")
    assert "sha256" in verified.stdout and "合计 20180.00 元" in verified.stdout.replace("\n", "")
    assert str(roll_file) in checked.stdout.replace("\n", "")
    assert run("rebuild").returncode == 0
    assert roll_file.read_bytes() == good
    assert run("verify").returncode == 0
    assert run("bean-check", "county-1").returncode == 0
    with b.session() as db:
        assert db.scalar(select(func.count()).select_from(FundEntry)) == 2


def test_bean_checks_cache_and_favas_reload_watch_the_roll(books: Books) -> None:
    from beancount import loader

    post(books)
    main_file = books.ledger_dir / "county-1" / "main.beancount"
    _, errors, options = loader._load([(str(main_file), True)], None, None, None)
    assert errors == []
    roll_file = books.ledger_dir / "county-1" / "rolls" / "2026-01-only-child-reward.csv"
    assert str(roll_file) in options["include"]
    assert options["input_hash"] == loader.compute_input_hash(options["include"])


def test_the_roll_route_answers_problem_json(client: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                             settings: Settings) -> None:
    sec = auth_for(Role.secretary, tree.county.id)
    book = client.post("/api/fund/books", json={"org_id": tree.county.id}, headers=sec).json()["id"]
    client.post(f"/api/fund/books/{book}/income", headers={**sec, "Idempotency-Key": "seed"},
                json={"date": "2026-01-05", "amount": "1000.00", "source": "budget", "payer": "县财政局",
                      "voucher": "收-1"})
    body = {"date": "2026-01-25", "roll": "2026-01-only-child-reward", "voucher": "付-1", "lines": roll_lines(3)}
    url = f"/api/fund/books/{book}/rolls"
    rolls_dir = settings.ledger_dir / f"county-{tree.county.id}" / "rolls"
    for change, status, field in (({"amount": "20.001"}, 400, "lines.0.amount"),
                                  ({"amount": 20}, 400, None),
                                  ({"resident_id": FULL_IDS[0]}, 400, "lines.0.resident_id"),
                                  ({"amount": "4000.00"}, 422, "amount")):
        lines = roll_lines(3)
        lines[0].update(change)
        refused = client.post(url, json={**body, "lines": lines}, headers={**sec, "Idempotency-Key": f"bad-{status}"})
        assert refused.status_code == status, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        if field:
            assert field in [e["field"] for e in refused.json()["errors"]]
        assert not rolls_dir.exists()
    posted = client.post(url, json=body, headers={**sec, "Idempotency-Key": "roll-1"})
    assert posted.status_code == 201, posted.text
    assert (rolls_dir / "2026-01-only-child-reward.csv").is_file()
    reused = client.post(url, json={**body, "lines": roll_lines(4)}, headers={**sec, "Idempotency-Key": "roll-1"})
    assert reused.status_code == 409
    checked = client.get(f"/api/fund/books/{book}/verify", headers=sec).json()
    assert checked["ok"], checked


def test_a_roll_voucher_is_reversed_whole_and_its_roll_stays(books: Books) -> None:
    posted = post(books, lines=roll_lines(4))
    with books.session() as db:
        undone = service.reverse(db, books.ledger_dir, EVERYTHING, books.county, posted.seq, key="undo-roll",
                                 date="2026-01-28", reason="发放花名册有误，整册冲销", voucher="冲-01-1")
        assert service.balance_of(db, books.county, "Expenses:Relief:OnlyChildReward") == 0
    assert len(undone) == 1
    text = (books.ledger_dir / "county-1" / "2026.beancount").read_text()
    assert text.count("document Expenses:Relief:OnlyChildReward") == 1  # the reversal names no roll of its own
    assert all_clean(books) == []
    assert bean_check(books.ledger_dir / "county-1" / "main.beancount").returncode == 0


def test_the_demo_pays_the_reward_as_monthly_rolls(sqlite_url: str, tmp_path: Path) -> None:
    import datetime as dt

    from fava.core import FavaLedger

    from assoc_ledger.fund.demo import load_fund_demo

    factory = make_sessionmaker(make_engine(sqlite_url))
    with factory() as db:
        tree = Tree(db)
        db.commit()
    settings = Settings(database_url=sqlite_url, ledger_dir=tmp_path / "ledgers")
    load_fund_demo(factory, settings, today=dt.date(2026, 11, 23))
    with factory() as db:
        found = db.execute(select(FundBook.slug, FundRoll.name, FundRoll.line_count, FundRoll.total_fen)
                           .join(FundBook, FundBook.id == FundRoll.book_id).order_by(FundRoll.id)).tuples().all()
        county = [r for r in found if r[0] == f"county-{tree.county.id}"]
        assert [r[1] for r in county] == [f"2025-{m:02d}-only-child-reward" for m in range(1, 13)]
        assert {(r[2], r[3]) for r in county} == {(25, 25 * 2000)}  # 25 households at the 20-yuan standard
        assert {(r[2], r[3]) for r in found if r not in county} == {(2, 4000)}
        assert len(found) == 12 + 2 * 8
        for book in service.iter_books(db):
            assert verify.verify_rolls(db, settings.ledger_dir, book) == []
    county_main = settings.ledger_dir / f"county-{tree.county.id}" / "main.beancount"
    ledger = FavaLedger(str(county_main))
    assert ledger.errors == []
    documents = [e for e in ledger.all_entries if type(e).__name__ == "Document"]
    assert len(documents) == 12 and all(Path(d.filename).is_file() for d in documents)
