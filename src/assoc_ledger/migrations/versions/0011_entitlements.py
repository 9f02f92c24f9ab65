"""entitlements: programmes, runs, roll lines with their frozen facts, exits

Revision ID: 0011_entitlements
Revises: 0010_relief
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import assoc_ledger.core.db

revision: str = "0011_entitlements"
down_revision: str | Sequence[str] | None = "0010_relief"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = assoc_ledger.core.db.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "entitlement_programmes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scheme", sa.String(length=30), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("fund", sa.String(length=30), nullable=False),
        sa.Column("first_month", sa.Date(), nullable=False),
        sa.Column("scheme_version_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"],
                                name=op.f("fk_entitlement_programmes_org_id_organisations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entitlement_programmes")),
        sa.UniqueConstraint("scheme", "org_id", name=op.f("uq_entitlement_programmes_scheme_org_id")),
    )
    op.create_index(op.f("ix_entitlement_programmes_org_id"), "entitlement_programmes", ["org_id"])
    op.create_table(
        "entitlement_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("pay_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", UTC(timezone=True), nullable=False),
        sa.Column("finished_at", UTC(timezone=True), nullable=True),
        sa.Column("started_by", sa.String(length=100), nullable=True),
        sa.Column("rule_version", sa.String(length=60), nullable=False),
        sa.Column("max_event_id", sa.Integer(), nullable=False),
        sa.Column("basis", sa.JSON(), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("arrears_months", sa.Integer(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("exits", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], name=op.f("fk_entitlement_runs_org_id_organisations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entitlement_runs")),
    )
    op.create_index(op.f("ix_entitlement_runs_month"), "entitlement_runs", ["month"])
    op.create_table(
        "entitlement_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("scheme", sa.String(length=30), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("payee_person_id", sa.Integer(), nullable=True),
        sa.Column("payee", sa.String(length=60), nullable=False),
        sa.Column("resident_id", sa.String(length=18), nullable=False),
        sa.Column("from_month", sa.Date(), nullable=False),
        sa.Column("to_month", sa.Date(), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("monthly_fen", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("arrears", sa.Boolean(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=60), nullable=False),
        sa.Column("qualified_on", sa.Date(), nullable=False),
        sa.Column("certificate_no", sa.String(length=60), nullable=True),
        sa.Column("child_id", sa.Integer(), nullable=True),
        sa.Column("child_birth", sa.Date(), nullable=True),
        sa.Column("standard_from", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["entitlement_runs.id"],
                                name=op.f("fk_entitlement_lines_run_id_entitlement_runs")),
        sa.ForeignKeyConstraint(["programme_id"], ["entitlement_programmes.id"],
                                name=op.f("fk_entitlement_lines_programme_id_entitlement_programmes")),
        sa.ForeignKeyConstraint(["household_id"], ["households.id"],
                                name=op.f("fk_entitlement_lines_household_id_households")),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"],
                                name=op.f("fk_entitlement_lines_org_id_organisations")),
        sa.ForeignKeyConstraint(["payee_person_id"], ["people.id"],
                                name=op.f("fk_entitlement_lines_payee_person_id_people")),
        sa.ForeignKeyConstraint(["book_id"], ["fund_books.id"], name=op.f("fk_entitlement_lines_book_id_fund_books")),
        sa.ForeignKeyConstraint(["entry_id"], ["fund_entries.id"],
                                name=op.f("fk_entitlement_lines_entry_id_fund_entries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entitlement_lines")),
        sa.UniqueConstraint("scheme", "household_id", "from_month",
                            name=op.f("uq_entitlement_lines_scheme_household_id_from_month")),
    )
    op.create_index(op.f("ix_entitlement_lines_run_id"), "entitlement_lines", ["run_id"])
    op.create_index(op.f("ix_entitlement_lines_org_id"), "entitlement_lines", ["org_id"])
    op.create_index(op.f("ix_entitlement_lines_entry_id"), "entitlement_lines", ["entry_id"])
    op.create_index("ix_entitlement_lines_household_scheme", "entitlement_lines", ["household_id", "scheme"])
    op.create_table(
        "entitlement_exits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("scheme", sa.String(length=30), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["household_id"], ["households.id"],
                                name=op.f("fk_entitlement_exits_household_id_households")),
        sa.ForeignKeyConstraint(["run_id"], ["entitlement_runs.id"],
                                name=op.f("fk_entitlement_exits_run_id_entitlement_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entitlement_exits")),
        sa.UniqueConstraint("household_id", "scheme", "month", "reason",
                            name=op.f("uq_entitlement_exits_household_id_scheme_month_reason")),
    )
    op.create_index(op.f("ix_entitlement_exits_household_id"), "entitlement_exits", ["household_id"])
    op.create_table(
        "entitlement_outlooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("scheme", sa.String(length=30), nullable=False),
        sa.Column("kind", sa.String(length=4), nullable=False),
        sa.Column("first_month", sa.Date(), nullable=False),
        sa.Column("last_month", sa.Date(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("qualified_on", sa.Date(), nullable=True),
        sa.Column("certificate_no", sa.String(length=60), nullable=True),
        sa.Column("child_id", sa.Integer(), nullable=True),
        sa.Column("child_birth", sa.Date(), nullable=True),
        sa.Column("reason", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(["household_id"], ["households.id"],
                                name=op.f("fk_entitlement_outlooks_household_id_households")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entitlement_outlooks")),
    )
    op.create_index(op.f("ix_entitlement_outlooks_household_id"), "entitlement_outlooks", ["household_id"])
    op.create_table(
        "entitlement_outlook_marks",
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("max_event_id", sa.Integer(), nullable=False),
        sa.Column("rule_version", sa.String(length=60), nullable=False),
        sa.Column("computed_at", UTC(timezone=True), nullable=False),
        sa.Column("payee_person_id", sa.Integer(), nullable=True),
        sa.Column("payee", sa.String(length=60), nullable=False),
        sa.Column("resident_id", sa.String(length=18), nullable=False),
        sa.ForeignKeyConstraint(["household_id"], ["households.id"],
                                name=op.f("fk_entitlement_outlook_marks_household_id_households")),
        sa.PrimaryKeyConstraint("household_id", name=op.f("pk_entitlement_outlook_marks")),
    )


def downgrade() -> None:
    op.drop_table("entitlement_outlook_marks")
    op.drop_table("entitlement_outlooks")
    op.drop_table("entitlement_exits")
    op.drop_table("entitlement_lines")
    op.drop_table("entitlement_runs")
    op.drop_table("entitlement_programmes")
