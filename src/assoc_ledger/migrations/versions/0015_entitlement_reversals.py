"""entitlements: a roll line whose voucher the books reverse is marked, and its months may be paid again

The unique rule on (scheme, household, first month) and the covering index of paid months now hold for the
lines whose voucher stands (reversed_by_entry_id IS NULL).

Revision ID: 0015_entitlement_reversals
Revises: 0014_long_term
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_entitlement_reversals"
down_revision: str | Sequence[str] | None = "0014_long_term"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("reversed_by_entry_id IS NULL")
REVERSED = sa.text("reversed_by_entry_id IS NOT NULL")
COVERING = ["household_id", "scheme", "from_month", "to_month", "months", "monthly_fen"]
OLD_UNIQUE = "uq_entitlement_lines_scheme_household_id_from_month"


def upgrade() -> None:
    with op.batch_alter_table("entitlement_lines") as batch:  # SQLite: the table is rebuilt without the old rule
        batch.add_column(sa.Column("reversed_by_entry_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_entitlement_lines_reversed_by_entry_id_fund_entries", "fund_entries",
                                 ["reversed_by_entry_id"], ["id"])
        batch.drop_constraint(OLD_UNIQUE, type_="unique")
    op.create_index("uq_entitlement_lines_live", "entitlement_lines", ["scheme", "household_id", "from_month"],
                    unique=True, sqlite_where=LIVE, postgresql_where=LIVE)
    op.drop_index("ix_entitlement_lines_paid", table_name="entitlement_lines")
    op.create_index("ix_entitlement_lines_paid", "entitlement_lines", COVERING, sqlite_where=LIVE,
                    postgresql_where=LIVE)
    op.create_index("ix_entitlement_lines_reversed", "entitlement_lines", ["reversed_by_entry_id"],
                    sqlite_where=REVERSED, postgresql_where=REVERSED)


def downgrade() -> None:
    op.drop_index("ix_entitlement_lines_reversed", table_name="entitlement_lines")
    op.drop_index("ix_entitlement_lines_paid", table_name="entitlement_lines")
    op.create_index("ix_entitlement_lines_paid", "entitlement_lines", COVERING)
    op.drop_index("uq_entitlement_lines_live", table_name="entitlement_lines")
    with op.batch_alter_table("entitlement_lines") as batch:
        batch.create_unique_constraint(OLD_UNIQUE, ["scheme", "household_id", "from_month"])
        batch.drop_constraint("fk_entitlement_lines_reversed_by_entry_id_fund_entries", type_="foreignkey")
        batch.drop_column("reversed_by_entry_id")
