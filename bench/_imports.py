"""The harness shared by the import benchmarks (roster, households): fresh databases, one import per
subprocess (so its peak resident set is its own), the figures as rows and a table.

A benchmark module supplies the file writer and a ``child(url, file, dry_run)`` that imports the file and prints
one JSON line: ``seconds``, ``rows``, ``errors``, ``rss_before_mb``, ``peak_rss_mb`` and any ``extra`` figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ImportBench:
    name: str  # bench/<name>.py, bench/results/<name>.json
    write: Callable[[Path, int], None]
    sizes: tuple[int, ...] = (10_000, 100_000)
    extra: tuple[str, ...] = ()  # further figures the child reports, each its own metric

    @property
    def results(self) -> Path:
        return ROOT / "bench" / "results" / f"{self.name}.json"


def prepare_db(url: str) -> None:
    """Migrate ``url`` and load the demo county's organisations (every import names them)."""
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


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def postgres() -> Any:
    """A throwaway PostgreSQL cluster (the test suite's), or None where the server is not installed."""
    try:
        from tests.pg import Cluster

        cluster = Cluster()
        cluster.start()
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"PostgreSQL cases skipped: {exc}")
        return None
    return cluster


def pg_database(server_url: str, name: str) -> str:
    from sqlalchemy import create_engine, text

    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


def run(bench: ImportBench) -> None:
    rows_out: list[dict[str, Any]] = []
    cluster = postgres()
    try:
        with tempfile.TemporaryDirectory(prefix=f"bench-{bench.name}-") as tmp:
            for size in bench.sizes:
                rows_out += _size(bench, Path(tmp), size, cluster)
    finally:
        if cluster is not None:
            cluster.stop()
    _report(bench, rows_out)


def _run_child(bench: ImportBench, url: str, file: Path, dry_run: bool) -> dict[str, Any]:
    cmd = [sys.executable, "-m", f"bench.{bench.name}", "--child", url, str(file)] + (["--dry-run"] if dry_run else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _size(bench: ImportBench, tmp: Path, size: int, cluster: Any) -> list[dict[str, Any]]:
    rows_out: list[dict[str, Any]] = []
    file = tmp / f"{bench.name}-{size}.xlsx"
    t0 = time.perf_counter()
    bench.write(file, size)
    print(f"generated {file.name}: {file.stat().st_size / 2**20:.1f} MB in {time.perf_counter() - t0:.1f} s",
          flush=True)
    runs = [("xlsx dry run (SQLite)", True, None), ("xlsx import (SQLite)", False, None)]
    if cluster is not None:
        runs.append(("xlsx import (PostgreSQL)", False, cluster))
    for case, dry_run, pg in runs:
        if pg is None:
            url = f"sqlite:///{tmp / f'db-{size}-{int(dry_run)}.sqlite3'}"
        else:
            url = pg_database(f"postgresql+psycopg://postgres@127.0.0.1:{pg.port}/postgres", f"bench_{size}")
        prepare_db(url)
        r = _run_child(bench, url, file, dry_run)
        if r["errors"] or r["rows"] < size:
            raise SystemExit(f"bench file was not clean: {r}")

        def row(metric: str, value: Any, unit: str, case: str = case) -> dict[str, Any]:
            return {"case": case, "size": size, "metric": metric, "value": value, "unit": unit}

        rows_out += [
            row("time", round(r["seconds"], 2), "s"),
            row("throughput", round(r["rows"] / r["seconds"]), "rows/s"),
            *(row(name, r[name], name) for name in bench.extra),
            row("peak_rss", round(r["peak_rss_mb"], 1), "MB"),
            row("rss_growth", round(r["peak_rss_mb"] - r["rss_before_mb"], 1), "MB"),
            row("file_size", round(file.stat().st_size / 2**20, 2), "MB"),
        ]
        print(f"{case:26} {size:>7} rows  {r['seconds']:6.1f} s  peak RSS {r['peak_rss_mb']:6.1f} MB  "
              f"(+{r['peak_rss_mb'] - r['rss_before_mb']:.1f} MB during import)", flush=True)
    return rows_out


def _report(bench: ImportBench, rows_out: list[dict[str, Any]]) -> None:
    bench.results.parent.mkdir(parents=True, exist_ok=True)
    bench.results.write_text(json.dumps(rows_out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print()
    print(f"{'case':26} {'size':>8} {'metric':12} {'value':>10} unit")
    for r in rows_out:
        print(f"{r['case']:26} {r['size']:>8} {r['metric']:12} {r['value']:>10} {r['unit']}")
    print(f"\nwritten {bench.results}")


def entry(bench: ImportBench, child: Callable[[str, str, bool], None]) -> None:
    """``python -m bench.<name>``: the whole benchmark, or (``--child URL FILE [--dry-run]``) one import."""
    if len(sys.argv) >= 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], "--dry-run" in sys.argv[4:])
    else:
        run(bench)
