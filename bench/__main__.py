"""Run every benchmark module ``bench/<name>.py`` that has a ``main()``; each prints a table and writes
``bench/results/<name>.json`` as rows ``{"case", "size", "metric", "value", "unit"}``."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def main() -> None:
    wanted = set(sys.argv[1:])
    for path in sorted(Path(__file__).parent.glob("*.py")):
        name = path.stem
        if name.startswith("_") or (wanted and name not in wanted):
            continue
        module = importlib.import_module(f"bench.{name}")
        run = getattr(module, "main", None)
        if callable(run):
            print(f"\n=== bench/{name}.py ===", flush=True)
            run()


if __name__ == "__main__":
    main()
