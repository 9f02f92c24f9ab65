"""Peak memory of the running process, for benchmarks that measure in a child process."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def peak_rss_mib() -> float:
    """This process's own peak resident set (VmHWM).

    ``ru_maxrss`` is not it: Linux carries the parent's high-water mark across fork and exec, so a child
    started by a parent that had built a 300k-entry book would report the parent's peak.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(module: str, func: str, *args: object) -> dict[str, Any]:
    """Run ``module.func(*args)`` in a fresh interpreter, so its peak memory is its own; the JSON it prints last."""
    out = subprocess.run([sys.executable, "-c", f"import sys; from {module} import {func}; "
                          f"{func}(*sys.argv[1:])", *map(str, args)], capture_output=True, text=True,
                         check=False, cwd=Path(__file__).resolve().parents[1])
    if out.returncode:
        raise SystemExit(f"{func} failed: {out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def session_factory(url: str) -> Any:
    import assoc_ledger.models  # noqa: F401 - every area's tables, so foreign keys resolve
    from assoc_ledger.core.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(url))


def bean_check_seconds(main_file: Path) -> float:
    """bean-check of one book in its own process: the reference a benchmark measures in the same run."""
    exe = str(Path(sys.executable).with_name("bean-check"))
    started = time.perf_counter()
    # --no-cache: a cache hit would skip loading and every plugin, and measure nothing.
    done = subprocess.run([exe, "--no-cache", str(main_file)], capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bean-check failed on {main_file}: {done.stderr[:2000]}")
    return elapsed
