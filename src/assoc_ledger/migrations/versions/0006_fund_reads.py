"""fund reads: month totals, journal order index, text search index, verify checkpoints

Revision ID: 0006_fund_reads
Revises: 0004_aid_standards

The text search index is not a model: on SQLite an FTS5 table (trigram tokenizer, so Chinese is found
by any three characters) kept by triggers in the entry's own transaction; on PostgreSQL pg_trgm GIN
indexes that serve the same ``LIKE '%…%'``. Both are built here for the rows already there.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import assoc_ledger.core.db

revision: str = "0006_fund_reads"
down_revision: str | Sequence[str] | None = "0005_fund_rolls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_SEARCH = [
    "CREATE VIRTUAL TABLE fund_entries_fts USING fts5(narration, payee, voucher, content='fund_entries', "
    "content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER fund_entries_fts_ai AFTER INSERT ON fund_entries BEGIN "
    "INSERT INTO fund_entries_fts(rowid, narration, payee, voucher) VALUES (new.id, new.narration, new.payee, new.voucher); "
    "END",
    "CREATE TRIGGER fund_entries_fts_ad AFTER DELETE ON fund_entries BEGIN "
    "INSERT INTO fund_entries_fts(fund_entries_fts, rowid, narration, payee, voucher) "
    "VALUES ('delete', old.id, old.narration, old.payee, old.voucher); END",
    "CREATE TRIGGER fund_entries_fts_au AFTER UPDATE OF narration, payee, voucher ON fund_entries BEGIN "
    "INSERT INTO fund_entries_fts(fund_entries_fts, rowid, narration, payee, voucher) "
    "VALUES ('delete', old.id, old.narration, old.payee, old.voucher); "
    "INSERT INTO fund_entries_fts(rowid, narration, payee, voucher) VALUES (new.id, new.narration, new.payee, new.voucher); "
    "END",
    "INSERT INTO fund_entries_fts(fund_entries_fts) VALUES ('rebuild')",
]
PG_SEARCH = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    *(f"CREATE INDEX ix_fund_entries_trgm_{col} ON fund_entries USING gin ({col} gin_trgm_ops)"
      for col in ("narration", "payee", "voucher")),
]


def upgrade() -> None:
    op.create_table(
        "fund_month_totals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=120), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["book_id"], ["fund_books.id"], name=op.f("fk_fund_month_totals_book_id_fund_books")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fund_month_totals")),
        sa.UniqueConstraint("book_id", "account", "month", name=op.f("uq_fund_month_totals_book_id_account_month")),
    )
    op.create_table(
        "fund_verify_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("verified_at", assoc_ledger.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["book_id"], ["fund_books.id"],
                                name=op.f("fk_fund_verify_checkpoints_book_id_fund_books")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fund_verify_checkpoints")),
        sa.UniqueConstraint("book_id", "year", name=op.f("uq_fund_verify_checkpoints_book_id_year")),
    )
    op.create_index("ix_fund_entries_book_date_seq", "fund_entries", ["book_id", "date", "seq"], unique=False)
    op.drop_index("ix_fund_entries_book_date", table_name="fund_entries")
    postgres = op.get_bind().dialect.name == "postgresql"
    month = "CAST(date_trunc('month', date) AS date)" if postgres else "substr(date, 1, 7) || '-01'"
    op.execute("INSERT INTO fund_month_totals (book_id, account, month, amount_fen) "  # noqa: S608 - no input
               f"SELECT book_id, account, {month}, sum(amount_fen) FROM fund_postings "
               f"GROUP BY book_id, account, {month}")
    for statement in PG_SEARCH if postgres else SQLITE_SEARCH:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for col in ("narration", "payee", "voucher"):
            op.execute(f"DROP INDEX ix_fund_entries_trgm_{col}")
    else:
        for trigger in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER fund_entries_fts_{trigger}")
        op.execute("DROP TABLE fund_entries_fts")
    op.create_index("ix_fund_entries_book_date", "fund_entries", ["book_id", "date"], unique=False)
    op.drop_index("ix_fund_entries_book_date_seq", table_name="fund_entries")
    op.drop_table("fund_verify_checkpoints")
    op.drop_table("fund_month_totals")
