"""reports: annual fund statements (frozen figures, books' fingerprint, preparer and signer)

Revision ID: 0012_statements
Revises: 0011_entitlements
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import assoc_ledger.core.db

revision: str = "0012_statements"
down_revision: str | Sequence[str] | None = "0011_entitlements"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("statements",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("org_id", sa.Integer(), nullable=False),
    sa.Column("year", sa.Integer(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("period_start", sa.Date(), nullable=False),
    sa.Column("period_end", sa.Date(), nullable=False),
    sa.Column("figures", sa.JSON(), nullable=False),
    sa.Column("fingerprint", sa.JSON(), nullable=False),
    sa.Column("program_version", sa.String(length=40), nullable=False),
    sa.Column("prepared_by_id", sa.Integer(), nullable=True),
    sa.Column("prepared_by", sa.String(length=100), nullable=False),
    sa.Column("prepared_at", assoc_ledger.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column("signed_by_id", sa.Integer(), nullable=True),
    sa.Column("signed_by", sa.String(length=100), nullable=True),
    sa.Column("signed_at", assoc_ledger.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column("sign_comment", sa.String(length=1000), nullable=True),
    sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], name=op.f("fk_statements_org_id_organisations")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_statements")),
    sa.UniqueConstraint("org_id", "year", "version", name=op.f("uq_statements_org_id_year_version"))
    )
    with op.batch_alter_table("statements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_statements_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("statements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_statements_org_id"))
    op.drop_table("statements")
