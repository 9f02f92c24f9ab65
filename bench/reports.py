"""Reports and the annual statement over a county book of up to 300,000 entries, beside ``bean-check`` of the
same book: every report of the year (median of ``BENCH_REPORT_ROUNDS``), then the statement prepared (the
figures frozen, the files hashed) and its internal PDF/A-3b rendered with the year's files attached, each
in a fresh process whose own peak memory (VmHWM) is printed.

Books come from ``bench/post_latency.py``'s bulk builder (2022–2025, the same shape as ``read_books``); the
month totals are computed once from the bulk rows, as the migration does. Targets: all report queries
≤ 1/50 of bean-check's time; reports plus the internal PDF ≤ 0.25 × bean-check's time.
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
    return run_child("bench.reports", func, *args)

SIZES = [int(s) for s in os.environ.get("BENCH_REPORT_SIZES", "10000,300000").split(",")]
ROUNDS = int(os.environ.get("BENCH_REPORT_ROUNDS", "5"))
RESULTS = Path(__file__).parent / "results" / "reports.json"
ROOT = Path(__file__).resolve().parents[1]
YEAR = 2025
QUERY_SHARE = 1 / 50
PDF_SHARE = 0.25




def month_totals(url: str, book_id: str) -> None:
    """Child: month totals from the bulk rows (the writer keeps them for entries it writes itself)."""
    from assoc_ledger.fund import queries
    from assoc_ledger.fund.models import FundBook

    with session_factory(url)() as db:
        queries.rebuild_month_totals(db, int(book_id))
        org_id = db.get_one(FundBook, int(book_id)).org_id
        db.commit()
    print(json.dumps({"org_id": org_id}))


def run_reports(url: str, org_id: str) -> None:
    """Child: every report of the year over the county, ROUNDS times after a warm-up; median per report."""
    import datetime as dt

    from assoc_ledger.auth.scope import Perm, Scope
    from assoc_ledger.reports import queries

    scope = Scope.everything(Perm.fund_read)
    start, end = dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31)
    result: dict[str, float] = {}
    with session_factory(url)() as db:
        for name in queries.REPORTS:
            times = []
            for i in range(ROUNDS + 1):
                t0 = time.perf_counter()
                report = queries.run_report(db, scope, name, int(org_id), start, end)
                if i:
                    times.append((time.perf_counter() - t0) * 1000)
                assert report.rows or name in ("spending-by-household-kind", "cases-by-state", "entitlement-runs"), name
            result[name] = statistics.median(times)
    result["all_reports_ms"] = sum(result.values())
    result["reports_peak_mib"] = peak_rss_mib()
    print(json.dumps(result))


def statement_pdf(url: str, ledger_dir: str, org_id: str) -> None:
    """Child: prepare the year's statement (figures frozen, files hashed) and render its internal PDF."""
    from assoc_ledger.auth.scope import Perm, Scope
    from assoc_ledger.reports import pdf, statements

    with session_factory(url)() as db:
        t0 = time.perf_counter()
        row = statements.prepare(db, Scope.everything(Perm.fund_write), Path(ledger_dir), int(org_id), YEAR,
                                 statements.Actor(None, "bench"))
        prepared = time.perf_counter() - t0
        t1 = time.perf_counter()
        data = pdf.render_pdf(row, "internal", "prepared", statements.STATE_ZH["prepared"], [], Path(ledger_dir))
        rendered = time.perf_counter() - t1
        attached = sum(info["size"] for b in row.fingerprint["books"] for info in b["files"].values())
    print(json.dumps({"prepare_s": prepared, "internal_pdf_s": rendered, "statement_s": prepared + rendered,
                      "pdf_mib": len(data) / 2**20, "attached_mib": attached / 2**20,
                      "statement_peak_mib": peak_rss_mib()}))


def main() -> None:
    from bench.post_latency import build_books

    rows: list[dict[str, object]] = []
    table: list[tuple[int, dict[str, float]]] = []
    bean_check = str(Path(sys.executable).with_name("bean-check"))
    for size in SIZES:
        root = Path(tempfile.mkdtemp(prefix=f"bench-reports-{size}-"))
        try:
            t0 = time.perf_counter()
            url, ledger_dir, book_id = build_books(root, size)
            print(f"  built {size:>7} entries in {time.perf_counter() - t0:.1f}s", flush=True)
            org_id = _child("month_totals", url, book_id)["org_id"]
            figures: dict[str, float] = dict(_child("run_reports", url, org_id))
            figures.update(_child("statement_pdf", url, ledger_dir, org_id))
            main_file = next(ledger_dir.glob("*/main.beancount"))
            t0 = time.perf_counter()
            checked = subprocess.run([bean_check, str(main_file)], capture_output=True, text=True, check=False)
            figures["bean_check_s"] = time.perf_counter() - t0
            if checked.returncode:
                raise SystemExit(f"bean-check failed on the {size} book: {checked.stderr[:2000]}")
            figures["reports_share"] = figures["all_reports_ms"] / 1000 / figures["bean_check_s"]
            figures["reports_and_pdf_share"] = (figures["all_reports_ms"] / 1000 + figures["statement_s"]) \
                / figures["bean_check_s"]
            print(f"  {size:>7}: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()), flush=True)
            table.append((size, figures))
            for metric, value in figures.items():
                unit = ("ms" if metric.endswith("_ms") or metric in _report_names() else "s" if metric.endswith("_s")
                        else "MiB" if metric.endswith("_mib") else "ratio")
                rows.append({"case": "reports", "size": size, "metric": metric, "value": round(value, 4),
                             "unit": unit})
        finally:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\nmedian of {ROUNDS}; ms unless marked")
    print(f"{'entries':>8} {'all reports':>12} {'slowest report':>26} {'prepare s':>10} {'PDF s':>7} {'PDF MiB':>8} "
          f"{'peak MiB (reports/PDF)':>23} {'bean-check s':>13} {'reports/bc':>11} {'+PDF/bc':>8}")
    for size, f in table:
        slowest = max(_report_names(), key=lambda n: f[n])
        print(f"{size:>8} {f['all_reports_ms']:>12.1f} {slowest + f' {f[slowest]:.1f}':>26} {f['prepare_s']:>10.2f} "
              f"{f['internal_pdf_s']:>7.2f} {f['pdf_mib']:>8.1f} "
              f"{f['reports_peak_mib']:>11.0f}/{f['statement_peak_mib']:<11.0f} {f['bean_check_s']:>13.1f} "
              f"{f['reports_share']:>11.4f} {f['reports_and_pdf_share']:>8.3f}")
    if table:
        size, f = table[-1]
        print(f"\ntargets at {size}: reports ≤ 1/50 of bean-check "
              f"{'met' if f['reports_share'] <= QUERY_SHARE else 'NOT met'} ({f['reports_share']:.4f}); "
              f"reports + internal PDF ≤ 0.25 × bean-check "
              f"{'met' if f['reports_and_pdf_share'] <= PDF_SHARE else 'NOT met'} ({f['reports_and_pdf_share']:.3f})")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")


def _report_names() -> list[str]:
    from assoc_ledger.reports.queries import REPORTS

    return list(REPORTS)


if __name__ == "__main__":
    main()
