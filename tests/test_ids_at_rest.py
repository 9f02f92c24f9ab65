"""Resident IDs at rest: after the demo loads, no demo ID is anywhere in the database file or a pg_dump.

The demo is loaded by the real CLI into a fresh SQLite file (the run's one load, tests/demo_cache.py, copied
here) and a fresh PostgreSQL database. The
raw SQLite bytes (and its -wal) and the ``pg_dump`` text are searched for every demo number; the
same search finds a number planted on purpose, so it can fail. On the same databases, through
the API: a duplicate ID is still refused, the last four still find a person, reveal still shows
the full number and logs the view; a copy without the key (or with another key) shows nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from assoc_ledger.app import create_app
from assoc_ledger.auth.models import AuditEntry
from assoc_ledger.core.config import Settings
from assoc_ledger.core.crypto import BadKey, IdCipher, KeyMissing, new_key_text, parse_key
from assoc_ledger.core.db import make_engine, make_sessionmaker
from assoc_ledger.demo import county
from assoc_ledger.demo.load import DEMO_PASSWORD
from assoc_ledger.people.keys import check_key
from assoc_ledger.people.models import Person
from tests.demo_cache import DemoBuild, DemoCopy

# Overlapping matches: in raw pages a number may follow other digit bytes (a record header, a length).
ID_SHAPE = re.compile(rb"(?=(\d{17}[\dX]))")
PG_DUMP = "/usr/lib/postgresql/15/bin/pg_dump"


def _demo_ids() -> set[str]:
    return {p.resident_id for p in county.members(county.organisations())}


def _found(blob: bytes, ids: set[str]) -> set[str]:
    return {m.decode() for m in ID_SHAPE.findall(blob)} & ids


def _load_demo(url: str, tmp_path: Path) -> None:
    env = {**os.environ, "ASSOC_DATABASE_URL": url, "ASSOC_LEDGER_DIR": str(tmp_path / "ledgers")}
    for args in (["migrate"], ["demo"]):
        run = subprocess.run([sys.executable, "-m", "assoc_ledger.cli", *args], env=env, capture_output=True,
                             text=True, check=False, cwd=tmp_path)
        assert run.returncode == 0, run.stdout + run.stderr
    # The per-test key came from the environment: no key file was written next to the data.
    assert not (tmp_path / "var" / "assoc.key").exists()


def _sqlite_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def _pg_dump(url: str) -> bytes:
    u = make_url(url)
    dsn = f"postgresql://{u.username}@{u.host}:{u.port}/{u.database}"
    run = subprocess.run([PG_DUMP, "--no-owner", dsn], capture_output=True, check=True)
    return run.stdout


def _works_through_the_api(url: str, tmp_path: Path, ids: set[str]) -> None:
    """One person per ID, search by the last four, reveal with its audit entry, on the encrypted rows."""
    app = create_app(Settings(database_url=url, ledger_dir=tmp_path / "ledgers"))
    with TestClient(app=app, raise_server_exceptions=False) as client:
        login = client.post("/api/auth/login", json={"username": "admin", "password": DEMO_PASSWORD})
        assert login.status_code == 200, login.text
        h = {"X-CSRF-Token": login.json()["csrf_token"]}
        some = client.get("/api/members?limit=1", headers=h).json()["items"][0]
        person_id = some["person"]["id"]

        shown = client.post(f"/api/people/{person_id}/reveal-id", json={"reason": "核对身份"}, headers=h)
        assert shown.status_code == 201, shown.text
        number = shown.json()["resident_id"]
        assert number in ids
        assert some["person"]["resident_id_masked"] == number[:6] + "********" + number[-4:]

        twin = client.post("/api/people", json={"name": "重复登记", "resident_id": number,
                                                "org_id": some["org_id"]}, headers=h)
        assert twin.status_code == 409, twin.text
        assert twin.json()["existing_person_id"] == person_id

        by_tail = client.get(f"/api/members?status=all&limit=500&q={number[-4:]}", headers=h).json()
        assert person_id in {m["person"]["id"] for m in by_tail["items"]}
        assert all(m["person"]["resident_id_masked"].endswith(number[-4:]) for m in by_tail["items"])
    app.state.engine.dispose()

    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        viewed = s.scalars(select(AuditEntry).where(AuditEntry.action == "person.id_viewed")).all()
        assert [(e.object_id, e.note) for e in viewed] == [(str(person_id), "核对身份")]
    engine.dispose()


def _refused_without_the_key(url: str, key: str) -> None:
    """No key, or another key: nothing decrypts, and the service refuses to start."""
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with factory() as s:
        stored = s.scalars(select(Person).limit(1)).one()
    assert IdCipher(parse_key(key, "test")).open(stored.resident_id_cipher, stored.resident_id_hash)
    with pytest.raises(BadKey):
        IdCipher(parse_key(new_key_text(), "test")).open(stored.resident_id_cipher, stored.resident_id_hash)
    nowhere = Path("/nonexistent") / uuid.uuid4().hex / "assoc.key"
    with pytest.raises(KeyMissing, match="找不到密钥"):
        check_key(Settings(database_url=url, id_key=None, key_file=nowhere), factory)
    with pytest.raises(BadKey, match="与数据库不符"):
        check_key(Settings(database_url=url, id_key=new_key_text()), factory)  # type: ignore[arg-type]
    engine.dispose()
    app = create_app(Settings(database_url=url, id_key=None, key_file=nowhere))
    with pytest.raises(BaseException) as refused, TestClient(app=app):
        pass  # start-up itself fails: not one request is served
    app.state.engine.dispose()
    assert _raised(refused.value, KeyMissing)


def _raised(exc: BaseException, kind: type[BaseException]) -> bool:
    """The lifespan runs in a task group, so the start-up error arrives inside an exception group."""
    if isinstance(exc, kind):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return any(_raised(e, kind) for e in exc.exceptions)
    return False


def test_sqlite_file_holds_no_demo_id(demo_build: DemoBuild, demo_copy: DemoCopy, tmp_path: Path) -> None:
    path = demo_copy.db_path
    url = demo_copy.url
    ids = _demo_ids()
    assert len(ids) > 3000
    # The CLI loaded it with the key from the environment: no key file was written next to the data.
    assert not demo_build.key_file_written
    _works_through_the_api(url, demo_copy.root, ids)
    raw = _sqlite_bytes(path)
    assert _found(raw, ids) == set()

    # The scan can fail: the same bytes with one demo number planted in a copy.
    planted = tmp_path / "planted.sqlite3"
    shutil.copy(path, planted)
    victim = sorted(ids)[0]
    engine = create_engine(f"sqlite:///{planted}")
    with engine.begin() as conn:
        conn.execute(text("UPDATE people SET address = :n WHERE id = (SELECT min(id) FROM people)"), {"n": victim})
    engine.dispose()
    assert _found(_sqlite_bytes(planted), ids) == {victim}

    # A copy of the file without the key shows nothing.
    copy = tmp_path / "copied.sqlite3"
    shutil.copy(path, copy)
    _refused_without_the_key(f"sqlite:///{copy}", demo_copy.key)


@pytest.mark.slow  # the demo loaded for real through the CLI into PostgreSQL: over a minute
def test_pg_dump_holds_no_demo_id(pg_server: str, tmp_path: Path, id_key: str) -> None:
    name = "ids_" + uuid.uuid4().hex[:10]
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))  # fresh, not from the migrated template
    admin.dispose()
    url = pg_server.rsplit("/", 1)[0] + "/" + name
    ids = _demo_ids()
    _load_demo(url, tmp_path)
    _works_through_the_api(url, tmp_path, ids)
    dump = _pg_dump(url)
    assert b"resident_id_cipher" in dump  # the dump really holds the people table
    assert _found(dump, ids) == set()

    victim = sorted(ids)[-1]
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE people SET address = :n WHERE id = (SELECT min(id) FROM people)"), {"n": victim})
    engine.dispose()
    assert _found(_pg_dump(url), ids) == {victim}

    _refused_without_the_key(url, id_key)
