"""Payment rolls (发放花名册) of 1,000 / 10,000 / 100,000 lines: the time and peak memory of posting one
through the API's path (``fund.service.post_roll`` → ``fund.writer.write``, parse included), and
``bean-check`` of the book before and after, side by side.

Each size gets a fresh county book of ``BASE`` entries (the bulk generator of ``bench/post_latency.py``);
the roll is posted in a fresh child process so its peak RSS is the post's own. bean-check times are the
best of ``CHECKS`` alternating runs without its pickle cache (the host is shared). Targets: a 100,000-line roll
posts in ≤ 5 s; bean-check afterwards at most 0.5 s slower than before.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._memory import bean_check_seconds, peak_rss_mib

SIZES = [int(s) for s in os.environ.get("BENCH_ROLL_SIZES", "1000,10000,100000").split(",")]
BASE = int(os.environ.get("BENCH_ROLL_BASE", "10000"))
CHECKS = int(os.environ.get("BENCH_ROLL_CHECKS", "5"))
RESULTS = Path(__file__).parent / "results" / "post_rolls.json"
POST_TARGET_S = 5.0
CHECK_TARGET_S = 0.5


def roll_lines(size: int) -> list[dict[str, str]]:
    """A month of 独生子女父母奖励 as the API receives it: strings, masked IDs, one line per household."""
    return [{"payee": f"{'王李张刘陈杨黄赵吴周'[i % 10]}{i:06d}户", "resident_id": f"341122********{i % 10000:04d}",
             "period": "2026-01", "amount": "10.00", "reference": f"GRZ-341122-{i:07d}"} for i in range(size)]


def measure(url: str, ledger_dir: str, book_id: int, size: int) -> None:
    """Child process: post one roll of ``size`` lines; print the time and this process's peak RSS."""
    from assoc_ledger.auth import audit
    from assoc_ledger.auth.scope import Scope
    from assoc_ledger.core.db import make_engine, make_sessionmaker
    from assoc_ledger.fund import service

    audit.install()
    factory = make_sessionmaker(make_engine(url))
    lines = roll_lines(size)
    with factory() as db:  # warm the connection and the imports, as a running server has them
        service.get_book(db, book_id, Scope.everything())
    started = time.perf_counter()
    with factory() as db:
        posted = service.post_roll(db, Path(ledger_dir), Scope.everything(), book_id, key=f"roll-{size}",
                                   date="2026-01-25", category="only_child_reward", roll="2026-01-only-child-reward",
                                   lines=lines, voucher="付-01-001", narration="1月独生子女父母奖励")
    elapsed = time.perf_counter() - started
    assert not posted.replayed
    print(json.dumps({"post_s": elapsed, "peak_rss_mib": peak_rss_mib()}))


def _before_and_after(before: Path, after: Path) -> tuple[float, float]:
    """Best of ``CHECKS`` alternating runs on a copy of the book taken before the post and on the book after
    it, so a change in the shared host's load falls on both sides alike."""
    times: dict[Path, list[float]] = {before: [], after: []}
    for _ in range(CHECKS):
        for main_file in (before, after):
            times[main_file].append(bean_check_seconds(main_file))
    return min(times[before]), min(times[after])


def main() -> None:
    from bench.post_latency import build_books

    rows: list[dict[str, object]] = []
    table: list[tuple[int, float, float, float, float, int]] = []
    for size in SIZES:
        root = Path(tempfile.mkdtemp(prefix=f"bench-roll-{size}-"))
        try:
            url, ledger_dir, book_id = build_books(root, BASE)
            main_file = next(ledger_dir.glob("*/main.beancount"))
            copy = root / "before" / main_file.parent.name
            shutil.copytree(main_file.parent, copy)
            os.sync()
            child = subprocess.run([sys.executable, "-c", "import sys; from bench.post_rolls import measure; "
                                    "measure(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))",
                                    url, str(ledger_dir), str(book_id), str(size)], capture_output=True, text=True,
                                   check=True, cwd=Path(__file__).resolve().parents[1])
            result = json.loads(child.stdout.strip().splitlines()[-1])
            before, after = _before_and_after(copy / main_file.name, main_file)
            roll_bytes = sum(p.stat().st_size for p in (main_file.parent / "rolls").iterdir())
        finally:
            shutil.rmtree(root, ignore_errors=True)
        table.append((size, result["post_s"], result["peak_rss_mib"], before, after, roll_bytes))
        for metric, value, unit in (("post", result["post_s"], "s"), ("post_peak_rss", result["peak_rss_mib"], "MiB"),
                                    ("bean_check_before", before, "s"), ("bean_check_after", after, "s"),
                                    ("bean_check_added", after - before, "s"), ("roll_file", roll_bytes, "bytes")):
            rows.append({"case": "fund_roll", "size": size, "metric": metric, "value": round(value, 3), "unit": unit})
        print(f"  {size:>7} lines: posted in {result['post_s']:.2f}s; bean-check {before:.2f}s → {after:.2f}s",
              flush=True)
    print(f"\n{'roll lines':>10} {'post s':>7} {'peak RSS MiB':>13} {'roll KiB':>9} {'bean-check before s':>20} "
          f"{'after s':>8} {'added s':>8}   (book of {BASE} entries)")
    for size, post_s, rss, before, after, roll_bytes in table:
        print(f"{size:>10} {post_s:>7.2f} {rss:>13.1f} {roll_bytes / 1024:>9.0f} {before:>20.2f} {after:>8.2f} "
              f"{after - before:>+8.2f}")
    largest = table[-1]
    print(f"\ntarget: {largest[0]}-line roll posts in ≤ {POST_TARGET_S:.0f} s: "
          f"{'met' if largest[1] <= POST_TARGET_S else 'NOT met'}; bean-check at most {CHECK_TARGET_S} s slower: "
          f"{'met' if largest[4] - largest[3] <= CHECK_TARGET_S else 'NOT met'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
