"""The installed wheel works outside the checkout: built, installed (not editable) into a fresh venv, run elsewhere."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import httpx
import pytest

from tests.processes import clean_env, free_port, run, serving

CHECKOUT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installs_migrates_and_serves_outside_the_checkout(tmp_path: Path) -> None:
    # Build from a copy of what the wheel is made of: setuptools keeps a build/ directory in the source
    # tree and would carry files deleted from src/ into the next wheel, and nothing else may leak in.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(CHECKOUT / name, source / name)
    shutil.copytree(CHECKOUT / "src", source / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
    env = clean_env()
    wheels = tmp_path / "wheels"
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)],
                env=env, cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("assoc_ledger-*.whl")

    # A fresh venv with the wheel and the dependencies it declares, and nothing else: a dependency
    # removed from pyproject.toml but still imported fails here, not on a county's server.
    venv = tmp_path / "venv"
    made = run([sys.executable, "-m", "venv", str(venv)], env=env, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    installed = run([str(venv / "bin" / "pip"), "install", "-q", "--no-compile", str(wheel)], env=env,
                    cwd=tmp_path, timeout=600)
    assert installed.returncode == 0, installed.stderr

    county = tmp_path / "county"  # a directory that has never seen the checkout
    county.mkdir()
    where = run([str(venv / "bin" / "python"), "-c", "import assoc_ledger; print(assoc_ledger.__file__)"],
                env=env, cwd=county)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout

    cli = str(venv / "bin" / "assoc-ledger")
    migrated = run([cli, "migrate"], env=env, cwd=county)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    # With no settings at all the data lands where the service was started.
    assert (county / "var" / "assoc.sqlite3").is_file()

    port = free_port()
    with serving([cli, "serve", "--port", str(port)], env=env, cwd=county, port=port) as base:
        login = httpx.get(base + "/login", timeout=10)
        assert login.status_code == 200
        assert "登录" in login.text
        # Templates render, and the static files they link to ship too.
        assert httpx.get(base + "/static/app.css", timeout=10).status_code == 200
