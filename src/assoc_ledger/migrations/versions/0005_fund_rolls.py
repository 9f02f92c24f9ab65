"""fund rolls: payment rolls (发放花名册) attached to entries, with their lines

Revision ID: 0005_fund_rolls
Revises: 0004_aid_standards
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_fund_rolls"
down_revision: str | Sequence[str] | None = "0004_aid_standards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fund_rolls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["book_id"], ["fund_books.id"], name=op.f("fk_fund_rolls_book_id_fund_books")),
        sa.ForeignKeyConstraint(["entry_id"], ["fund_entries.id"], name=op.f("fk_fund_rolls_entry_id_fund_entries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fund_rolls")),
        sa.UniqueConstraint("book_id", "name", name=op.f("uq_fund_rolls_book_id_name")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_fund_rolls_entry_id")),
    )
    op.create_table(
        "fund_roll_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("roll_id", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("payee", sa.String(length=60), nullable=False),
        sa.Column("resident_id", sa.String(length=18), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(["roll_id"], ["fund_rolls.id"], name=op.f("fk_fund_roll_lines_roll_id_fund_rolls")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fund_roll_lines")),
        sa.UniqueConstraint("roll_id", "line_no", name=op.f("uq_fund_roll_lines_roll_id_line_no")),
    )


def downgrade() -> None:
    op.drop_table("fund_roll_lines")
    op.drop_table("fund_rolls")
