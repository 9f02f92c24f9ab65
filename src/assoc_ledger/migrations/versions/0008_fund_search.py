"""fund search: unigram/bigram tokens of every entry, indexed on both backends

Revision ID: 0008_fund_search
Revises: 0006_fund_reads

0006's trigram index could not find one or two characters (most Chinese words are two), which then fell
back to LIKE over every row. Each entry now carries ``search`` (``fund/search.py``: its characters as
unigram and bigram tokens), filled here for the rows already there. On SQLite the FTS5 table keeps its
name and its triggers but indexes ``search`` with the unicode61 tokenizer; on PostgreSQL a GIN index on
``to_tsvector('simple', search)`` replaces the pg_trgm indexes.
"""

# ruff: noqa: S608 - the SQL here is built from names written in this file, never from input

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from assoc_ledger.fund.search import entry_search_text

revision: str = "0008_fund_search"
down_revision: str | Sequence[str] | None = "0007_households"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000
TRIGGERS = ("ai", "ad", "au")


def _fts(columns: str, tokenize: str, watched: str) -> list[str]:
    """The FTS5 table over ``fund_entries`` and the triggers that keep it in the entry's transaction."""
    new = ", ".join(f"new.{c}" for c in columns.split(", "))
    old = ", ".join(f"old.{c}" for c in columns.split(", "))
    return [
        f"CREATE VIRTUAL TABLE fund_entries_fts USING fts5({columns}, content='fund_entries', "
        f"content_rowid='id', tokenize='{tokenize}')",
        f"CREATE TRIGGER fund_entries_fts_ai AFTER INSERT ON fund_entries BEGIN "
        f"INSERT INTO fund_entries_fts(rowid, {columns}) VALUES (new.id, {new}); END",
        f"CREATE TRIGGER fund_entries_fts_ad AFTER DELETE ON fund_entries BEGIN "
        f"INSERT INTO fund_entries_fts(fund_entries_fts, rowid, {columns}) VALUES ('delete', old.id, {old}); END",
        f"CREATE TRIGGER fund_entries_fts_au AFTER UPDATE OF {watched} ON fund_entries BEGIN "
        f"INSERT INTO fund_entries_fts(fund_entries_fts, rowid, {columns}) VALUES ('delete', old.id, {old}); "
        f"INSERT INTO fund_entries_fts(rowid, {columns}) VALUES (new.id, {new}); END",
        "INSERT INTO fund_entries_fts(fund_entries_fts) VALUES ('rebuild')",
    ]


def _drop_fts() -> None:
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER fund_entries_fts_{trigger}")
    op.execute("DROP TABLE fund_entries_fts")


def _fill_search() -> None:
    conn = op.get_bind()
    entries = sa.table("fund_entries", sa.column("id", sa.Integer), sa.column("narration", sa.String),
                       sa.column("payee", sa.String), sa.column("voucher", sa.String),
                       sa.column("search", sa.Text))
    update = sa.update(entries).where(entries.c.id == sa.bindparam("eid")).values(search=sa.bindparam("tokens"))
    last = 0
    while True:
        rows = conn.execute(sa.select(entries.c.id, entries.c.narration, entries.c.payee, entries.c.voucher)
                            .where(entries.c.id > last).order_by(entries.c.id).limit(BATCH)).all()
        if not rows:
            return
        conn.execute(update, [{"eid": r.id, "tokens": entry_search_text((r.narration, r.payee, r.voucher))}
                              for r in rows])
        last = rows[-1].id


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if not postgres:
        _drop_fts()  # before the fill, so 0006's update trigger does not re-index every row as trigrams
    op.add_column("fund_entries", sa.Column("search", sa.Text(), nullable=True))
    _fill_search()
    if postgres:
        for col in ("narration", "payee", "voucher"):
            op.execute(f"DROP INDEX ix_fund_entries_trgm_{col}")
        op.execute("CREATE INDEX ix_fund_entries_search ON fund_entries USING gin (to_tsvector('simple', search))")
    else:
        for statement in _fts("search", "unicode61", "search"):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_fund_entries_search")
        for col in ("narration", "payee", "voucher"):
            op.execute(f"CREATE INDEX ix_fund_entries_trgm_{col} ON fund_entries USING gin ({col} gin_trgm_ops)")
    else:
        _drop_fts()
    op.drop_column("fund_entries", "search")
    if op.get_bind().dialect.name != "postgresql":
        for statement in _fts("narration, payee, voucher", "trigram", "narration, payee, voucher"):
            op.execute(statement)
