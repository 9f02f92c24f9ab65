"""The entitlements over real HTTP and the real CLI: preview, run, the same month again, reconciliation (JSON,
XLSX, exit status) and the village 发放花名册 whose totals add up to the roll in the books."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from litestar.testing import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from assoc_ledger.auth.scope import Role
from assoc_ledger.core.config import Settings
from assoc_ledger.core.db import make_engine, make_sessionmaker
from assoc_ledger.entitlements.models import EntitlementLine
from assoc_ledger.fund import rolls
from assoc_ledger.fund.models import FundBook, FundRoll
from tests.conftest import AuthFor, Tree
from tests.entitlements_world import build, event

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

    first = client.post("/api/entitlements/runs", json={"month": "2024-06", "pay_date": "2024-06-25"}, headers=admin)
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["status"], body["lines"], body["total"]) == ("done", preview.json()["lines"],
                                                               preview.json()["total"])
    again = client.post("/api/entitlements/runs", json={"month": "2024-06", "pay_date": "2024-06-26"}, headers=admin)
    assert (again.json()["lines"], again.json()["total"]) == (0, "0.00")
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


def _seq(settings: Settings, roll: FundRoll) -> int:
    from assoc_ledger.fund.models import FundEntry

    factory = make_sessionmaker(make_engine(settings.database_url))
    with factory() as db:
        entry = db.get(FundEntry, roll.entry_id)
        assert entry is not None
        return entry.seq
