"""The demo county as the real CLI loads it (``assoc-ledger migrate`` then ``assoc-ledger demo``), built ONCE per
test run and copied into each test that reads it.

Loading the demo takes most of a minute; several modules only read it (the browser pages, the ID scans, the
export). The first worker that needs it builds it under the run's shared temporary root, holding a file lock
so the other worker waits instead of building it again; every later request copies the finished directory
(database file, ledgers, uploads) into the test's own folder, so tests stay independent of each other.

The build keeps what the CLI printed and whether it wrote a key file, so tests about the load itself (its
output, the key coming from the environment) still assert on the real run.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from assoc_ledger.core.crypto import new_key_text

DB_NAME = "assoc.sqlite3"


@dataclass(frozen=True)
class DemoCopy:
    """One test's own copy of the demo county: a SQLite file, its ledgers and uploads, and the key that opens it."""

    root: Path
    key: str

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @property
    def url(self) -> str:
        return f"sqlite:///{self.db_path}"

    @property
    def ledger_dir(self) -> Path:
        return self.root / "ledgers"

    @property
    def upload_dir(self) -> Path:
        return self.root / "var" / "uploads"

    def write_key_file(self) -> Path:
        """Put the key where ``migrate`` puts it when no ASSOC_ID_KEY is set (``var/assoc.key``, owner-only)."""
        path = self.root / "var" / "assoc.key"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(self.key + "\n")
        return path

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment for a CLI process or server on this copy (key from the environment, as in the build)."""
        env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith("ASSOC_")}
        env.update({"ASSOC_DATABASE_URL": self.url, "ASSOC_LEDGER_DIR": str(self.ledger_dir),
                    "ASSOC_UPLOAD_DIR": str(self.upload_dir), "ASSOC_ID_KEY": self.key})
        return env


@dataclass(frozen=True)
class DemoBuild:
    """The one real load of the run: where it is, its key, and what the two commands printed."""

    data: Path
    key: str
    outputs: dict[str, str]  # "migrate" / "demo" -> stdout + stderr
    key_file_written: bool

    def copy(self, dest: Path) -> DemoCopy:
        if dest.exists() and any(dest.iterdir()):
            raise FileExistsError(f"{dest} is not empty")
        shutil.copytree(self.data, dest, dirs_exist_ok=True)
        return DemoCopy(dest, self.key)


def _run_root(factory: pytest.TempPathFactory) -> Path:
    """The temporary root shared by every xdist worker of this run (each worker's basetemp is a child of it)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _build(data: Path, key: str) -> tuple[dict[str, str], bool]:
    data.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSOC_")}
    env.update({"ASSOC_DATABASE_URL": f"sqlite:///{data / DB_NAME}", "ASSOC_LEDGER_DIR": str(data / "ledgers"),
                "ASSOC_ID_KEY": key})
    outputs: dict[str, str] = {}
    for command in ("migrate", "demo"):
        run = subprocess.run([sys.executable, "-m", "assoc_ledger.cli", command], env=env, cwd=data,
                             capture_output=True, text=True, check=False, timeout=900)
        if run.returncode != 0:
            raise RuntimeError(f"assoc-ledger {command} failed ({run.returncode}):\n{run.stdout}{run.stderr}")
        outputs[command] = run.stdout + run.stderr
    key_file = data / "var" / "assoc.key"
    written = key_file.exists()
    if written:  # a copy must not carry a second key; the test that cares asserts on ``key_file_written``
        key_file.unlink()
    # Copies must be self-contained: nothing in the database may point back into the build's folder.
    if str(data).encode() in (data / DB_NAME).read_bytes():
        raise RuntimeError(f"the demo database names its build folder {data}: a copy would read the original")
    return outputs, written


def demo_county(factory: pytest.TempPathFactory) -> DemoBuild:
    """The run's demo county, built by the first caller (under a lock) and reused by every later one."""
    root = _run_root(factory)
    home = root / "demo-county"
    manifest = root / "demo-county.json"
    with (root / "demo-county.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not manifest.exists():
                if home.exists():  # a build that died half-way
                    shutil.rmtree(home)
                key = new_key_text()
                outputs, written = _build(home / "data", key)
                manifest.write_text(json.dumps({"key": key, "outputs": outputs, "key_file_written": written}))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    saved = json.loads(manifest.read_text())
    return DemoBuild(home / "data", saved["key"], saved["outputs"], saved["key_file_written"])
