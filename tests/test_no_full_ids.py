"""No full resident ID of the demo county appears in any list response, export, page or log line.

The demo is loaded by the real CLI (once per run, tests/demo_cache.py; this test reads a copy and what the
CLI printed); then, as the county admin, every list endpoint is paged through,
every export downloaded (XLSX unzipped and read as text), member pages rendered, and every log line
of the CLI and the service captured. Each blob is searched for all demo ID numbers.
"""

from __future__ import annotations

import io
import logging
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import create_engine, text

from assoc_ledger.app import create_app
from assoc_ledger.core.config import Settings
from assoc_ledger.demo import county
from tests.demo_cache import DemoBuild, DemoCopy

ID_SHAPE = re.compile(r"\d{17}[\dXx]")
DEMO_PASSWORD = "demo-password-2026"


def demo_resident_ids() -> set[str]:
    """Every resident ID the demo county (scale 1) registers."""
    return {p.resident_id for p in county.members(county.organisations())}


def _leaks(blob: str, ids: set[str]) -> set[str]:
    return {m.upper() for m in ID_SHAPE.findall(blob)} & ids


def _xlsx_text(content: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())


def test_demo_ids_never_leave_unmasked(demo_build: DemoBuild, demo_copy: DemoCopy, tmp_path: Path,
                                      caplog: pytest.LogCaptureFixture) -> None:
    url = demo_copy.url
    blobs: dict[str, str] = {}
    # What `assoc-ledger migrate` and `assoc-ledger demo` printed when the run's demo was loaded (demo_cache.py).
    for command, output in demo_build.outputs.items():
        blobs[f"cli {command}"] = output
    assert set(demo_build.outputs) == {"migrate", "demo"}
    run = subprocess.run([sys.executable, "-m", "assoc_ledger.cli", "export", str(tmp_path / "members.xlsx"),
                          "--status", "all"], env=demo_copy.env(), capture_output=True, text=True, check=False,
                         cwd=demo_copy.root)
    assert run.returncode == 0, run.stdout + run.stderr
    blobs["cli export"] = run.stdout + run.stderr
    blobs["cli export file"] = _xlsx_text((tmp_path / "members.xlsx").read_bytes())

    # The database holds no number to read back: the demo's own (seeded, deterministic) list is the truth.
    ids = demo_resident_ids()
    engine = create_engine(url)
    with engine.connect() as conn:
        person_ids = [r[0] for r in conn.execute(text("SELECT id FROM people ORDER BY id"))]
    engine.dispose()
    assert len(ids) > 3000

    caplog.set_level(logging.DEBUG)
    app = create_app(Settings(database_url=url, ledger_dir=demo_copy.ledger_dir, upload_dir=demo_copy.upload_dir,
                              debug=False))
    with TestClient(app=app, raise_server_exceptions=False) as client:
        login = client.post("/api/auth/login", json={"username": "admin", "password": DEMO_PASSWORD})
        assert login.status_code == 200, login.text
        csrf = login.json()["csrf_token"]
        seen = 0
        offset = 0
        while True:
            page = client.get(f"/api/members?status=all&limit=500&offset={offset}")
            assert page.status_code == 200
            body = page.json()
            blobs[f"members {offset}"] = page.text
            seen += len(body["items"])
            offset += 500
            if offset >= body["total"]:
                break
        assert seen > 3000
        for pid in person_ids[:: max(1, len(person_ids) // 50)]:
            r = client.get(f"/api/people/{pid}")
            blobs[f"person {pid}"] = r.text
            blobs[f"person {pid} memberships"] = client.get(f"/api/people/{pid}/memberships").text
        blobs["orgs"] = client.get("/api/orgs?limit=1000").text
        export = client.get("/api/members/export.xlsx?status=all")
        assert export.status_code == 200
        blobs["api export"] = _xlsx_text(export.content)
        blobs["audit list"] = client.get("/api/audit?limit=1000").text
        blobs["audit csv"] = client.get("/api/audit/export.csv").text
        for n in (1, 2, 3):
            blobs[f"members page {n}"] = client.get(f"/members?status=all&page={n}").text
        # A full view is possible for the admin, and is on the audit log without the number itself.
        shown = client.post(f"/api/people/{person_ids[0]}/reveal-id", json={"reason": "测试核对"},
                            headers={"X-CSRF-Token": csrf})
        assert shown.status_code == 201
        assert shown.json()["resident_id"] in ids
        blobs["audit after reveal"] = client.get("/api/audit/export.csv").text
        assert "person.id_viewed" in blobs["audit after reveal"]
    app.state.engine.dispose()
    blobs["service log"] = "\n".join(r.getMessage() for r in caplog.records)

    leaks: dict[str, set[str]] = {name: found for name, blob in blobs.items() if (found := _leaks(blob, ids))}
    assert not leaks, {k: sorted(v)[:3] for k, v in leaks.items()}
    # The check can fail: the revealed number is a demo ID and would be caught in any blob above.
    assert _leaks(shown.text, ids)


def test_leak_detector_finds_a_planted_id() -> None:
    planted: Any = "前文 11010519491231002X 后文"
    assert _leaks(planted, {"11010519491231002X"}) == {"11010519491231002X"}
