"""entitlements: the roll lines' household index covers what a run and reconciliation read of them

(household, scheme, first and last month, months, monthly amount): the months already paid are summed and
the lines compared off the index alone, without a read of each line's row.

Revision ID: 0013_entitlement_speed
Revises: 0013_statements_frozen
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013_entitlement_speed"
down_revision: str | Sequence[str] | None = "0013_statements_frozen"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COVERING = ["household_id", "scheme", "from_month", "to_month", "months", "monthly_fen"]


def upgrade() -> None:
    op.drop_index("ix_entitlement_lines_household_scheme", table_name="entitlement_lines")
    op.create_index("ix_entitlement_lines_paid", "entitlement_lines", COVERING)


def downgrade() -> None:
    op.drop_index("ix_entitlement_lines_paid", table_name="entitlement_lines")
    op.create_index("ix_entitlement_lines_household_scheme", "entitlement_lines", ["household_id", "scheme"])
