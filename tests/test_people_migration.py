"""Migration 0003 on a database that already holds clear-text resident IDs, on SQLite and PostgreSQL.

Rows written at revision 0002 (people, a membership, a user linked to a person) are sealed in
place: the clear column is gone, each number opens with the key and nothing else, references
still hold, and the SQLite file keeps no clear number in freed pages. The key file is created
by the first migration, owner-only, when no key is configured.
"""

from __future__ import annotations

import stat
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from assoc_ledger.core.config import get_settings
from assoc_ledger.core.crypto import BadKey, IdCipher, new_key_text, parse_key
from assoc_ledger.core.db import make_engine
from assoc_ledger.core.migrate import alembic_config, upgrade
from tests.roster_files import resident_id

NUMBERS = [resident_id("341122", date(1960 + i, 1 + i, 10 + i), i, i % 2 == 0) for i in range(5)]


@pytest.fixture(params=["sqlite", "postgres"])
def at_0002(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database migrated to 0002 only, holding people with clear-text IDs."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    else:
        server: str = request.getfixturevalue("pg_server")
        name = "m_" + uuid.uuid4().hex[:10]
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = server.rsplit("/", 1)[0] + "/" + name
    upgrade(url, "0002_fund")
    now = datetime.now(UTC)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO organisations (id, name, kind, path, depth, constituted, version, "
                          "created_at, updated_at) VALUES (1, '测试县', 'county', '/1/', 0, true, 1, :now, :now)"),
                     {"now": now})
        for i, number in enumerate(NUMBERS, start=1):
            conn.execute(text("INSERT INTO people (id, name, resident_id, resident_id_tail, birth_date, sex, org_id, "
                              "created_at, updated_at) VALUES (:i, :name, :n, :tail, :born, 'F', 1, :now, :now)"),
                         {"i": i, "name": f"人{i}", "n": number, "tail": number[-4:],
                          "born": date(1960 + i - 1, i, 9 + i), "now": now})
        conn.execute(text("INSERT INTO memberships (person_id, org_id, joined_on, is_volunteer, created_at) "
                          "VALUES (2, 1, '2020-01-01', false, :now)"), {"now": now})
        conn.execute(text("INSERT INTO users (username, display_name, password_hash, person_id, is_active, "
                          "failed_logins, created_at) VALUES ('u', 'u', 'x', 3, true, 0, :now)"), {"now": now})
    engine.dispose()
    return url


def _raw(url: str) -> bytes:
    path = Path(url.split("///", 1)[1])
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def test_clear_rows_are_sealed_in_place(at_0002: str, id_key: str) -> None:
    upgrade(at_0002)
    cipher = IdCipher(parse_key(id_key, "test"))
    engine = make_engine(at_0002)
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("people")}
        assert "resident_id" not in columns
        rows = conn.execute(text("SELECT id, resident_id_cipher, resident_id_hash, resident_id_region, "
                                 "resident_id_tail FROM people ORDER BY id")).all()
        assert [cipher.open(bytes(r.resident_id_cipher), r.resident_id_hash) for r in rows] == NUMBERS
        assert [(r.resident_id_region, r.resident_id_tail) for r in rows] == [(n[:6], n[-4:]) for n in NUMBERS]
        assert [r.resident_id_hash for r in rows] == [cipher.lookup(n) for n in NUMBERS]
        with pytest.raises(BadKey):
            IdCipher(parse_key(new_key_text(), "other")).open(bytes(rows[0].resident_id_cipher),
                                                                rows[0].resident_id_hash)
        # The ciphertext is bound to its row's hash: moved to another row, it does not open.
        with pytest.raises(BadKey):
            cipher.open(bytes(rows[0].resident_id_cipher), rows[1].resident_id_hash)
        assert conn.execute(text("SELECT person_id FROM memberships")).scalar() == 2
        assert conn.execute(text("SELECT person_id FROM users")).scalar() == 3
    with engine.begin() as conn, pytest.raises(IntegrityError):  # references are still enforced
        conn.execute(text("INSERT INTO memberships (person_id, org_id, joined_on, is_volunteer, created_at) "
                          "VALUES (999, 1, '2020-01-01', false, :now)"), {"now": datetime.now(UTC)})
    with engine.begin() as conn, pytest.raises(IntegrityError):  # one person per ID, by hash
        conn.execute(text("UPDATE people SET resident_id_hash = :h WHERE id = 2"), {"h": rows[0].resident_id_hash})
    engine.dispose()
    if at_0002.startswith("sqlite"):
        raw = _raw(at_0002)
        assert [n for n in NUMBERS if n.encode() in raw] == []


def test_downgrade_gives_the_clear_column_back(at_0002: str) -> None:
    upgrade(at_0002)
    command.downgrade(alembic_config(at_0002), "0002_fund")
    engine = make_engine(at_0002)
    with engine.connect() as conn:
        assert list(conn.execute(text("SELECT resident_id FROM people ORDER BY id")).scalars()) == NUMBERS
    engine.dispose()


def test_first_migrate_creates_an_owner_only_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "keys" / "assoc.key"
    monkeypatch.delenv("ASSOC_ID_KEY")
    monkeypatch.setenv("ASSOC_KEY_FILE", str(key_file))
    get_settings.cache_clear()
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    upgrade(url)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = parse_key(key_file.read_text(), "file")
    assert get_settings().id_key is None
    # A second database in the same place shares the key; migrating again never replaces it.
    upgrade(f"sqlite:///{tmp_path / 'second.sqlite3'}")
    assert parse_key(key_file.read_text(), "file") == key
    get_settings.cache_clear()
