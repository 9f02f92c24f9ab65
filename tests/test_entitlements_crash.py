"""kill -9 during entitlement runs, twenty times, then one run to the end: every household-month due is paid
exactly once, the books verify, and reconciliation is clean. Also two runs started at once: one is refused.

Run as a module (``python -m tests.test_entitlements_crash MONTH DATE``) it is the process being killed: the
real CLI command, with a SIGKILL at an exact moment after a commit when ``KILL_AT`` says so.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from assoc_ledger.core.db import make_engine, make_sessionmaker
from assoc_ledger.entitlements import services as ent
from assoc_ledger.entitlements.models import EntitlementLine, EntitlementRun
from assoc_ledger.fund import service, verify
from assoc_ledger.fund.models import FundBook
from tests.conftest import Tree
from tests.crash import preloaded
from tests.entitlements_world import ALL, build

ROOT = Path(__file__).resolve().parents[1]


def _env(url: str, ledger_dir: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "ASSOC_DATABASE_URL": url, "ASSOC_LEDGER_DIR": str(ledger_dir), **extra}


def _months() -> list[tuple[str, str]]:
    out = []
    for k in range(20):
        y, m = 2024 + k // 12, k % 12 + 1
        out.append((f"{y}-{m:02d}", f"{y}-{m:02d}-25"))
    return out


@pytest.mark.slow
def test_runs_killed_twenty_times_pay_every_month_once(sqlite_url: str, tmp_path: Path) -> None:
    factory = make_sessionmaker(make_engine(sqlite_url))
    ledger_dir = tmp_path / "ledgers"
    with factory() as db:
        tree = Tree(db)
        db.commit()
    build(factory, ledger_dir, tree, extra=150)
    rng = random.Random(20261123)
    kinds = []
    # The runs are forked from an interpreter that has imported the CLI (tests/crash.py): a random kill's pause
    # is counted from the start of the run itself, not from a fresh interpreter's second or two of imports.
    with preloaded("tests.test_entitlements_crash", "assoc_ledger.cli") as runs:
        for n, (month, day) in enumerate(_months()):
            # Every other run dies exactly after a commit (a roll about to be renamed into place, an entry's
            # text about to be appended); the others at a random moment of the run.
            moment = {0: "roll", 2: "text"}.get(n % 4)
            extra = {"KILL_AT": moment, "KILL_NTH": "1"} if moment else {}
            victim = runs.start([month, day], _env(sqlite_url, ledger_dir, **extra))
            if moment:
                victim.wait(timeout=300)
            else:
                time.sleep(rng.uniform(0.0, 2.2))
                victim.kill()
            _, err = victim.communicate(timeout=300)
            kinds.append(victim.returncode)
            # A run told where to die dies there; one killed at a random moment may have finished first (a slow
            # or a fast machine), which is fine: the next run then has less to do.
            assert victim.returncode in ((-signal.SIGKILL,) if moment else (-signal.SIGKILL, 0)), err[-2000:]
    assert kinds.count(-signal.SIGKILL) >= 10, kinds
    # What start-up does, then one run to the end.
    with factory() as db:
        service.recover_all(db, ledger_dir)
    last_month, last_day = _months()[-1]
    done = subprocess.run([sys.executable, "-m", "tests.test_entitlements_crash", last_month, last_day], cwd=ROOT,
                          env=_env(sqlite_url, ledger_dir), capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    with factory() as db:
        statuses = [r.status for r in db.scalars(select(EntitlementRun).order_by(EntitlementRun.id))]
        assert statuses[-1] == "done" and "running" not in statuses[:-1]
        report = ent.reconcile(db, ALL, "2024-01", last_month)
        lines = db.scalar(select(func.count()).select_from(EntitlementLine))
        for book in db.scalars(select(FundBook)):
            assert verify.verify_book(db, ledger_dir, book).ok
            assert verify.verify_rolls(db, ledger_dir, book) == []
    print(f"exit codes {kinds}; runs {statuses}; {lines} lines; due {report.household_months_due} "
          f"paid {report.household_months_paid}")
    assert report.clean, [(d.kind, d.household_id, d.month, d.reason) for d in report.rows[:10]]
    assert report.household_months_due == report.household_months_paid > 150 * 12


def test_two_runs_at_once_one_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    factory = make_sessionmaker(make_engine(sqlite_url))
    ledger_dir = tmp_path / "ledgers"
    with factory() as db:
        tree = Tree(db)
        db.commit()
    build(factory, ledger_dir, tree, extra=200)
    procs = [subprocess.Popen([sys.executable, "-m", "assoc_ledger.cli", "entitlements", "run", "2024-06",
                               "--date", "2024-06-25"], cwd=ROOT, env=_env(sqlite_url, ledger_dir),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.communicate()[0]) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes in ([0, 0], [0, 2]), results
    with factory() as db:
        runs = db.scalars(select(EntitlementRun)).all()
        report = ent.reconcile(db, ALL, "2024-01", "2024-06")
    assert report.clean
    if codes == [0, 2]:  # the second found the first running: refused, nothing written by it
        assert any("正在进行" in out for _, out in results)
        assert len(runs) == 1
    else:  # the second started after the first had finished: it found nothing new to pay
        assert sorted(r.lines for r in runs)[0] == 0


def main() -> None:
    month, day = sys.argv[1:3]
    if os.environ.get("KILL_AT"):
        from tests.fund_caller_writer import kill_at

        sys.addaudithook(kill_at(os.environ["KILL_AT"], int(os.environ.get("KILL_NTH", "1"))))
    from assoc_ledger.cli import app

    app(["entitlements", "run", month, "--date", day], standalone_mode=True)


if __name__ == "__main__":
    main()
