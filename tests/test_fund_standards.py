"""Dated rules: the 独生子女父母奖励 standard for an organisation on a date across changes of standard, the
earmark defaults reaching the books and bean-check from one module, and the request hash over every field."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.auth.scope import Scope
from assoc_ledger.core.errors import Conflict, Invalid, NotFound
from assoc_ledger.fund import commands, standards
from assoc_ledger.fund.chart import Category, Fund, Source, Via
from assoc_ledger.fund.standards import AidScheme, aid_standard, set_aid_standard
from tests.conftest import Tree
from tests.fund_support import EVERYTHING, open_books

REWARD = AidScheme.only_child_reward
D = dt.date.fromisoformat


def test_only_child_reward_for_an_organisation_on_a_date(session_factory: sessionmaker[Session],
                                                         tree: Tree) -> None:
    with session_factory() as db:
        def amount(org: int, on: str) -> Decimal:
            return aid_standard(db, REWARD, org, D(on)).amount

        # No organisation has set one: the seed's 20 yuan a month, everywhere, on any date.
        assert amount(tree.village_a1.id, "2010-05-01") == Decimal("20.00")
        # 乙乡 sets its own 25 from mid-2025; later the county raises everyone to 30 from 2026.
        _, created = set_aid_standard(db, EVERYTHING, tree.town_b.id, scheme="only_child_reward", amount="25",
                                      effective_from="2025-07-01", basis="乙乡政〔2025〕12号")
        assert created
        set_aid_standard(db, EVERYTHING, tree.county.id, scheme="only_child_reward", amount="30.00",
                         effective_from="2026-01-01")
    with session_factory() as db:
        def standard(org: int, on: str) -> standards.AidStandard:
            return aid_standard(db, REWARD, org, D(on))

        # Under 甲镇 (no standard of its own) the county's change takes effect on its day, not before.
        assert standard(tree.village_a1.id, "2025-12-31").amount == Decimal("20.00")
        assert standard(tree.village_a1.id, "2025-12-31").org_id is None
        assert standard(tree.village_a1.id, "2026-01-01").amount == Decimal("30.00")
        assert standard(tree.town_a.id, "2026-06-30").org_id == tree.county.id
        assert standard(tree.county.id, "2025-12-31").amount == Decimal("20.00")
        assert standard(tree.county.id, "2026-01-01").amount == Decimal("30.00")
        # 乙乡 keeps its own: the more specific subtree wins over the county's later standard.
        assert standard(tree.village_b1.id, "2025-06-30").amount == Decimal("20.00")
        assert standard(tree.village_b2.id, "2025-07-01").amount == Decimal("25.00")
        assert standard(tree.village_b1.id, "2026-01-01").amount == Decimal("25.00")
        assert standard(tree.village_b1.id, "2026-01-01").basis == "乙乡政〔2025〕12号"
        # A later standard of the same organisation supersedes its earlier one from its own date.
        set_aid_standard(db, EVERYTHING, tree.town_b.id, scheme="only_child_reward", amount="35",
                         effective_from="2026-07-01")
        assert standard(tree.village_b1.id, "2026-06-30").amount == Decimal("25.00")
        assert standard(tree.village_b1.id, "2026-07-01").amount == Decimal("35.00")
        assert standard(tree.village_a2.id, "2026-07-01").amount == Decimal("30.00")
        assert isinstance(standard(tree.village_a2.id, "2026-07-01").amount, Decimal)


def test_setting_a_standard_is_checked(session_factory: sessionmaker[Session], tree: Tree) -> None:
    with session_factory() as db:
        first, created = set_aid_standard(db, EVERYTHING, tree.county.id, scheme="only_child_reward",
                                          amount="30", effective_from="2026-01-01")
        again, created_again = set_aid_standard(db, EVERYTHING, tree.county.id, scheme="only_child_reward",
                                                amount="30.00", effective_from="2026-01-01")
        assert created and not created_again and again == first
        with pytest.raises(Conflict) as clash:
            set_aid_standard(db, EVERYTHING, tree.county.id, scheme="only_child_reward", amount="31",
                             effective_from="2026-01-01")
        assert clash.value.field == "effective_from"
        with pytest.raises(Invalid) as bad:
            set_aid_standard(db, EVERYTHING, tree.county.id, scheme="lottery", amount=30.0,
                             effective_from="2026-02-30")
        assert {p.field for p in bad.value.problems} == {"scheme", "amount", "effective_from"}
        town_a_only = Scope(perm=EVERYTHING.perm, paths=(tree.town_a.path,))
        with pytest.raises(NotFound):
            set_aid_standard(db, town_a_only, tree.town_b.id, scheme="only_child_reward", amount="40",
                             effective_from="2026-01-01")
        with pytest.raises(Invalid):
            aid_standard(db, "lottery", tree.county.id, D("2026-01-01"))
    with session_factory() as db:
        assert aid_standard(db, REWARD, tree.town_b.id, D("2026-01-01")).amount == Decimal("30.00")


def test_earmark_defaults_reach_the_books_and_bean_check_from_one_module(
        session_factory: sessionmaker[Session], tree: Tree, tmp_path: Path) -> None:
    from assoc_ledger.fund import service

    books = open_books(session_factory, tmp_path / "ledgers", tree.county.id, tree.town_a.id, tree.town_b.id)
    with session_factory() as db:
        rules = {(r.income_account, r.fund): r.basis_points for r in service.earmarks(db, books.county)}
    assert rules == {(s.income_account, s.fund.value): s.basis_points for s in standards.DEFAULT_EARMARKS}
    assert rules == {("Income:MaintenanceFeeShare", "JiangLiFuZhu"): 1000,
                     ("Income:CentralTransferShare", "JiangLiFuZhu"): 2000}
    accounts = next((tmp_path / "ledgers").glob("county-*/accounts.beancount")).read_text(encoding="utf-8")
    for s in standards.DEFAULT_EARMARKS:
        assert f'custom "fund-earmark" "{s.income_account}" "{s.fund.value}" {s.share:.4f}' in accounts
    with session_factory() as db:
        posted = service.post_income(db, books.ledger_dir, EVERYTHING, books.county, key="mf-1", date="2026-02-01",
                                     amount="1000.00", source="maintenance_fee", payer="县财政局", voucher="收-1")
        assert posted.seq == 1
        assert service.balance_of(db, books.county, "Assets:Bank:Restricted:JiangLiFuZhu") == Decimal("100.00")


def test_standard_cli(sqlite_url: str, tmp_path: Path) -> None:
    from assoc_ledger.core.db import make_engine, make_sessionmaker

    factory: sessionmaker[Session] = make_sessionmaker(make_engine(sqlite_url))
    with factory() as session:
        tree = Tree(session)
        session.commit()
    env = {**os.environ, "ASSOC_DATABASE_URL": sqlite_url, "ASSOC_LEDGER_DIR": str(tmp_path), "COLUMNS": "200"}
    cli = str(Path(sys.executable).with_name("assoc-ledger"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([cli, "ledger", "standard", *args], env=env, capture_output=True, text=True,
                              check=False)

    before = run(str(tree.village_a1.id), "--on", "2025-12-31")
    assert before.returncode == 0, before.stdout + before.stderr
    assert "20.00 元/户·月" in before.stdout
    added = run(str(tree.county.id), "--amount", "30", "--from", "2026-01-01", "--on", "2026-01-01")
    assert added.returncode == 0, added.stdout + added.stderr
    assert "已设定标准" in added.stdout
    assert "30.00 元/户·月" in run(str(tree.village_a1.id), "--on", "2026-01-01").stdout
    assert "20.00 元/户·月" in run(str(tree.village_a1.id), "--on", "2025-12-31").stdout
    refused = run(str(tree.county.id), "--amount", "31", "--from", "2026-01-01")
    assert refused.returncode == 2
    assert "不能修改" in refused.stdout


SAMPLES: list[commands.Command] = [
    commands.Income(1, "k", D("2026-01-02"), Decimal("10.00"), Source.budget, Via.bank, "p", "v", None, ()),
    commands.Payment(1, "k", D("2026-01-02"), Decimal("10.00"), Category.general, Fund.general, Via.bank, "p", "v",
                     None, ()),
    commands.Transfer(1, 2, "k", D("2026-01-02"), Decimal("10.00"), Fund.general, Via.bank, "v", None),
    commands.Entry(1, "k", D("2026-01-02"), "n", None, "v",
                   (("Assets:Bank:General", Decimal("1.00")), ("Assets:Cash:General", Decimal("-1.00"))), ()),
    commands.Reversal(1, 3, "k", D("2026-01-02"), "r", "v"),
    commands.Close(1, "k", "2026-01"),
]


def _other(value: Any) -> Any:
    if isinstance(value, Enum):
        return next(m for m in type(value) if m is not value)
    if isinstance(value, bool | int | Decimal):
        return value + 1
    if isinstance(value, dt.date):
        return value + dt.timedelta(days=1)
    if isinstance(value, tuple):
        return (*value, ("x", "y"))
    return (value or "") + "x"


@pytest.mark.parametrize("command", SAMPLES, ids=[c.kind for c in SAMPLES])
def test_request_hash_covers_every_field(command: commands.Command) -> None:
    base = commands.request_hash(command)
    assert base == commands.request_hash(dataclasses.replace(command))
    for field in dataclasses.fields(command):
        changed = dataclasses.replace(command, **{field.name: _other(getattr(command, field.name))})
        assert commands.request_hash(changed) != base, field.name
