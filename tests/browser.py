"""The browser harness: Debian's Chromium driven by Playwright's Python package, against a live server.

Never downloads a browser: Playwright launches the apt-installed binary. Without one the browser tests
skip on a developer's machine and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/lib/chromium/chromium", "/usr/bin/chromium-browser")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 768}


def chromium_binary() -> str | None:
    return next((c for c in CHROMIUM_CANDIDATES if Path(c).exists()), shutil.which("chromium"))


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    env: dict[str, str]


def start_server(env: dict[str, str], workdir: Path) -> Iterator[LiveServer]:
    """uvicorn in its own process, as ``assoc-ledger serve`` runs it; stopped when the generator closes."""
    port = _port()
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "assoc_ledger.app:app_factory", "--factory",
                               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                              env=env, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                raise RuntimeError(f"server exited: {server.stdout.read().decode() if server.stdout else ''}")
            time.sleep(0.1)
        yield LiveServer(base, env)
    finally:
        server.terminate()
        server.wait(timeout=30)


def launch_chromium(in_ci: bool):  # type: ignore[no-untyped-def]
    """A headless Chromium (the Debian binary) or a skip/fail saying why."""
    binary = chromium_binary()
    if binary is None:
        message = "Chromium is required (apt package `chromium`; `make test` installs it)"
        if in_ci:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    manager = sync_playwright().start()
    browser = manager.chromium.launch(executable_path=binary, headless=True,
                                      args=["--no-sandbox", "--disable-dev-shm-usage"])
    return manager, browser


def demo_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSOC_")}
    env.update({"ASSOC_DATABASE_URL": f"sqlite:///{root / 'assoc.sqlite3'}",
                "ASSOC_LEDGER_DIR": str(root / "ledgers")})
    return env
