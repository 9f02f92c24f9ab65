"""A county's first day, as README tells a new user: migrate, import the tree, create the admin, open the books, serve.

Every step runs in a fresh ``assoc-ledger`` process on an empty database (SQLite and PostgreSQL), the
way a county's technician would type it; the organisation-tree importer is also tested on its own
for bad files: every bad row named at once, all or nothing, the same file twice changing nothing.
"""

from __future__ import annotations

import io
import secrets
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
import typer.main
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session, aliased, sessionmaker

from assoc_ledger.auth.models import AuditEntry
from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.cli import app as cli_app
from assoc_ledger.core.db import make_engine
from assoc_ledger.core.errors import DomainError
from assoc_ledger.orgs.import_tree import CODE, KIND, NAME, PARENT, TreeImportReport, import_tree
from assoc_ledger.orgs.models import Organisation, OrgEvent
from tests.conftest import Tree
from tests.org_tree_files import (
    BOOK_KINDS_IN_TREE,
    COUNTY_CODE,
    COUNTY_TREE,
    VARIANT_HEADERS,
    tree_csv,
    tree_xlsx,
)
from tests.processes import clean_env, free_port, run, serving

CLI = str(Path(sys.executable).with_name("assoc-ledger"))
ADMIN_PASSWORD = "first-day-password-2026"


class Counts(NamedTuple):
    orgs: int
    org_events: int
    audit_entries: int


def _counts(url: str) -> Counts:
    engine = make_engine(url)
    try:
        with Session(engine) as db:
            return Counts(*(db.scalar(select(func.count()).select_from(model)) or 0
                            for model in (Organisation, OrgEvent, AuditEntry)))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database that exists but holds nothing: no tables, no migrations (a file not yet created on SQLite)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'county' / 'var' / 'assoc.sqlite3'}"
    server: str = request.getfixturevalue("pg_server")
    name = f"first_day_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server.rsplit("/", 1)[0] + "/" + name


def test_readme_production_steps_in_fresh_processes(empty_database: str, tmp_path: Path) -> None:
    county = tmp_path / "county"
    county.mkdir()
    tree_file = county / "组织架构.xlsx"
    # Another system's header spellings and a banner row above them, as such sheets come.
    tree_file.write_bytes(tree_xlsx(COUNTY_TREE, VARIANT_HEADERS, title="清河县计划生育协会组织架构"))
    env = clean_env(ASSOC_DATABASE_URL=empty_database, ASSOC_LEDGER_DIR=str(county / "ledgers"),
                    ASSOC_SECRET_KEY=secrets.token_urlsafe(48), ASSOC_ADMIN_PASSWORD=ADMIN_PASSWORD)

    def cli(*args: str) -> str:
        done = run([CLI, *args], env=env, cwd=county)
        assert done.returncode == 0, f"assoc-ledger {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    cli("migrate")
    assert "将新增" in cli("orgs", "import", tree_file.name, "--dry-run")
    assert _counts(empty_database).orgs == 0, "a dry run wrote"
    cli("orgs", "import", tree_file.name)
    imported = _counts(empty_database)
    assert imported.orgs == len(COUNTY_TREE)
    assert "没有任何变化" in cli("orgs", "import", tree_file.name)
    assert _counts(empty_database) == imported, "the same file twice changed something"
    _assert_tree_as_in_file(empty_database)

    assert "已创建管理员" in cli("users", "create-admin", "admin", "--org", COUNTY_CODE)
    cli("ledger", "init")

    port = free_port()
    with (serving([CLI, "serve", "--port", str(port)], env=env, cwd=county, port=port) as base,
          httpx.Client(base_url=base, timeout=30) as http):
        login = http.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert login.status_code == 200, login.text
        assert login.json()["csrf_token"]
        books = http.get("/api/fund/books")
        assert books.status_code == 200, books.text
        assert len(books.json()) == BOOK_KINDS_IN_TREE
        county_book = next(b for b in books.json() if "清河县" in b["title"])
        balances = http.get(f"/api/fund/books/{county_book['id']}/balances")
        assert balances.status_code == 200, balances.text
        assert balances.json()["accounts"]
        assert http.get(f"/fund/books/{county_book['id']}").status_code == 200


def _assert_tree_as_in_file(url: str) -> None:
    """Every unit hangs under the parent its row names (by code or by name); the 王庄村 twins apart."""
    engine = make_engine(url)
    parent = aliased(Organisation)
    try:
        with Session(engine) as db:
            rows = db.execute(select(Organisation.name, Organisation.code, parent.name, parent.code)
                              .outerjoin(parent, parent.id == Organisation.parent_id)).all()
    finally:
        engine.dispose()
    found = {(name, code or ""): (pname, pcode) for name, code, pname, pcode in rows}
    for name, code, parent_ref, _kind in COUNTY_TREE:
        pname, pcode = found[name, code]
        assert parent_ref in ("", pname, pcode) and (parent_ref != "") == (pname is not None), (name, parent_ref)


def _command_paths() -> list[tuple[str, ...]]:
    """Every command and subcommand of the CLI, read from the typer app so new ones are covered."""

    # Typer builds on its own copy of click's classes: a group is whatever has subcommands.
    def walk(cmd: Any, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        yield path
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            yield from walk(sub, (*path, name))

    return list(walk(typer.main.get_command(cli_app), ()))


def test_command_list_sees_nested_commands() -> None:
    paths = _command_paths()
    assert ("orgs", "import") in paths and ("users", "create-admin") in paths and ("ledger", "init") in paths


@pytest.mark.parametrize("command", _command_paths(), ids=lambda p: " ".join(p) or "assoc-ledger")
def test_every_command_help_runs_in_a_fresh_process(command: tuple[str, ...], tmp_path: Path) -> None:
    done = run([CLI, *command, "--help"], env=clean_env(), cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Usage" in done.stdout
    assert not (tmp_path / "var").exists(), "--help touched the database"


# The organisation-tree importer on bad files.

BAD_TREE: list[tuple[str, str, str, str]] = [
    ("清河县计生协", COUNTY_CODE, "", "县"),  # row 2
    ("城关镇", "341799100000", COUNTY_CODE, "镇"),
    ("东关村", "341799100201", "城关镇", "村庄"),  # 4: unknown kind
    ("", "341799100202", "城关镇", "村"),  # 5: no name
    ("西关村", "34179910020A", "城关镇", "村"),  # 6: not a code
    ("北关村", "3.41799E+11", "城关镇", "村"),  # 7: Excel's scientific notation
    ("南关村", "341799100205", "不存在镇", "村"),  # 8: parent nowhere
    ("县直村", "341799000301", COUNTY_CODE, "村"),  # 9: a village under the county (tree rule)
    ("重复镇", "341799100000", COUNTY_CODE, "镇"),  # 10: code of row 3 again
    ("甲村", "341799100301", "乙村", "村"),  # 11 and 12: each other's parent
    ("乙村", "341799100302", "甲村", "村"),
    ("河口镇", "341799101000", COUNTY_CODE, "镇"),
    ("王庄村", "341799101201", "河口镇", "村"),
    ("王庄村", "341799100206", "城关镇", "村"),
    ("王庄村纸箱厂计生协", "", "王庄村", "企业"),  # 16: which 王庄村?
    ("县直社区", "341799000302", "县直村", "社区"),  # 17: under the bad row 9, checked once it is fixed
]
BAD_CELLS = {(4, KIND), (5, NAME), (6, CODE), (7, CODE), (8, PARENT), (9, PARENT), (10, CODE), (11, PARENT),
             (12, PARENT), (16, PARENT)}


def _import(factory: sessionmaker[Session], data: bytes, *, dry_run: bool) -> TreeImportReport:
    with factory() as db:
        report = import_tree(db, Scope.everything(Perm.org_write), io.BytesIO(data), dry_run=dry_run)
        if not (dry_run or report.problems):
            db.commit()
        return report


def _stored(factory: sessionmaker[Session]) -> tuple[int, int]:
    with factory() as db:
        return (db.scalar(select(func.count()).select_from(Organisation)) or 0,
                db.scalar(select(func.count()).select_from(OrgEvent)) or 0)


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "real"])
def test_bad_rows_are_all_named_and_nothing_is_written(session_factory: sessionmaker[Session],
                                                       dry_run: bool) -> None:
    report = _import(session_factory, tree_csv(BAD_TREE), dry_run=dry_run)
    assert {(p.row, p.field) for p in report.problems} == BAD_CELLS
    messages = {p.row: p.message for p in report.problems}
    assert "村庄" in messages[4] and messages[9] == "村级组织不能设在县之下" and "第3行" in messages[10]
    assert "科学计数法" in messages[7] and "区划代码" in messages[16]
    assert report.unchecked == 1
    assert _stored(session_factory) == (0, 0)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_same_file_twice_changes_nothing_and_existing_units_are_never_edited(
        session_factory: sessionmaker[Session]) -> None:
    data = tree_csv(COUNTY_TREE, "gb18030")  # Excel on Chinese Windows saves CSV as GB18030
    first = _import(session_factory, data, dry_run=False)
    assert not first.problems and sum(first.created.values()) == len(COUNTY_TREE)
    stored = _stored(session_factory)
    again = _import(session_factory, data, dry_run=False)
    assert not again.problems and not again.created and sum(again.unchanged.values()) == len(COUNTY_TREE)
    assert _stored(session_factory) == stored

    # A unit that exists differently is a bad row, and the good new row beside it is not written either.
    changed = [("河口乡", "341799101000", COUNTY_CODE, "乡"), ("新村", "341799101299", "河口乡", "村")]
    refused = _import(session_factory, tree_csv(changed), dry_run=False)
    assert [(p.row, p.field) for p in refused.problems] == [(2, CODE)]
    assert "名称为“河口镇”" in refused.problems[0].message and "类型为“镇”" in refused.problems[0].message
    assert _stored(session_factory) == stored


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_unit_made_by_hand_is_found_by_name_not_duplicated(tree: Tree,
                                                            session_factory: sessionmaker[Session]) -> None:
    county = tree.county.code or ""
    same = _import(session_factory, tree_csv([("甲镇", "", county, "镇")]), dry_run=False)
    assert not same.problems and sum(same.unchanged.values()) == 1
    coded = _import(session_factory, tree_csv([("甲镇", "341100101000", county, "镇")]), dry_run=False)
    assert [(p.row, p.field) for p in coded.problems] == [(2, CODE)]
    assert "名为“甲镇”" in coded.problems[0].message and "区划代码为“空”" in coded.problems[0].message
    with session_factory() as db:
        assert db.scalar(select(func.count()).select_from(Organisation).where(Organisation.name == "甲镇")) == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_children_may_hang_under_units_already_in_the_database(session_factory: sessionmaker[Session]) -> None:
    _import(session_factory, tree_csv(COUNTY_TREE[:13]), dry_run=False)  # the tree without its two extensions
    report = _import(session_factory, tree_csv([("新建村", "341799101203", "河口镇", "村")]), dry_run=False)
    assert not report.problems and sum(report.created.values()) == 1
    with session_factory() as db:
        village = db.scalars(select(Organisation).where(Organisation.code == "341799101203")).one()
        town = db.scalars(select(Organisation).where(Organisation.code == "341799101000")).one()
        assert village.parent_id == town.id and village.path.startswith(town.path)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_unreadable_files_are_refused_whole(session_factory: sessionmaker[Session]) -> None:
    no_parent_column = tree_csv([r[:2] + r[3:] for r in COUNTY_TREE], headers=("名称", "区划代码", "类型"))
    for data, why in [(b"\x89PNG\r\n\x1a\n" + bytes(64), "不支持"),
                      (no_parent_column, "缺少必填列：上级"),
                      (tree_csv([]), "没有数据行")]:
        with pytest.raises(DomainError, match=why):
            _import(session_factory, data, dry_run=True)


def test_cli_exit_codes_and_report(sqlite_url: str, tmp_path: Path) -> None:
    """0 imported, 1 bad rows (each listed with its row, column and reason), 2 a file that cannot be read."""
    env = clean_env(ASSOC_DATABASE_URL=sqlite_url, ASSOC_LEDGER_DIR=str(tmp_path / "ledgers"))
    (tmp_path / "bad.csv").write_bytes(tree_csv(BAD_TREE, "gb18030"))
    (tmp_path / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    (tmp_path / "good.xlsx").write_bytes(tree_xlsx(COUNTY_TREE))

    bad = run([CLI, "orgs", "import", "bad.csv", "--dry-run"], env=env, cwd=tmp_path)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "有错误的行 10" in bad.stdout
    for reason in ("不认识的类型“村庄”", "找不到上级“不存在镇”", "村级组织不能设在县之下", "上级关系成环"):
        assert reason in bad.stdout
    assert run([CLI, "orgs", "import", "bad.csv"], env=env, cwd=tmp_path).returncode == 1
    unreadable = run([CLI, "orgs", "import", "photo.png"], env=env, cwd=tmp_path)
    assert unreadable.returncode == 2 and "不支持" in unreadable.stdout
    assert _counts(sqlite_url).orgs == 0

    good = run([CLI, "orgs", "import", "good.xlsx"], env=env, cwd=tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "导入完成" in good.stdout
    assert _counts(sqlite_url).orgs == len(COUNTY_TREE)
