"""Roster import from XLSX: time and peak memory for 10,000 and 100,000 rows (target: 100k under 60 s).

Each import runs in its own subprocess against a fresh, migrated SQLite database holding the demo
county's organisations, so the peak resident set (VmHWM) is that import's own. Comparing the two sizes shows
whether memory grows with the file. The files are generated deterministically (fixed seed) with
openpyxl and laid out as Excel saves them (text in the shared-string table). Results: a table on stdout and
``bench/results/import_roster.json`` as rows ``{"case", "size", "metric", "value", "unit"}``.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench._memory import peak_rss_mib

RESULTS = Path(__file__).resolve().parent / "results" / "import_roster.json"
SIZES = (10_000, 100_000)
SEED = 31
HEADERS = ["姓名", "身份证号", "联系电话", "所属组织", "职务", "入会日期", "是否志愿者", "住址", "志愿服务技能",
           "会员小组"]


def write_roster(path: Path, rows: int) -> None:
    """A valid roster of ``rows`` members spread over the demo county's villages."""
    from openpyxl import Workbook
    from stdnum.cn import ric

    from assoc_ledger.demo import county

    orgs = [o for o in county.organisations() if o.kind.value in ("village", "community")]
    units = {o.key: o for o in county.organisations()}
    # Half the rows name the village by code, half as “镇名/村名”.
    refs = [(o.code or "", f"{units[o.parent_key].name}/{o.name}" if o.parent_key else o.name) for o in orgs]
    rng = random.Random(SEED)
    surnames, given = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗", "秀英桂兰玉华建国志强丽娟海燕春梅文军红霞明德"
    roles = ["会员"] * 12 + ["理事", "小组长", "副会长、理事", "会长", "秘书长", "常务副会长"]
    used: set[str] = set()
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("会员名册")
    ws.append(HEADERS)
    for i in range(rows):
        while True:
            born = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 52))
            body = f"{county.REGION}{born:%Y%m%d}{rng.randrange(0, 1000):03d}"
            number = body + ric.calc_check_digit(body + "0")
            if number not in used:
                used.add(number)
                break
        joined = min(max(born + timedelta(days=365 * 20), date(2003, 1, 1)) + timedelta(days=rng.randrange(0, 4000)),
                     date(2026, 1, 1))
        code, path_name = refs[i % len(refs)]
        ws.append([rng.choice(surnames) + rng.choice(given) + rng.choice(given), number,
                   f"1{rng.choice('3589')}{rng.randrange(10**9):09d}", code if i % 2 else path_name,
                   rng.choice(roles), joined, rng.choice(["是", "否"]), f"演示县{path_name}{i % 12 + 1}组{i % 97}号",
                   "家政服务" if i % 9 == 0 else None, f"第{i % 3 + 1}小组" if i % 4 == 0 else None])
    wb.save(path)
    # Excel keeps text in a shared-string table; openpyxl writes it inline. Lay the file out as Excel does.
    from tests.roster_files import with_shared_strings

    path.write_bytes(with_shared_strings(path.read_bytes()))


def prepare_db(url: str) -> None:
    from assoc_ledger.auth import audit
    from assoc_ledger.core.db import make_engine, make_sessionmaker
    from assoc_ledger.core.migrate import upgrade
    from assoc_ledger.demo import county, load

    upgrade(url)
    audit.install()
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        load.load_orgs(s, county.organisations())
        s.commit()
    engine.dispose()


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(url: str, file: str, dry_run: bool) -> None:
    """One import in this process; prints a JSON line with its figures."""
    from assoc_ledger.auth import audit
    from assoc_ledger.auth.scope import Perm, Scope
    from assoc_ledger.core.db import make_engine, make_sessionmaker
    from assoc_ledger.members.import_roster import import_roster

    audit.install()
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with factory() as s:  # warm: connection, mappers, openpyxl import
        s.execute(__import__("sqlalchemy").text("SELECT 1"))
    import openpyxl  # noqa: F401

    before = _rss_mb()
    started = time.perf_counter()
    with factory() as s, open(file, "rb") as f:
        report = import_roster(s, Scope.everything(Perm.member_write), f, dry_run=dry_run)
        if not dry_run:
            s.commit()
    seconds = time.perf_counter() - started
    peak = peak_rss_mib()
    print(json.dumps({"seconds": seconds, "rows": report.total, "created": report.created,
                      "errors": report.error_rows, "rss_before_mb": before, "peak_rss_mb": peak}))


def _run_child(url: str, file: Path, dry_run: bool) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.import_roster", "--child", url, str(file)] + (["--dry-run"] if dry_run else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1])
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _postgres() -> Any:
    """A throwaway PostgreSQL cluster (the test suite's), or None where the server is not installed."""
    try:
        from tests.pg import Cluster

        cluster = Cluster()
        cluster.start()
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"PostgreSQL cases skipped: {exc}")
        return None
    return cluster


def _pg_database(server_url: str, name: str) -> str:
    from sqlalchemy import create_engine, text

    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


def main() -> None:
    rows_out: list[dict[str, Any]] = []
    cluster = _postgres()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-roster-") as tmp:
            for size in SIZES:
                rows_out += _size(Path(tmp), size, cluster)
    finally:
        if cluster is not None:
            cluster.stop()
    _report(rows_out)


def _size(tmp: Path, size: int, cluster: Any) -> list[dict[str, Any]]:
    rows_out: list[dict[str, Any]] = []
    file = tmp / f"roster-{size}.xlsx"
    t0 = time.perf_counter()
    write_roster(file, size)
    print(f"generated {file.name}: {file.stat().st_size / 2**20:.1f} MB in {time.perf_counter() - t0:.1f} s",
          flush=True)
    runs = [("xlsx dry run (SQLite)", True, None), ("xlsx import (SQLite)", False, None)]
    if cluster is not None:
        runs.append(("xlsx import (PostgreSQL)", False, cluster))
    for case, dry_run, pg in runs:
        if pg is None:
            url = f"sqlite:///{tmp / f'db-{size}-{int(dry_run)}.sqlite3'}"
        else:
            url = _pg_database(f"postgresql+psycopg://postgres@127.0.0.1:{pg.port}/postgres", f"bench_{size}")
        prepare_db(url)
        r = _run_child(url, file, dry_run)
        if r["errors"] or r["rows"] != size:
            raise SystemExit(f"bench file was not clean: {r}")
        rows_out += [
            {"case": case, "size": size, "metric": "time", "value": round(r["seconds"], 2), "unit": "s"},
            {"case": case, "size": size, "metric": "throughput", "value": round(size / r["seconds"]),
             "unit": "rows/s"},
            {"case": case, "size": size, "metric": "peak_rss", "value": round(r["peak_rss_mb"], 1),
             "unit": "MB"},
            {"case": case, "size": size, "metric": "rss_growth", "value":
             round(r["peak_rss_mb"] - r["rss_before_mb"], 1), "unit": "MB"},
            {"case": case, "size": size, "metric": "file_size", "value": round(file.stat().st_size / 2**20, 2),
             "unit": "MB"},
        ]
        print(f"{case:24} {size:>7} rows  {r['seconds']:6.1f} s  peak RSS {r['peak_rss_mb']:6.1f} MB  "
              f"(+{r['peak_rss_mb'] - r['rss_before_mb']:.1f} MB during import)", flush=True)
    return rows_out


def _report(rows_out: list[dict[str, Any]]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows_out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print()
    print(f"{'case':24} {'size':>8} {'metric':12} {'value':>10} unit")
    for row in rows_out:
        print(f"{row['case']:24} {row['size']:>8} {row['metric']:12} {row['value']:>10} {row['unit']}")
    print(f"\nwritten {RESULTS}")


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], dry_run="--dry-run" in sys.argv[4:])
    else:
        main()
