"""Household export: one row per current member, IDs masked (no full number in the file), the CLI command."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
import typer
from openpyxl import load_workbook
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.config import get_settings
from assoc_ledger.households import cli
from assoc_ledger.households import services as hh
from assoc_ledger.households.export import export_households
from assoc_ledger.people import services as people
from tests import factories
from tests.conftest import Tree

ALL = Scope.everything(Perm.household_write)


def _household(db: Session, tree: Tree) -> tuple[str, str]:
    head_number = factories.resident_id(date(1970, 2, 3))
    child_number = factories.resident_id(date(2001, 4, 5))
    head = people.create_person(db, ALL, name="赵户主", resident_id=head_number, org_id=tree.village_a1.id)
    child = people.create_person(db, ALL, name="赵女", resident_id=child_number, org_id=tree.village_a1.id)
    hh.register_household(db, ALL, org_id=tree.village_a1.id, address="五组", registered_on=date(2002, 1, 1),
                          members=[(child.id, "子女"), (head.id, "户主")],
                          kinds=[hh.KindSpec("only_child", date(2003, 1, 1), None, "GR-1", child.id)])
    db.commit()
    return head_number, child_number


def test_export_masks_ids_and_lists_the_head_first(db: Session, tree: Tree) -> None:
    numbers = _household(db, tree)
    buf = io.BytesIO()
    assert export_households(db, Scope.everything(Perm.household_read), buf) == 1
    rows = list(load_workbook(io.BytesIO(buf.getvalue()), read_only=True).active.iter_rows(values_only=True))
    assert [r[4] for r in rows[1:]] == ["赵户主", "赵女"]
    assert rows[1][3] == "独生子女户" and rows[1][5] == numbers[0][:6] + "********" + numbers[0][-4:]
    text = buf.getvalue()
    assert all(n.encode() not in text for n in numbers)
    # Nothing outside the caller's subtree.
    other = io.BytesIO()
    assert export_households(db, Scope(perm=Perm.household_read, paths=(tree.town_b.path,)), other) == 0


def test_the_cli_command(db: Session, tree: Tree, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _household(db, tree)
    monkeypatch.setenv("ASSOC_DATABASE_URL", db_url)
    get_settings.cache_clear()
    app = typer.Typer()
    app.callback()(lambda: None)
    cli.register(app)
    target = tmp_path / "households.xlsx"
    result = CliRunner().invoke(app, ["households", "export", str(target), "--under", tree.town_a.name])
    assert result.exit_code == 0, result.output
    assert "已导出" in result.output and "1 户" in result.output
    missing = CliRunner().invoke(app, ["households", "export", str(target), "--under", "没有这个镇"])
    assert missing.exit_code == 2
    # Import through the same command group: a bad file names its row and writes nothing.
    bad = tmp_path / "bad.csv"
    bad.write_text("户编号,姓名,身份证号,与户主关系,所属组织,登记日期\nX,某人,123,户主,甲一村,2001-01-01\n",
                   encoding="utf-8")
    refused = CliRunner().invoke(app, ["households", "import", str(bad)])
    assert refused.exit_code == 1 and "第 2 行 身份证号" in refused.output and "未写入任何数据" in refused.output
