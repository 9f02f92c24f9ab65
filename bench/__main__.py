"""Run every benchmark module ``bench/<name>.py`` (not starting with ``_``) that defines ``main()``.

``python -m bench`` runs them all; ``python -m bench import_roster`` runs only the ones named.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def run(names: list[str]) -> int:
    here = Path(__file__).resolve().parent
    found = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))
    unknown = set(names) - set(found)
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; available: {', '.join(found)}")
        return 2
    for name in found:
        if names and name not in names:
            continue
        module = importlib.import_module(f"bench.{name}")
        entry = getattr(module, "main", None)
        if not callable(entry):
            continue
        print(f"== bench.{name} ==", flush=True)
        entry()
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
