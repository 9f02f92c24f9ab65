"""The entitlements over real HTTP and the real CLI: preview, run, the same month again, reconciliation (JSON,
XLSX, exit status) and the village 发放花名册 whose totals add up to the roll in the books."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from litestar.testing import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from assoc_ledger.auth import services as auth_services
from assoc_ledger.auth.scope import Role
from assoc_ledger.core.config import Settings
from assoc_ledger.core.db import make_engine, make_sessionmaker
from assoc_ledger.entitlements import services as ent
from assoc_ledger.entitlements.models import EntitlementLine, EntitlementRun
from assoc_ledger.fund import rolls, service
from assoc_ledger.fund.models import FundBook, FundRoll
from tests.conftest import AuthFor, Tree
from tests.entitlements_world import ALL, build, event

ROOT = Path(__file__).resolve().parents[1]


def test_preview_run_reconcile_and_village_rolls(client: TestClient[Any], settings: Settings, tree: Tree,
                                                 auth_for: AuthFor) -> None:
    factory = make_sessionmaker(make_engine(settings.database_url))
    world = build(factory, Path(settings.ledger_dir), tree, extra=8)
    admin = auth_for(Role.admin, tree.county.id)
    auditor = auth_for(Role.auditor, tree.county.id)

    preview = client.get("/api/entitlements/preview?month=2024-06", headers=admin)
    assert preview.status_code == 200, preview.text
    bad = client.post("/api/entitlements/runs", json={"month": "2024-13"}, headers=admin)
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["errors"][0]["field"] == "month"
    assert client.post("/api/entitlements/runs", json={"month": "2024-06"}, headers=auditor).status_code == 403

    body = ran(client, {"month": "2024-06", "pay_date": "2024-06-25"}, admin)
    assert (body["status"], body["lines"], body["total"]) == ("done", preview.json()["lines"],
                                                               preview.json()["total"])
    again = ran(client, {"month": "2024-06", "pay_date": "2024-06-26"}, admin)
    assert (again["lines"], again["total"]) == (0, "0.00")
    assert client.get(f"/api/entitlements/runs/{body['id']}", headers=auditor).json()["basis"]["rule_version"]

    recon = client.get("/api/entitlements/reconcile?from=2024-01&to=2024-06", headers=auditor).json()
    assert recon["clean"] and recon["household_months_due"] == recon["household_months_paid"] > 0

    # The village rolls of a voucher add up to the roll attached to it in the books.
    with factory() as db:
        roll_rows = db.execute(select(FundRoll, FundBook).join(FundBook, FundBook.id == FundRoll.book_id)).all()
        villages = sorted(set(db.scalars(select(EntitlementLine.org_id))))
    by_voucher: dict[str, Decimal] = {}
    for village in villages:
        r = client.get(f"/api/entitlements/villages/{village}/roll.xlsx?month=2024-06", headers=auditor)
        assert r.status_code == 200
        sheet = load_workbook(io.BytesIO(r.content)).active
        assert sheet is not None
        rows = list(sheet.iter_rows(values_only=True))
        header = rows[1]
        assert header[-1] == "领款人签名" and header[2] == "公民身份号码"
        lines = [row for row in rows[2:] if isinstance(row[0], int)]
        assert all(rolls.MASKED_ID_RE.match(str(row[2])) and row[-1] is None for row in lines)
        assert any(row[8] == "补发" for row in lines)  # January–May were never paid: arrears, marked
        for row in rows:
            if row[0] == "凭证":
                key = str(row[1])
                by_voucher[key] = by_voucher.get(key, Decimal(0)) + Decimal(str(row[7]))
        total = next(row for row in rows if row[0] == "合计")
        assert Decimal(str(total[7])) == sum(Decimal(str(row[7])) for row in lines)
    assert by_voucher == {f"{book.slug} 第 {_seq(settings, roll)} 号": Decimal(roll.total_fen) / 100
                          for roll, book in roll_rows}

    xlsx = client.get("/api/entitlements/reconcile.xlsx?from=2024-01&to=2024-06", headers=auditor)
    assert xlsx.status_code == 200
    summary = load_workbook(io.BytesIO(xlsx.content))["汇总"]
    assert {row[0]: row[1] for row in summary.iter_rows(values_only=True)}["应发未发"] == 0

    # The CLI says the same and exits 0; after a late registry edit it names the difference and exits 1.
    env = {**os.environ, "ASSOC_DATABASE_URL": settings.database_url, "ASSOC_LEDGER_DIR": str(settings.ledger_dir)}
    cli = [sys.executable, "-m", "assoc_ledger.cli", "entitlements", "reconcile", "--from", "2024-01",
           "--to", "2024-06"]
    clean = subprocess.run(cli, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    with factory() as db:
        event(db, world.households["B"], "certificate_revoked", date(2024, 2, 10))
        db.commit()
    dirty = subprocess.run(cli, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert dirty.returncode == 1
    assert "不符合条件仍发放" in dirty.stdout and "光荣证注销" in dirty.stdout


def ran(client: TestClient[Any], data: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """A run through the API: 202 at once with the run's id and where to poll, then polled until it ends."""
    started = client.post("/api/entitlements/runs", json=data, headers=headers)
    assert started.status_code == 202, started.text
    location = started.headers["location"]
    assert location == f"/api/entitlements/runs/{started.json()['id']}"
    assert started.json()["status"] in ("running", "done", "partial", "failed")  # a quick run may be over
    for _ in range(6000):  # the worker thread of the server finishes the run; poll its row (≥ 5 minutes)
        body: dict[str, Any] = client.get(location, headers=headers).json()
        if body["status"] != "running":
            return body
        assert body["progress"] is None or body["progress"]["stage"] in ("计算", "发放")
        time.sleep(0.05)
    raise AssertionError(f"run {location} still running")


def test_township_secretary_runs_what_the_township_pays_and_is_told_what_the_county_pays(
        client: TestClient[Any], settings: Settings, tree: Tree, auth_for: AuthFor) -> None:
    factory = make_sessionmaker(make_engine(settings.database_url))
    world = build(factory, Path(settings.ledger_dir), tree)
    town_a = auth_for(Role.secretary, tree.town_a.id)
    admin = auth_for(Role.admin, tree.county.id)

    # Only the county pays in 甲镇: the preview names it, the run is refused before anything is written.
    preview = client.get(f"/api/entitlements/preview?month=2024-06&org_id={tree.town_a.id}", headers=town_a).json()
    assert preview["lines"] == 0 and preview["total"] == "0.00"
    assert {x["scheme"] for x in preview["skipped"]} == {"only_child_reward"}
    assert preview["skipped"][0]["org"] == "测试县计生协" and preview["skipped"][0]["months"] > 0
    assert "测试县计生协的公益金账簿发放" in preview["warnings"][0]
    page = client.get("/entitlements/preview?month=2024-06", headers=town_a)  # the web page says it too
    assert page.status_code == 200 and "注意：独生子女父母奖励由测试县计生协的公益金账簿发放" in page.text
    # A reader who pays nowhere (the auditor) sees what the payer's run would pay.
    audit = client.get(f"/api/entitlements/preview?month=2024-06&org_id={tree.town_a.id}",
                       headers=auth_for(Role.auditor, tree.county.id)).json()
    assert audit["skipped"] == [] and audit["lines"] == preview["skipped"][0]["lines"] > 0
    with factory() as db:
        before = db.scalar(select(func.count()).select_from(EntitlementRun))
    refused = client.post("/api/entitlements/runs", json={"month": "2024-06", "org_id": tree.town_a.id,
                                                          "pay_date": "2024-06-25"}, headers=town_a)
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in refused.json()["errors"]} == {"org"}
    assert "测试县计生协" in refused.json()["errors"][0]["message"]
    with factory() as db:
        assert db.scalar(select(func.count()).select_from(EntitlementRun)) == before
        assert db.scalar(select(func.count()).select_from(EntitlementLine)) == 0

    # 乙乡 pays its own special-family programme: its secretary's run pays that and leaves the county's lines.
    with factory() as db:
        service.post_income(db, Path(settings.ledger_dir), ALL, db.scalar(select(FundBook.id).where(
            FundBook.org_id == tree.town_b.id)) or 0, key="town-b-fund", date="2024-01-02", amount="20000.00",
            source="budget", payer="乡财政所", voucher="收-乙-1", narration="特殊家庭扶助资金")
        ent.set_programme(db, ALL, tree.town_b.id, scheme="special_family", first_month="2024-01")
    town_b = auth_for(Role.secretary, tree.town_b.id)
    partial = ran(client, {"month": "2024-06", "org_id": tree.town_b.id, "pay_date": "2024-06-25"}, town_b)
    assert partial["status"] == "partial" and partial["lines"] > 0
    assert [x["scheme"] for x in partial["basis"]["skipped"]] == ["only_child_reward"]
    with factory() as db:
        assert set(db.scalars(select(EntitlementLine.scheme))) == {"special_family"}
        assert set(db.scalars(select(EntitlementLine.household_id))) == {world.households["D"]}
    # The county's run pays the rest; the partial run never counts as a complete one.
    county = ran(client, {"month": "2024-06", "pay_date": "2024-06-26"}, admin)
    assert county["status"] == "done" and county["lines"] > 0
    recon = client.get("/api/entitlements/reconcile?from=2024-01&to=2024-06", headers=admin).json()
    assert recon["clean"], recon["rows"][:5]

    # The CLI as the same secretary: the preview warns, the run is refused naming the payer, exit status 1.
    env = {**os.environ, "ASSOC_DATABASE_URL": settings.database_url, "ASSOC_LEDGER_DIR": str(settings.ledger_dir)}
    with factory() as db:
        user = auth_services.create_user(db, "jiazhen-secretary", "pw-jiazhen-2026")
        auth_services.grant_role(db, user, Role.secretary, tree.town_a.id)
        db.commit()
    base = [sys.executable, "-m", "assoc_ledger.cli", "entitlements"]
    shown = subprocess.run([*base, "preview", "2024-07", "--org", "甲镇", "--user", "jiazhen-secretary"], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=300, check=False)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "注意" in shown.stdout and "测试县计生协" in shown.stdout
    cli_run = subprocess.run([*base, "run", "2024-07", "--org", "甲镇", "--user", "jiazhen-secretary", "--date",
                              "2024-07-25"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                             check=False)
    assert cli_run.returncode != 0 and "测试县计生协" in cli_run.stdout + cli_run.stderr
    with factory() as db:
        assert db.scalar(select(func.count()).select_from(EntitlementRun)) == before + 2


def test_a_run_in_the_background_is_refused_while_another_runs_and_shows_a_failure(
        client: TestClient[Any], settings: Settings, tree: Tree, auth_for: AuthFor) -> None:
    admin = auth_for(Role.admin, tree.county.id)
    ledger_dir = Path(settings.ledger_dir)
    factory = make_sessionmaker(make_engine(settings.database_url))
    with factory() as db:
        service.open_book(db, ledger_dir, tree.county.id, ALL)
    # No programme yet: the run starts, then fails, and says why when polled.
    failed = ran(client, {"month": "2024-06", "pay_date": "2024-06-25"}, admin)
    assert failed["status"] == "failed" and "尚未设定任何发放项目" in failed["problem"]
    # Another run holds the lock (the CLI, another server): 409, and no run row is written.
    with ent.run_lock(ledger_dir):
        busy = client.post("/api/entitlements/runs", json={"month": "2024-06", "pay_date": "2024-06-25"},
                           headers=admin)
        assert busy.status_code == 409 and busy.json()["errors"][0]["field"] == "month"
    with factory() as db:
        assert [r.status for r in db.scalars(select(EntitlementRun))] == ["failed"]
        # A run left "running" by a process that died (nobody holds the lock) shows as interrupted.
        row = db.scalars(select(EntitlementRun)).one()
        row.status = "running"
        db.commit()
    assert client.get(f"/api/entitlements/runs/{row.id}", headers=admin).json()["status"] == "interrupted"
    with ent.run_lock(ledger_dir):  # while some process holds the lock, it is running
        assert client.get(f"/api/entitlements/runs/{row.id}", headers=admin).json()["status"] == "running"


def _seq(settings: Settings, roll: FundRoll) -> int:
    from assoc_ledger.fund.models import FundEntry

    factory = make_sessionmaker(make_engine(settings.database_url))
    with factory() as db:
        entry = db.get(FundEntry, roll.entry_id)
        assert entry is not None
        return entry.seq
