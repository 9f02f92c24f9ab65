"""relief: schemes as versioned data, cases with their append-only steps and documents

Revision ID: 0010_relief
Revises: 0008_fund_search
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import assoc_ledger.core.db

revision: str = "0010_relief"
down_revision: str | Sequence[str] | None = "0008_fund_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = assoc_ledger.core.db.UTCDateTime
APPEND_ONLY = "relief_case_steps is append-only (救助案件办理记录只能追加)"


def upgrade() -> None:
    op.create_table(
        "relief_schemes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], name=op.f("fk_relief_schemes_org_id_organisations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relief_schemes")),
        sa.UniqueConstraint("code", name=op.f("uq_relief_schemes_code")),
    )
    with op.batch_alter_table("relief_schemes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_relief_schemes_category"), ["category"], unique=False)
        batch_op.create_index(batch_op.f("ix_relief_schemes_org_id"), ["org_id"], unique=False)

    op.create_table(
        "relief_scheme_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scheme_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("fund", sa.String(length=40), nullable=False),
        sa.Column("amount_rule", sa.String(length=10), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("standard", sa.String(length=40), nullable=True),
        sa.Column("months", sa.Integer(), nullable=True),
        sa.Column("household_kinds", sa.JSON(), nullable=False),
        sa.Column("documents", sa.JSON(), nullable=False),
        sa.Column("review_steps", sa.JSON(), nullable=False),
        sa.Column("review_due_days", sa.Integer(), nullable=True),
        sa.Column("yearly_limit", sa.Integer(), nullable=True),
        sa.Column("basis", sa.String(length=300), nullable=True),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["scheme_id"], ["relief_schemes.id"],
                                name=op.f("fk_relief_scheme_versions_scheme_id_relief_schemes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relief_scheme_versions")),
        sa.UniqueConstraint("scheme_id", "effective_from",
                            name=op.f("uq_relief_scheme_versions_scheme_id_effective_from")),
        sa.UniqueConstraint("scheme_id", "version", name=op.f("uq_relief_scheme_versions_scheme_id_version")),
    )
    with op.batch_alter_table("relief_scheme_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_relief_scheme_versions_scheme_id"), ["scheme_id"], unique=False)

    op.create_table(
        "relief_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scheme_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("case_date", sa.Date(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("months", sa.Integer(), nullable=True),
        sa.Column("payee", sa.String(length=100), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("reviewed_by_id", sa.Integer(), nullable=True),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("reviewed_on", sa.Date(), nullable=True),
        sa.Column("review_due_on", sa.Date(), nullable=True),
        sa.Column("fund_entry_id", sa.Integer(), nullable=True),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("pay_attempt", sa.Integer(), nullable=False),
        sa.Column("pay_problem", sa.String(length=500), nullable=True),
        sa.Column("idem_key", sa.String(length=120), nullable=True),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["fund_entry_id"], ["fund_entries.id"],
                                name=op.f("fk_relief_cases_fund_entry_id_fund_entries")),
        sa.ForeignKeyConstraint(["household_id"], ["households.id"], name=op.f("fk_relief_cases_household_id_households")),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], name=op.f("fk_relief_cases_org_id_organisations")),
        sa.ForeignKeyConstraint(["scheme_id"], ["relief_schemes.id"], name=op.f("fk_relief_cases_scheme_id_relief_schemes")),
        sa.ForeignKeyConstraint(["version_id"], ["relief_scheme_versions.id"],
                                name=op.f("fk_relief_cases_version_id_relief_scheme_versions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relief_cases")),
        sa.UniqueConstraint("fund_entry_id", name=op.f("uq_relief_cases_fund_entry_id")),
        sa.UniqueConstraint("idem_key", name=op.f("uq_relief_cases_idem_key")),
    )
    with op.batch_alter_table("relief_cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_relief_cases_category"), ["category"], unique=False)
        batch_op.create_index(batch_op.f("ix_relief_cases_household_id"), ["household_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_relief_cases_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_relief_cases_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_relief_cases_version_id"), ["version_id"], unique=False)
        batch_op.create_index("ix_relief_cases_scheme_household_date", ["scheme_id", "household_id", "case_date"],
                              unique=False)

    op.create_table(
        "relief_case_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=True),
        sa.Column("to_state", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=100), nullable=True),
        sa.Column("at", UTC(timezone=True), nullable=False),
        sa.Column("step_date", sa.Date(), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["relief_cases.id"], name=op.f("fk_relief_case_steps_case_id_relief_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relief_case_steps")),
        sa.UniqueConstraint("case_id", "seq", name=op.f("uq_relief_case_steps_case_id_seq")),
    )
    with op.batch_alter_table("relief_case_steps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_relief_case_steps_case_id"), ["case_id"], unique=False)

    # The history of a case is never rewritten: the database itself refuses to change or remove a step.
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER relief_case_steps_no_{verb.lower()} BEFORE {verb} ON relief_case_steps "
                       f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END")
    else:
        op.execute("CREATE FUNCTION relief_case_steps_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                   f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$")
        op.execute("CREATE TRIGGER relief_case_steps_append_only BEFORE UPDATE OR DELETE ON relief_case_steps "
                   "FOR EACH ROW EXECUTE FUNCTION relief_case_steps_append_only()")

    op.create_table(
        "relief_case_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("doc_type", sa.String(length=40), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=30), nullable=False),
        sa.Column("uploaded_at", UTC(timezone=True), nullable=False),
        sa.Column("uploaded_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["relief_cases.id"],
                                name=op.f("fk_relief_case_documents_case_id_relief_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relief_case_documents")),
    )
    with op.batch_alter_table("relief_case_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_relief_case_documents_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP TRIGGER relief_case_steps_append_only ON relief_case_steps")
        op.execute("DROP FUNCTION relief_case_steps_append_only()")
    for table in ("relief_case_documents", "relief_case_steps", "relief_cases", "relief_scheme_versions",
                  "relief_schemes"):
        op.drop_table(table)
