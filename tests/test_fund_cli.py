"""The ``assoc-ledger ledger`` commands as an operator runs them: post, a retry that posts nothing,
verify naming a hand-edited entry, rebuild restoring it, bean-check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import Tree

CLI = str(Path(sys.executable).with_name("assoc-ledger"))


def test_cli_post_verify_tamper_rebuild(sqlite_url: str, tmp_path: Path) -> None:
    from assoc_ledger.core.db import make_engine, make_sessionmaker

    factory: sessionmaker[Session] = make_sessionmaker(make_engine(sqlite_url))
    with factory() as session:
        tree = Tree(session)
        session.commit()
    ledgers = tmp_path / "ledgers"
    env = {**os.environ, "ASSOC_DATABASE_URL": sqlite_url, "ASSOC_LEDGER_DIR": str(ledgers), "COLUMNS": "200"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CLI, "ledger", *args], env=env, capture_output=True, text=True, check=False)

    assert run("init").returncode == 0
    slug = f"county-{tree.county.id}"
    post = ["post", "income", "--book", slug, "--date", "2026-03-02", "--amount", "5000.00", "--voucher", "收-3-1",
            "--source", "donation_company", "--party", "宏达建材有限公司"]
    first, again = run(*post), run(*post)
    assert "已记账" in first.stdout
    assert "未重复记账" in again.stdout
    bad = run("post", "payment", "--book", slug, "--date", "2026-03-03", "--amount", "9000.00",
              "--voucher", "付-3-1", "--category", "key", "--party", "某户")
    assert bad.returncode == 2
    assert "余额不足" in bad.stdout
    assert run("verify").returncode == 0
    year = ledgers / slug / "2026.beancount"
    good = year.read_bytes()
    year.write_bytes(good.replace(b"5000.00 CNY", b"5600.00 CNY", 1))
    verified = run("verify", slug)
    assert verified.returncode == 1
    assert "2026.beancount:4 seq 1" in verified.stdout
    assert run("bean-check", slug).returncode == 1
    assert run("rebuild").returncode == 0
    assert year.read_bytes() == good
    assert run("bean-check").returncode == 0
    journal = run("journal", slug, "--text", "宏达")
    assert "收-3-1" in journal.stdout
    # Earmark rules: listed, added from a date after the last entry, refused before it.
    listed = run("earmark", slug)
    assert listed.returncode == 0
    assert "Income:MaintenanceFeeShare" in listed.stdout and "10.00%" in listed.stdout
    early = run("earmark", slug, "--source", "maintenance_fee", "--percent", "15", "--from", "2026-03-02")
    assert early.returncode == 2
    assert "生效日期须晚于" in early.stdout
    added = run("earmark", slug, "--source", "maintenance_fee", "--percent", "15", "--from", "2026-04-01")
    assert added.returncode == 0, added.stdout + added.stderr
    assert "已新增规则" in added.stdout and "15.00%" in added.stdout
    assert "规则已存在" in run("earmark", slug, "--source", "maintenance_fee", "--percent", "15",
                               "--from", "2026-04-01").stdout
    assert run("bean-check", slug).returncode == 0
    assert run("verify").returncode == 0
