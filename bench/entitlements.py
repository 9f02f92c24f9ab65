"""Monthly entitlements at county scale: 100,000 households of mixed kinds, on SQLite and PostgreSQL.

Cases, each in its own process (time, and that process's own peak resident set), in this order on one database:
a first run paying 24 months of arrears (the programmes start 24 months before the run), one month's run,
the same month again, and reconciliation of 12 months. Targets: a month ≤ 10 s, the repeat ≤ 2 s,
reconciliation of 12 months ≤ 10 s, peak memory ≤ 300 MB.

The households are written straight into the registry's tables (the event log and its projection) by
executemany: this bench measures runs, not registration (bench/import_households.py measures that). Kinds:
only-child households with certificates issued over 2010–2025 (some children turn 14 in the window, some get
a sibling, some move between townships or out of the county), special families (the only child died), and
other kinds that are not due anything. After the cases, bean-check of the county book the runs wrote is
measured in the same run as the reference (same machine, same load), and the load average is recorded.
Results: a table and ``bench/results/entitlements.json``.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._imports import pg_database, postgres, prepare_db
from bench._memory import bean_check_seconds, peak_rss_mib

RESULTS = Path(__file__).resolve().parent / "results" / "entitlements.json"
SIZE = int(os.environ.get("BENCH_SIZE", "100000"))
SEED = 2026
ARREARS_MONTH, MONTH = "2025-11", "2025-12"
FIRST_MONTH = "2023-12"  # 24 months up to ARREARS_MONTH
RECONCILE = ("2025-01", "2025-12")
TARGETS = {"month run": 10.0, "same month again": 2.0, "reconcile 12 months": 10.0}


def populate(url: str, ledger_dir: Path, size: int) -> dict[str, int]:
    """The households, a funded county book, the programmes and the special-family standard."""
    from sqlalchemy import insert, select

    from assoc_ledger.auth import audit
    from assoc_ledger.auth.scope import Perm, Scope
    from assoc_ledger.core.db import make_engine, make_sessionmaker
    from assoc_ledger.entitlements import services as ent
    from assoc_ledger.fund import service, standards
    from assoc_ledger.households.models import Household, HouseholdEvent, HouseholdKind, HouseholdMember
    from assoc_ledger.orgs.models import Organisation
    from assoc_ledger.people.models import Person

    audit.install()
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    everything = Scope.everything()
    rng = random.Random(SEED)
    with factory() as db:
        county = db.scalar(select(Organisation).where(Organisation.parent_id.is_(None)))
        assert county is not None
        villages = list(db.execute(select(Organisation.id, Organisation.parent_id)
                                   .where(Organisation.kind.in_(["village", "community"]))).all())
        county_id = county.id
    with factory() as db:
        book = service.open_book(db, ledger_dir, county_id, everything).id
    with factory() as db:
        service.post_income(db, ledger_dir, everything, book, key="bench-fund", date="2023-01-03",
                            amount="900000000.00", source="budget", payer="县财政局", voucher="收-1",
                            narration="奖励扶助资金")
    with factory() as db:
        standards.set_aid_standard(db, Scope.everything(Perm.fund_write), county_id, scheme="special_family",
                                   amount="590.00", effective_from="2020-01-01", basis="bench")
        for scheme in ("only_child_reward", "special_family"):
            ent.set_programme(db, everything, county_id, scheme=scheme, first_month=FIRST_MONTH)
    now = datetime.now(UTC)
    people: list[dict[str, Any]] = []
    households: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    members: list[dict[str, Any]] = []
    kinds: list[dict[str, Any]] = []
    pid = eid = 0
    counts = {"only_child": 0, "special_family": 0, "other": 0, "moved": 0, "left_county": 0, "second_child": 0}

    def person(org: int, born: date, name: str) -> int:
        nonlocal pid
        pid += 1
        people.append({"id": pid, "name": name, "resident_id_cipher": b"bench", "resident_id_hash": f"{pid:064x}",
                       "resident_id_region": "341799", "resident_id_tail": f"{pid % 10000:04d}", "birth_date": born,
                       "sex": "1" if pid % 2 else "2", "org_id": org, "created_at": now, "updated_at": now})
        return pid

    def event(h: int, what: str, on: date, person_id: int | None = None, **data: Any) -> None:
        nonlocal eid
        eid += 1
        events.append({"id": eid, "household_id": h, "kind": what, "effective_on": on, "recorded_at": now,
                       "recorded_by_id": None, "recorded_by": "bench", "person_id": person_id, "data": data})

    def flush() -> None:
        with factory() as db:
            for model, rows in ((Person, people), (Household, households), (HouseholdEvent, events),
                                (HouseholdMember, members), (HouseholdKind, kinds)):
                if rows:
                    db.execute(insert(model), rows)
            db.commit()
        for rows in (people, households, events, members, kinds):
            rows.clear()

    for i in range(size):
        hid = i + 1
        org, _town = villages[i % len(villages)]
        child_born = date(2008, 1, 1) + timedelta(days=rng.randrange(0, 365 * 17))
        registered = child_born
        head = person(org, child_born - timedelta(days=365 * 28), f"户主{i}")
        spouse = person(org, child_born - timedelta(days=365 * 26), f"配偶{i}")
        child = person(org, child_born, f"子女{i}")
        roll = rng.random()
        households.append({"id": hid, "org_id": org, "address": f"{i % 12 + 1}组", "registered_on": registered,
                           "active": True, "created_at": now})
        event(hid, "registered", registered, org_id=org, address=f"{i % 12 + 1}组",
              members=[{"person_id": head, "relation": "户主"}, {"person_id": spouse, "relation": "配偶"},
                       {"person_id": child, "relation": "子女"}])
        for p, rel in ((head, "户主"), (spouse, "配偶"), (child, "子女")):
            members.append({"household_id": hid, "person_id": p, "relation": rel, "since": registered})
        if roll < 0.90:
            issued = min(child_born + timedelta(days=rng.randrange(30, 900)), date(2025, 10, 1))
            event(hid, "certificate_issued", issued, certificate_no=f"GRZ{i:07d}", child_id=child)
            kinds.append({"household_id": hid, "kind": "only_child", "since": issued})
            counts["only_child"] += 1
            late = rng.random()
            if late < 0.03:
                to_org = villages[(i + 7) % len(villages)][0]
                event(hid, "move_out", date(2024, 1, 1) + timedelta(days=rng.randrange(0, 600)), to_org_id=to_org)
                counts["moved"] += 1
            elif late < 0.04:
                event(hid, "move_out", date(2024, 1, 1) + timedelta(days=rng.randrange(0, 600)), out_of_county=True)
                counts["left_county"] += 1
            elif late < 0.06:
                born = date(2024, 1, 1) + timedelta(days=rng.randrange(0, 600))
                second = person(org, born, f"次子{i}")
                event(hid, "birth", born, second, relation="子女")
                counts["second_child"] += 1
            elif late < 0.08:
                event(hid, "death", date(2022, 1, 1) + timedelta(days=rng.randrange(0, 1000)), child)
                counts["special_family"] += 1
        else:
            event(hid, "kind_added", registered + timedelta(days=10), kind="two_daughter", evidence="结扎证明")
            kinds.append({"household_id": hid, "kind": "two_daughter", "since": registered + timedelta(days=10)})
            counts["other"] += 1
        if len(people) >= 30_000:
            flush()
    flush()
    engine.dispose()
    return counts


def child(url: str, ledger_dir: str, case: str) -> None:
    """One case in this process; prints a JSON line with its figures."""
    from sqlalchemy import text

    from assoc_ledger.auth import audit
    from assoc_ledger.auth.scope import Scope
    from assoc_ledger.core.db import make_engine, make_sessionmaker
    from assoc_ledger.entitlements import services as ent

    audit.install()
    factory = make_sessionmaker(make_engine(url))
    with factory() as s:  # warm: connection, mappers
        s.execute(text("SELECT 1"))
    started, cpu = time.perf_counter(), time.process_time()
    figures: dict[str, Any] = {}
    with factory() as db:
        if case == "reconcile 12 months":
            report = ent.reconcile(db, Scope.everything(), *RECONCILE)
            figures = {"household_months": report.household_months_due, "paid": report.household_months_paid,
                       "differences": sum(report.counts.values())}
        else:
            month, day = (ARREARS_MONTH, date(2025, 11, 25)) if case.startswith("first run") else (
                MONTH, date(2025, 12, 25) if case == "month run" else date(2025, 12, 26))
            row = ent.run(db, Path(ledger_dir), Scope.everything(), month, pay_date=day)
            figures = {"lines": row.lines, "household_months": row.months, "arrears_months": row.arrears_months,
                       "total": row.total_fen / 100, "exits": row.exits}
    # cpu: this process's own processor time (SQLite works inside it; PostgreSQL's server is not counted). On
    # a shared machine the wall-clock time is this plus the time spent waiting for a core.
    figures |= {"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu,
                "peak_rss_mb": peak_rss_mib()}
    print(json.dumps(figures, ensure_ascii=False))


def _run_child(url: str, ledger_dir: Path, case: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "bench.entitlements", "--child", url, str(ledger_dir), case],
                         check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


CASES = ("first run, 24 months of arrears", "month run", "same month again", "reconcile 12 months")


def _backend(tmp: Path, name: str, url: str) -> list[dict[str, Any]]:
    prepare_db(url)
    ledger_dir = tmp / f"ledgers-{name}"
    t0 = time.perf_counter()
    counts = populate(url, ledger_dir, SIZE)
    print(f"{name}: {SIZE} households written in {time.perf_counter() - t0:.1f} s {counts}", flush=True)
    rows: list[dict[str, Any]] = []
    for case in CASES:
        r = _run_child(url, ledger_dir, case)
        label = f"{case} ({name})"
        rows.append({"case": label, "size": SIZE, "metric": "time", "value": round(r["seconds"], 2), "unit": "s"})
        rows.append({"case": label, "size": SIZE, "metric": "cpu_time", "value": round(r["cpu_seconds"], 2),
                     "unit": "s"})
        rows.append({"case": label, "size": SIZE, "metric": "peak_rss", "value": round(r["peak_rss_mb"], 1),
                     "unit": "MB"})
        for key in ("household_months", "arrears_months", "lines", "differences"):
            if key in r:
                rows.append({"case": label, "size": SIZE, "metric": key, "value": r[key], "unit": "count"})
        target = TARGETS.get(case)
        verdict = "" if target is None else (" ok" if r["seconds"] <= target else f" OVER {target} s")
        print(f"{label:44} {r['seconds']:7.2f} s (cpu {r['cpu_seconds']:6.2f} s)  peak RSS {r['peak_rss_mb']:6.1f} MB"
              f"{verdict}  { {k: v for k, v in r.items() if k not in ('seconds', 'cpu_seconds', 'peak_rss_mb')} }",
              flush=True)
    # The reference measured in the same run, on the same machine and load: bean-check of the county book
    # the runs wrote (its rolls checked by the plugin), and the load average while the cases ran.
    for main_file in sorted(ledger_dir.glob("*/main.beancount")):
        seconds = bean_check_seconds(main_file)
        label = f"bean-check of the {main_file.parent.name} book ({name})"
        rows.append({"case": label, "size": SIZE, "metric": "time", "value": round(seconds, 2), "unit": "s"})
        print(f"{label:44} {seconds:7.2f} s", flush=True)
    load = os.getloadavg()[1]
    rows.append({"case": f"load average, 5 min, after the cases ({name})", "size": SIZE, "metric": "load",
                 "value": round(load, 2), "unit": "count"})
    print(f"load average (5 min) after the {name} cases: {load:.2f}", flush=True)
    return rows


@contextmanager
def _kept(path: str) -> Iterator[str]:
    Path(path).mkdir(parents=True, exist_ok=True)
    yield path


def main() -> None:
    from assoc_ledger.core.crypto import new_key_text

    os.environ.setdefault("ASSOC_ID_KEY", new_key_text())  # never a key file in the working directory
    rows: list[dict[str, Any]] = []
    only = os.environ.get("BENCH_BACKEND", "")  # "sqlite" or "postgres" to run one of them
    cluster = postgres() if "sqlite" not in only else None
    try:
        keep = os.environ.get("BENCH_DIR")  # keep the databases there (for profiling a case)
        with (tempfile.TemporaryDirectory(prefix="bench-entitlements-") if not keep else _kept(keep)) as tmp:
            if "postgres" not in only:
                rows += _backend(Path(tmp), "SQLite", f"sqlite:///{Path(tmp) / 'ent.sqlite3'}")
            if cluster is not None:
                url = pg_database(f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/postgres", "bench_ent")
                rows += _backend(Path(tmp), "PostgreSQL", url)
    finally:
        if cluster is not None:
            cluster.stop()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten {RESULTS}")


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        main()
