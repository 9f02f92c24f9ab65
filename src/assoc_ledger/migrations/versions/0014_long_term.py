"""long_term: relief cases paid by the month carry their start and end months; roll lines name the relief
case and scheme version that made them due; a background run records why it failed.

Revision ID: 0014_long_term
Revises: 0013_entitlement_speed
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_long_term"
down_revision: str | Sequence[str] | None = "0013_entitlement_speed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("relief_cases", sa.Column("start_month", sa.Date(), nullable=True))
    op.add_column("relief_cases", sa.Column("end_month", sa.Date(), nullable=True))
    op.add_column("entitlement_lines", sa.Column("relief_case_id", sa.Integer(), nullable=True))
    op.add_column("entitlement_lines", sa.Column("scheme_version_id", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_entitlement_lines_relief_case_id"), "entitlement_lines", ["relief_case_id"])
    op.add_column("entitlement_runs", sa.Column("problem", sa.String(length=1000), nullable=True))
    # Long-term cases registered by the month before this version and not paid yet: from now on the monthly runs
    # pay them, from the month of the case date for the months the case asked for. A case already paid as a
    # one-off keeps no months (its one payment stands).
    cases = sa.table("relief_cases", sa.column("id", sa.Integer()), sa.column("category", sa.String()),
                     sa.column("case_date", sa.Date()), sa.column("months", sa.Integer()),
                     sa.column("state", sa.String()), sa.column("fund_entry_id", sa.Integer()),
                     sa.column("version_id", sa.Integer()), sa.column("start_month", sa.Date()),
                     sa.column("end_month", sa.Date()))
    versions = sa.table("relief_scheme_versions", sa.column("id", sa.Integer()), sa.column("amount_rule", sa.String()))
    bind = op.get_bind()
    rows = bind.execute(sa.select(cases.c.id, cases.c.case_date, cases.c.months)
                        .join(versions, versions.c.id == cases.c.version_id)
                        .where(cases.c.category == "long_term", versions.c.amount_rule == "monthly",
                               cases.c.months.is_not(None), cases.c.fund_entry_id.is_(None),
                               cases.c.state.in_(["registered", "reviewed", "approved"]))).all()
    for case_id, day, months in rows:
        start = day.year * 12 + day.month - 1
        end = start + months - 1
        bind.execute(sa.update(cases).where(cases.c.id == case_id).values(
            start_month=sa.literal(_first(start), sa.Date()), end_month=sa.literal(_first(end), sa.Date())))


def _first(index: int) -> object:
    import datetime as dt

    return dt.date(index // 12, index % 12 + 1, 1)


def downgrade() -> None:
    op.drop_column("entitlement_runs", "problem")
    op.drop_index(op.f("ix_entitlement_lines_relief_case_id"), table_name="entitlement_lines")
    op.drop_column("entitlement_lines", "scheme_version_id")
    op.drop_column("entitlement_lines", "relief_case_id")
    op.drop_column("relief_cases", "end_month")
    op.drop_column("relief_cases", "start_month")
