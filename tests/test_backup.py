"""Backups taken while four writers post, restored elsewhere: verified books, every acknowledged entry kept.

Real processes throughout: writers post through the real service, ``assoc-ledger backup`` and ``restore``
run as a user would run them, and the restored books pass ``ledger verify``, ``audit verify`` and bean-check.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, select, text
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.core.db import make_engine, make_sessionmaker
from assoc_ledger.fund.models import FundBook, FundEntry
from tests.conftest import Tree
from tests.fund_support import bean_check, open_books

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "assoc_ledger.cli"]
pytestmark = pytest.mark.slow


def _env(url: str, ledger_dir: Path, uploads: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSOC_")}
    env.update({"ASSOC_DATABASE_URL": url, "ASSOC_LEDGER_DIR": str(ledger_dir),
                "ASSOC_UPLOAD_DIR": str(uploads or ledger_dir.parent / f"{ledger_dir.name}-uploads")})
    return env


def _cli(args: list[str], url: str, ledger_dir: Path, cwd: Path,
         uploads: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=_env(url, ledger_dir, uploads), cwd=cwd, capture_output=True,
                          text=True, timeout=600, check=False)


class Writers:
    """Writer processes posting to one book; their acknowledgements are collected as they arrive."""

    def __init__(self, url: str, ledger_dir: Path, book_id: int, count: int) -> None:
        self.acked: list[str] = []
        self.lock = threading.Lock()
        self.procs = [subprocess.Popen([sys.executable, "-m", "tests.fund_writer", url, str(ledger_dir),
                                        str(book_id), str(w), "0", "100000"], cwd=ROOT, text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE) for w in range(count)]
        self.threads = [threading.Thread(target=self._read, args=(w, p), daemon=True)
                        for w, p in enumerate(self.procs)]
        for t in self.threads:
            t.start()

    def _read(self, worker: int, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("ACK"):
                with self.lock:
                    self.acked.append(f"w{worker}-{line.split()[1]}")

    def so_far(self) -> set[str]:
        with self.lock:
            return set(self.acked)

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(timeout=60)
        for t in self.threads:
            t.join(timeout=10)


def _empty_target(db_url: str, tmp_path: Path) -> str:
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'restored' / 'assoc.sqlite3'}"
    name = "restored_" + uuid.uuid4().hex[:10]
    admin = create_engine(make_url(db_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(db_url).set(database=name).render_as_string(hide_password=False)


def test_backup_while_four_writers_post_restores_elsewhere_verified(
        db_url: str, session_factory: sessionmaker[Session], tmp_path: Path) -> None:
    with session_factory() as session:
        tree = Tree(session)
        session.commit()
    ledger_dir = tmp_path / "ledgers"
    books = open_books(session_factory, ledger_dir, tree.county.id, tree.town_a.id, tree.town_b.id)
    writers = Writers(db_url, ledger_dir, books.county, 4)
    try:
        deadline = time.monotonic() + 120
        while len(writers.so_far()) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        before = writers.so_far()
        assert len(before) >= 40, "writers did not start"
        backup_dir = tmp_path / "backup"
        taken = _cli(["backup", str(backup_dir)], db_url, ledger_dir, tmp_path)
        assert taken.returncode == 0, taken.stdout + taken.stderr
        time.sleep(0.5)  # writers go on after the backup; none of that may reach the restored copy
    finally:
        writers.stop()
    after = writers.so_far()
    assert len(after) > len(before)

    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert {b["slug"] for b in manifest["books"]} == {f"county-{tree.county.id}", f"town-{tree.town_a.id}",
                                                      f"township-{tree.town_b.id}"}
    target_url = _empty_target(db_url, tmp_path)
    target_ledgers = tmp_path / "restored-ledgers"
    restored = _cli(["restore", str(backup_dir)], target_url, target_ledgers, tmp_path)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    for command in (["ledger", "verify"], ["audit", "verify"]):
        checked = _cli(command, target_url, target_ledgers, tmp_path)
        assert checked.returncode == 0, checked.stdout + checked.stderr

    engine = make_engine(target_url)
    with make_sessionmaker(engine)() as db:
        county = db.get(FundBook, books.county)
        assert county is not None
        keys = Counter(db.scalars(select(FundEntry.idem_key).where(FundEntry.book_id == books.county)).all())
        slug = county.slug
        entries = {b["slug"]: b["entries"] for b in manifest["books"]}
        assert county.next_seq - 1 == entries[slug] == sum(keys.values())
    engine.dispose()
    missing = sorted(before - set(keys))
    assert missing == [], f"acknowledged before the backup began but not restored: {missing[:5]}"
    assert max(keys.values()) == 1
    assert bean_check(target_ledgers / slug / "main.beancount").returncode == 0

    # Restoring over live data is refused and changes nothing.
    snapshot = {p: p.read_bytes() for p in target_ledgers.rglob("*.beancount")}
    again = _cli(["restore", str(backup_dir)], target_url, target_ledgers, tmp_path)
    assert again.returncode == 2
    assert "恢复只能写入空" in again.stdout
    assert {p: p.read_bytes() for p in target_ledgers.rglob("*.beancount")} == snapshot
    over_live_db = _cli(["restore", str(backup_dir)], target_url, tmp_path / "fresh-ledgers", tmp_path)
    assert over_live_db.returncode == 2
    assert "目标数据库中已有数据" in over_live_db.stdout
    assert not (tmp_path / "fresh-ledgers").exists() or not any((tmp_path / "fresh-ledgers").iterdir())


def test_a_damaged_backup_is_refused_before_anything_is_written(sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    factory = make_sessionmaker(engine)
    with factory() as session:
        tree = Tree(session)
        session.commit()
    ledger_dir = tmp_path / "ledgers"
    open_books(factory, ledger_dir, tree.county.id, tree.town_a.id, tree.town_b.id)
    engine.dispose()
    backup_dir = tmp_path / "backup"
    assert _cli(["backup", str(backup_dir)], sqlite_url, ledger_dir, tmp_path).returncode == 0
    refused = _cli(["backup", str(backup_dir)], sqlite_url, ledger_dir, tmp_path)
    assert refused.returncode == 2 and "不是空目录" in refused.stdout
    accounts = next(backup_dir.glob("ledgers/county-*/accounts.beancount"))
    accounts.write_text(accounts.read_text().replace("2020-01-01", "2019-01-01", 1))
    target = tmp_path / "restored" / "assoc.sqlite3"
    result = _cli(["restore", str(backup_dir)], f"sqlite:///{target}", tmp_path / "restored-ledgers", tmp_path)
    assert result.returncode == 2
    assert "备份已损坏或被改动" in result.stdout and "accounts.beancount" in result.stdout
    assert not target.exists()
    assert not (tmp_path / "restored-ledgers").exists()


def test_uploads_travel_with_the_backup(sqlite_url: str, tmp_path: Path) -> None:
    """Signed visit sheets are evidence too: backed up with their digests, restored only into an empty folder."""
    ledger_dir = tmp_path / "ledgers"
    uploads = tmp_path / "uploads"
    sheet = uploads / "ab" / ("ab" + "0" * 62 + ".png")
    sheet.parent.mkdir(parents=True)
    sheet.write_bytes(b"\x89PNG\r\n\x1a\n signed sheet")
    backup_dir = tmp_path / "backup"
    assert _cli(["backup", str(backup_dir)], sqlite_url, ledger_dir, tmp_path, uploads).returncode == 0
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert f"uploads/ab/{sheet.name}" in manifest["files"]
    target = f"sqlite:///{tmp_path / 'restored' / 'assoc.sqlite3'}"
    busy = tmp_path / "busy-uploads"
    busy.mkdir()
    (busy / "other.pdf").write_bytes(b"%PDF-1.4")
    refused = _cli(["restore", str(backup_dir)], target, tmp_path / "r-ledgers", tmp_path, busy)
    assert refused.returncode == 2 and "上传文件目录" in refused.stdout
    assert not (tmp_path / "restored" / "assoc.sqlite3").exists()
    restored_uploads = tmp_path / "restored-uploads"
    done = _cli(["restore", str(backup_dir)], target, tmp_path / "r-ledgers", tmp_path, restored_uploads)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (restored_uploads / "ab" / sheet.name).read_bytes() == sheet.read_bytes()
