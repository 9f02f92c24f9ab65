"""aid standards: amounts an organisation sets for its subtree from a date on

Revision ID: 0004_aid_standards
Revises: 0002_fund
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import assoc_ledger.core.db

revision: str = "0004_aid_standards"
down_revision: str | Sequence[str] | None = "0003_people_ids_encrypted"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fund_aid_standards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scheme", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("basis", sa.String(length=300), nullable=True),
        sa.Column("created_at", assoc_ledger.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"],
                                name=op.f("fk_fund_aid_standards_org_id_organisations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fund_aid_standards")),
        sa.UniqueConstraint("scheme", "org_id", "effective_from",
                            name=op.f("uq_fund_aid_standards_scheme_org_id_effective_from")),
    )
    with op.batch_alter_table("fund_aid_standards", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fund_aid_standards_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("fund_aid_standards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fund_aid_standards_org_id"))
    op.drop_table("fund_aid_standards")
