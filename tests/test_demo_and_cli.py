"""The demo county on both backends, and the demo/import/export commands end to end (SQLite)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from assoc_ledger.auth.models import AuditEntry
from assoc_ledger.auth.scope import Scope
from assoc_ledger.core.config import get_settings
from assoc_ledger.core.personal import parse_resident_id
from assoc_ledger.demo import county, load
from assoc_ledger.members.models import Membership, Person, RoleTerm
from assoc_ledger.orgs.models import Organisation, OrgKind
from assoc_ledger.orgs.services import coverage
from assoc_ledger.people.services import current_cipher, open_resident_id
from tests.demo_cache import DemoBuild, DemoCopy
from tests.roster_files import roster_rows, to_xlsx


def _table_counts(s: Session) -> dict[str, int]:
    return {m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0
            for m in (Organisation, Person, Membership, RoleTerm, AuditEntry)}


def test_demo_county_matches_the_seeds_and_loads_once(session_factory: sessionmaker[Session],
                                                      client: TestClient[Any]) -> None:
    orgs = county.organisations()
    people = list(county.members(orgs))
    assert [o.name for o in orgs] == [o.name for o in county.organisations()]  # deterministic
    kinds = [o.kind for o in orgs]
    assert (kinds.count(OrgKind.town), kinds.count(OrgKind.township), kinds.count(OrgKind.street)) == (8, 5, 1)
    assert kinds.count(OrgKind.village) + kinds.count(OrgKind.community) == 317
    assert 3000 <= len(people) <= 5000

    def run() -> None:
        with session_factory() as s:
            ids = load.load_orgs(s, orgs)
            load.load_members(s, ids, people)
            load.apply_history(s, ids, county.history(orgs, people))
            load.load_users(s, ids, load.demo_users(orgs))
            s.commit()

    run()
    with session_factory() as s:
        first = _table_counts(s)
        top = s.scalar(select(Organisation).where(Organisation.code == county.COUNTY_CODE))
        assert top is not None
        assert (top.population, top.married_women_cba) == (470_000, 97_000)
        towns = s.scalars(select(Organisation).where(Organisation.parent_id == top.id,
                                                     Organisation.kind != OrgKind.migrant.value)).all()
        assert sum(t.population or 0 for t in towns) == 470_000
        rows = coverage(s, Scope.everything(), top.id)
        assert float(rows[0].percent) < 100
        assert any(r.name == county.NOT_CONSTITUTED_IN and float(r.percent) < 100 for r in rows)
        held = set(s.scalars(select(RoleTerm.role).distinct()))
        assert held == {"president", "exec_vice_president", "vice_president", "secretary_general",
                        "council_member", "member", "group_leader"}
        cipher = current_cipher()
        for stored in s.scalars(select(Person).limit(500)):
            parse_resident_id(open_resident_id(cipher, stored))  # every demo ID passes GB 11643
        reasons = set(s.scalars(select(Membership.left_reason).where(Membership.left_reason.is_not(None))))
        assert reasons == {"withdrew", "died", "moved"}
    run()
    with session_factory() as s:
        assert _table_counts(s) == first

    login = client.post("/api/auth/login", json={"username": "hekou-secretary", "password": load.DEMO_PASSWORD})
    assert login.status_code == 200, login.text
    # Scoped to 河口镇: the shared village name resolves there without a township.
    mine = client.get("/api/orgs?q=王庄村", headers={"x-csrf-token": login.json().get("csrf_token") or ""})
    assert mine.status_code == 200
    assert mine.json()["total"] == 1


def test_cli_demo_import_export(demo_build: DemoBuild, demo_copy: DemoCopy, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    from assoc_ledger.cli import app

    # The first `assoc-ledger demo` is the run's one real load (tests/demo_cache.py): what it printed, then a
    # second run on a copy of its database and books, which must add nothing.
    first = demo_build.outputs["demo"]
    assert "demo-password-2026" in first
    assert "county-secretary" in first
    for name, value in demo_copy.env({}).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        again = runner.invoke(app, ["demo"])
        assert again.exit_code == 0, again.output
        assert "新增会员 0 名" in again.output

        rows = roster_rows(30, ["河口镇/王庄村", "石桥镇/王庄村", "341799101000"], seed=21, region="341799")
        bad = [r[:] for r in rows]
        bad[4][3] = "王庄村"  # ambiguous without the township
        path = tmp_path / "名册.xlsx"
        path.write_bytes(to_xlsx(bad))
        refused = runner.invoke(app, ["import", str(path)])
        assert refused.exit_code == 1, refused.output
        assert "不唯一" in refused.output
        assert "未写入任何数据" in refused.output

        path.write_bytes(to_xlsx(rows))
        dry = runner.invoke(app, ["import", str(path), "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert "试导入结果" in dry.output
        outside = runner.invoke(app, ["import", str(path), "--org-root", "341799101000"])
        assert outside.exit_code == 1  # rows for 石桥镇 are outside 城关镇
        ok = runner.invoke(app, ["import", str(path)])
        assert ok.exit_code == 0, ok.output
        assert "导入完成" in ok.output

        out = tmp_path / "out.xlsx"
        exported = runner.invoke(app, ["export", str(out), "--under", "河口镇/王庄村"])
        assert exported.exit_code == 0, exported.output
        ws = load_workbook(io.BytesIO(out.read_bytes()), read_only=True).worksheets[0]
        body = list(ws.iter_rows(values_only=True))[1:]
        assert body
        assert {r[3] for r in body} == {"河口镇/王庄村"}
        assert all("********" in r[1] for r in body)
        missing = runner.invoke(app, ["export", str(out), "--under", "没有这个村"])
        assert missing.exit_code == 2
        chain = runner.invoke(app, ["audit", "verify"])  # bulk imports still extend one unbroken chain
        assert chain.exit_code == 0, chain.output
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_create_admin_refuses_an_ambiguous_org_name(db_url: str, session_factory: sessionmaker[Session],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from assoc_ledger.auth.models import User
    from assoc_ledger.cli import app

    with session_factory() as s:
        load.load_orgs(s, county.organisations())
        s.commit()
    monkeypatch.setenv("ASSOC_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        r = runner.invoke(app, ["users", "create-admin", "x-admin", "--org", county.SHARED_VILLAGE,
                                "--password", "long-enough-password"])
        assert r.exit_code == 2, r.output
        assert "多个" in r.output
        with session_factory() as s:
            assert s.scalar(select(func.count()).select_from(User)) == 0
        ok = runner.invoke(app, ["users", "create-admin", "x-admin", "--org", "河口镇",
                                 "--password", "long-enough-password"])
        assert ok.exit_code == 0, ok.output
    finally:
        get_settings.cache_clear()
