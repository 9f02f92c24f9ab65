"""people: resident IDs encrypted at rest (ciphertext, keyed lookup hash, region; the clear column goes)

Revision ID: 0003_people_ids_encrypted
Revises: 0002_fund
Create Date: 2026-11-23 20:40:00.000000

The key lives outside the database (ASSOC_ID_KEY or the key file); the first migration creates
the key file if neither exists. Existing clear-text rows are sealed, hashed and split in place.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic import op

from assoc_ledger.core.config import get_settings
from assoc_ledger.core.crypto import IdCipher, cipher_for, ensure_key_file

revision: str = "0003_people_ids_encrypted"
down_revision: str | Sequence[str] | None = "0002_fund"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 1000


def _cipher() -> IdCipher:
    settings = get_settings()
    if ensure_key_file(settings):
        # The operator must learn of the key now: a database restored without it shows no ID.
        sys.stderr.write(f"已创建身份证号密钥文件 {settings.key_file}（仅所有者可读）。请另行备份该文件，"
                         "不要与数据库备份放在一起；丢失后已登记的身份证号将无法查看。\n")
    return cipher_for(settings)


@contextmanager
def _rebuild_allowed() -> Iterator[None]:
    """SQLite rebuilds ``people`` to drop a UNIQUE column; memberships and users point at it.

    Dropping the old table with foreign keys enforced fails even when every reference holds
    afterwards, and SQLite ignores ``PRAGMA foreign_keys`` inside a transaction: switch it off in
    an autocommit block, rebuild, then prove no reference broke. The migration's connection is
    its own (migrations/env.py), so enforcement is back for every other connection.
    """
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    with op.get_context().autocommit_block():
        op.execute("PRAGMA foreign_keys=OFF")
        # Freed pages (the old table, the old row versions) are zeroed, not left holding clear numbers.
        op.execute("PRAGMA secure_delete=ON")
    yield
    broken = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"people rebuild broke foreign keys: {broken[:5]}")


def _chunks(rows: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start:start + CHUNK]


def upgrade() -> None:
    cipher = _cipher()
    bind = op.get_bind()
    with _rebuild_allowed():
        with op.batch_alter_table("people", schema=None) as batch_op:
            batch_op.add_column(sa.Column("resident_id_cipher", sa.LargeBinary(), nullable=True))
            batch_op.add_column(sa.Column("resident_id_hash", sa.String(length=64), nullable=True))
            batch_op.add_column(sa.Column("resident_id_region", sa.String(length=6), nullable=True))

        people = sa.table("people", sa.column("id", sa.Integer), sa.column("resident_id", sa.String),
                          sa.column("resident_id_cipher", sa.LargeBinary),
                          sa.column("resident_id_hash", sa.String), sa.column("resident_id_region", sa.String),
                          sa.column("resident_id_tail", sa.String))
        rows = bind.execute(sa.select(people.c.id, people.c.resident_id)).all()
        update = (people.update().where(people.c.id == sa.bindparam("pid"))
                  .values(resident_id_cipher=sa.bindparam("c"), resident_id_hash=sa.bindparam("h"),
                          resident_id_region=sa.bindparam("r"), resident_id_tail=sa.bindparam("t")))
        for chunk in _chunks(rows):
            values = []
            for pid, number in chunk:
                lookup = cipher.lookup(number)
                values.append({"pid": pid, "c": cipher.seal(number, lookup), "h": lookup, "r": number[:6],
                               "t": number[-4:]})
            bind.execute(update, values)

        with op.batch_alter_table("people", schema=None) as batch_op:
            batch_op.alter_column("resident_id_cipher", existing_type=sa.LargeBinary(), nullable=False)
            batch_op.alter_column("resident_id_hash", existing_type=sa.String(length=64), nullable=False)
            batch_op.alter_column("resident_id_region", existing_type=sa.String(length=6), nullable=False)
            batch_op.drop_constraint(batch_op.f("uq_people_resident_id"), type_="unique")
            batch_op.drop_column("resident_id")
            batch_op.create_unique_constraint(batch_op.f("uq_people_resident_id_hash"), ["resident_id_hash"])
    if bind.dialect.name == "postgresql":
        # DROP COLUMN leaves the old values in the heap, and the UPDATE above left dead row versions
        # holding them: rewrite the table now (CLUSTER may run inside the migration's transaction).
        op.execute("CLUSTER people USING pk_people")


def downgrade() -> None:
    cipher = _cipher()
    bind = op.get_bind()
    with _rebuild_allowed():
        with op.batch_alter_table("people", schema=None) as batch_op:
            batch_op.add_column(sa.Column("resident_id", sa.String(length=18), nullable=True))
        people = sa.table("people", sa.column("id", sa.Integer), sa.column("resident_id", sa.String),
                          sa.column("resident_id_cipher", sa.LargeBinary), sa.column("resident_id_hash", sa.String))
        rows = bind.execute(sa.select(people.c.id, people.c.resident_id_cipher, people.c.resident_id_hash)).all()
        update = people.update().where(people.c.id == sa.bindparam("pid")).values(resident_id=sa.bindparam("n"))
        for chunk in _chunks(rows):
            bind.execute(update, [{"pid": pid, "n": cipher.open(sealed, lookup)} for pid, sealed, lookup in chunk])
        with op.batch_alter_table("people", schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f("uq_people_resident_id_hash"), type_="unique")
            batch_op.drop_column("resident_id_region")
            batch_op.drop_column("resident_id_hash")
            batch_op.drop_column("resident_id_cipher")
            batch_op.alter_column("resident_id", existing_type=sa.String(length=18), nullable=False)
            batch_op.create_unique_constraint(batch_op.f("uq_people_resident_id"), ["resident_id"])
