"""Reads of the fund books at 1k, 10k, 100k and 300k entries: balances/funds/accounts at a date, the last
journal page, a search, the incremental verify after 1,000 new entries and the full verify with its peak
memory, beside ``bean-check`` of the same books.

Books come from ``bench/post_latency.py``'s bulk builder (its rows skip the writer, so the month totals
are then computed from the postings once, as the migration does for existing books). Every read is a
request to the real app (Litestar's test client, an admin's token) or the real ``verify_book``, each in
a fresh process per size so VmHWM is that process's own; median of ``BENCH_READ_ROUNDS`` (5).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._memory import peak_rss_mib, run_child, session_factory


def _child(func: str, *args: object) -> dict[str, Any]:
    return run_child("bench.read_books", func, *args)

SIZES = [int(s) for s in os.environ.get("BENCH_READ_SIZES", "1000,10000,100000,300000").split(",")]
ROUNDS = int(os.environ.get("BENCH_READ_ROUNDS", "5"))
APPENDED = 1000
RESULTS = Path(__file__).parent / "results" / "read_books.json"
ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 50.0
TARGET_INCREMENTAL_S = 2.0
TARGET_FULL_MIB = 200.0




def prepare(url: str, book_id: str) -> None:
    """Child: month totals from the bulk rows, and an admin token for the requests."""
    from assoc_ledger.auth import audit
    from assoc_ledger.auth import services as auth_services
    from assoc_ledger.auth.scope import Role
    from assoc_ledger.fund import queries
    from assoc_ledger.fund.models import FundBook

    audit.install()
    factory = session_factory(url)
    with factory() as db:
        queries.rebuild_month_totals(db, int(book_id))
        book = db.get_one(FundBook, int(book_id))
        user = auth_services.create_user(db, "bench-admin", "bench-password-123")
        auth_services.grant_role(db, user, Role.admin, book.org_id)
        secret, _ = auth_services.create_token(db, user, "bench")
        db.commit()
    print(json.dumps({"token": secret}))


def requests(url: str, ledger_dir: str, book_id: str, token: str) -> None:
    """Child: the read routes, ROUNDS times each after one warm-up; median ms per case."""
    from litestar.testing import TestClient

    from assoc_ledger.app import create_app
    from assoc_ledger.core.config import Settings

    app = create_app(Settings(database_url=url, ledger_dir=Path(ledger_dir)))
    base = f"/api/fund/books/{book_id}"
    cases = {
        "balances": (f"{base}/balances", {"on": "2024-06-15"}),
        "funds": (f"{base}/funds", {"on": "2024-06-15"}),
        "accounts": (f"{base}/accounts", {}),
        "journal_last_page": (f"{base}/journal", {"last": "true", "limit": "100"}),
        "journal_offset_last_page": (f"{base}/journal", {"offset": "-", "limit": "100"}),
        "search": (f"{base}/journal", {"q": "走访对象123", "limit": "100"}),
        "search_last_page_common": (f"{base}/journal", {"q": "县财政局", "last": "true", "limit": "100"}),
        "search_2_chars": (f"{base}/journal", {"q": "付-", "limit": "100"}),
        "search_2_chars_cjk": (f"{base}/journal", {"q": "财政", "limit": "100"}),
        "search_2_chars_cjk_last_page": (f"{base}/journal", {"q": "走访", "last": "true", "limit": "100"}),
    }
    searches = [name for name in cases if name.startswith("search")]
    result: dict[str, float] = {}
    with TestClient(app=app) as client:
        h = {"Authorization": f"Bearer {token}"}
        total = client.get(f"{base}/journal", params={"limit": 1}, headers=h).json()["total"]
        for name, (path, given) in cases.items():
            params = {**given, "offset": str(max(total - 100, 0))} if given.get("offset") == "-" else given
            times = []
            for i in range(ROUNDS + 1):
                t0 = time.perf_counter()
                r = client.get(path, params=params, headers=h)
                elapsed = (time.perf_counter() - t0) * 1000
                assert r.status_code == 200, (name, r.status_code, r.text[:300])
                if i:
                    times.append(elapsed)
            result[name] = statistics.median(times)
    app.state.engine.dispose()
    result["search_slowest"] = max(result[name] for name in searches)
    print(json.dumps(result))


def full_verify(url: str, ledger_dir: str, book_id: str) -> None:
    """Child: one full verify (it also leaves the checkpoints the incremental verify starts from)."""
    from assoc_ledger.fund import verify
    from assoc_ledger.fund.models import FundBook

    factory = session_factory(url)
    with factory() as db:
        t0 = time.perf_counter()
        report = verify.verify_book(db, Path(ledger_dir), db.get_one(FundBook, int(book_id)), full=True)
        elapsed = time.perf_counter() - t0
    assert report.ok, report.problems[:5]
    print(json.dumps({"seconds": elapsed, "peak_mib": peak_rss_mib(), "entries": report.entries}))


def append(url: str, ledger_dir: str, book_id: str) -> None:
    """Child: APPENDED entries through the real write path, after the checkpoint."""
    import datetime as dt

    from assoc_ledger.auth import audit
    from assoc_ledger.auth.scope import Scope
    from assoc_ledger.fund import service

    audit.install()
    factory = session_factory(url)
    for i in range(APPENDED):
        with factory() as db:
            service.post_income(db, Path(ledger_dir), Scope.everything(), int(book_id), key=f"read-{i}",
                                date=dt.date(2026, 1, 1) + dt.timedelta(days=i // 10), amount="12.00",
                                source="donation_person", payer="捐款人", voucher=f"收-r{i}")
    print(json.dumps({}))


def incremental_verify(url: str, ledger_dir: str, book_id: str, checkpoints: str) -> None:
    """Child: ROUNDS incremental verifies, each from the checkpoints the full verify left (so each one
    hashes the verified prefix and compares the APPENDED entries, as the first verify after them would)."""
    from sqlalchemy import delete, insert

    from assoc_ledger.fund import verify
    from assoc_ledger.fund.models import FundBook, FundVerifyCheckpoint

    saved = json.loads(checkpoints)
    factory = session_factory(url)
    times = []
    for _ in range(ROUNDS):
        with factory() as db:
            db.execute(delete(FundVerifyCheckpoint).where(FundVerifyCheckpoint.book_id == int(book_id)))
            db.execute(insert(FundVerifyCheckpoint), saved)
            db.commit()
            t0 = time.perf_counter()
            report = verify.verify_book(db, Path(ledger_dir), db.get_one(FundBook, int(book_id)))
            times.append(time.perf_counter() - t0)
        assert report.ok, report.problems[:5]
    print(json.dumps({"seconds": statistics.median(times), "peak_mib": peak_rss_mib()}))


def _checkpoints(url: str, book_id: int) -> str:
    from sqlalchemy import select

    from assoc_ledger.core.db import make_engine, make_sessionmaker
    from assoc_ledger.fund.models import FundVerifyCheckpoint

    engine = make_engine(url)
    with make_sessionmaker(engine)() as db:
        rows = db.scalars(select(FundVerifyCheckpoint).where(FundVerifyCheckpoint.book_id == book_id)).all()
        saved = [{"book_id": c.book_id, "year": c.year, "size": c.size, "digest": c.digest, "seq": c.seq,
                  "hash": c.hash} for c in rows]
    engine.dispose()
    return json.dumps(saved)


def main() -> None:
    from bench.post_latency import build_books

    rows: list[dict[str, object]] = []
    table: list[tuple[int, dict[str, float]]] = []
    bean_check = str(Path(sys.executable).with_name("bean-check"))
    for size in SIZES:
        root = Path(tempfile.mkdtemp(prefix=f"bench-read-{size}-"))
        try:
            t0 = time.perf_counter()
            url, ledger_dir, book_id = build_books(root, size)
            print(f"  built {size:>7} entries in {time.perf_counter() - t0:.1f}s", flush=True)
            token = _child("prepare", url, book_id)["token"]
            figures = dict(_child("requests", url, ledger_dir, book_id, token))
            main_file = next(ledger_dir.glob("*/main.beancount"))
            t0 = time.perf_counter()
            checked = subprocess.run([bean_check, str(main_file)], capture_output=True, text=True, check=False)
            figures["bean_check_s"] = time.perf_counter() - t0
            if checked.returncode:
                raise SystemExit(f"bean-check failed on the {size} book: {checked.stderr[:2000]}")
            full = _child("full_verify", url, ledger_dir, book_id)
            figures["full_verify_s"], figures["full_verify_peak_mib"] = full["seconds"], full["peak_mib"]
            saved = _checkpoints(url, book_id)
            _child("append", url, ledger_dir, book_id)
            inc = _child("incremental_verify", url, ledger_dir, book_id, saved)
            figures["incremental_verify_s"], figures["incremental_verify_peak_mib"] = inc["seconds"], inc["peak_mib"]
            print(f"  {size:>7}: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()), flush=True)
            table.append((size, figures))
            for metric, value in figures.items():
                unit = "s" if metric.endswith("_s") else "MiB" if metric.endswith("_mib") else "ms"
                rows.append({"case": "fund_read", "size": size, "metric": metric.removesuffix("_s")
                             .removesuffix("_mib"), "value": round(value, 3), "unit": unit})
        finally:
            shutil.rmtree(root, ignore_errors=True)
    head = (f"{'entries':>8} {'balances':>9} {'funds':>6} {'accounts':>9} {'last pg':>8} {'offset last':>12} "
            f"{'search':>7} {'search common last':>19} {'search 2ch':>11} {'财政':>6} {'走访 last':>9} "
            f"{'incr verify s':>14} "
            f"{'full verify s':>14} {'full MiB':>9} {'bean-check s':>13}")
    print("\nms unless marked; median of", ROUNDS, "\n" + head)
    for size, f in table:
        cells = [f"{size:>8}", f"{f['balances']:>9.1f}", f"{f['funds']:>6.1f}", f"{f['accounts']:>9.1f}",
                 f"{f['journal_last_page']:>8.1f}", f"{f['journal_offset_last_page']:>12.1f}", f"{f['search']:>7.1f}",
                 f"{f['search_last_page_common']:>19.1f}", f"{f['search_2_chars']:>11.1f}",
                 f"{f['search_2_chars_cjk']:>8.1f}", f"{f['search_2_chars_cjk_last_page']:>10.1f}",
                 f"{f['incremental_verify_s']:>14.2f}", f"{f['full_verify_s']:>14.1f}",
                 f"{f['full_verify_peak_mib']:>9.0f}", f"{f['bean_check_s']:>13.1f}"]
        print(" ".join(cells))
    if table:
        size, f = table[-1]
        reads = max(f["balances"], f["funds"], f["accounts"], f["journal_last_page"], f["search_slowest"])
        print(f"\ntargets at {size}: reads ≤ {TARGET_MS:.0f} ms {'met' if reads <= TARGET_MS else 'NOT met'} "
              f"(slowest {reads:.1f}); incremental verify ≤ {TARGET_INCREMENTAL_S} s "
              f"{'met' if f['incremental_verify_s'] <= TARGET_INCREMENTAL_S else 'NOT met'}; full verify ≤ "
              f"{TARGET_FULL_MIB:.0f} MiB {'met' if f['full_verify_peak_mib'] <= TARGET_FULL_MIB else 'NOT met'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
