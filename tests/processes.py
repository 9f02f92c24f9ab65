"""Running ``assoc-ledger`` as a user would: a fresh process, a clean environment, a real server on a real port."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any ASSOC_* setting or PYTHONPATH, plus ``settings``.

    A developer's shell (or another test) may have set ASSOC_DATABASE_URL or PYTHONPATH; a new user's
    has not, and an inherited PYTHONPATH would let the checkout stand in for an installed package.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSOC_") and k != "PYTHONPATH"}
    # Wide enough that rich does not wrap a row number or a reason across lines in captured output.
    env["COLUMNS"] = "200"
    env.update(settings)
    return env


def run(argv: list[str], *, env: Mapping[str, str], cwd: Path,
        timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(argv: list[str], *, env: Mapping[str, str], cwd: Path, port: int,
            ready_path: str = "/login", timeout: float = 60) -> Iterator[str]:
    """Start ``argv`` (a server on ``port``), wait until ``ready_path`` answers, yield its base URL, stop it."""
    base = f"http://127.0.0.1:{port}"
    log = cwd / f"serve-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(argv, env=dict(env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"server exited with {proc.returncode}:\n{log.read_text()}")
            try:
                httpx.get(base + ready_path, timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"server did not answer in {timeout}s:\n{log.read_text()}") from None
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
