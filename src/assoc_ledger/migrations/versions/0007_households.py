"""households: the registry"s event log and its current projection (members, kinds)

Revision ID: 0007_households
Revises: 0004_aid_standards
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import assoc_ledger.core.db

revision: str = "0007_households"
down_revision: str | Sequence[str] | None = "0006_fund_reads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("households",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("org_id", sa.Integer(), nullable=False),
    sa.Column("address", sa.String(length=200), nullable=True),
    sa.Column("registered_on", sa.Date(), nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("created_at", assoc_ledger.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], name=op.f("fk_households_org_id_organisations")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_households"))
    )
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_households_org_id"), ["org_id"], unique=False)

    op.create_table("household_events",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("household_id", sa.Integer(), nullable=False),
    sa.Column("kind", sa.String(length=30), nullable=False),
    sa.Column("effective_on", sa.Date(), nullable=False),
    sa.Column("recorded_at", assoc_ledger.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column("recorded_by_id", sa.Integer(), nullable=True),
    sa.Column("recorded_by", sa.String(length=100), nullable=True),
    sa.Column("person_id", sa.Integer(), nullable=True),
    sa.Column("data", sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(["household_id"], ["households.id"], name=op.f("fk_household_events_household_id_households")),
    sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_household_events_person_id_people")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_household_events"))
    )
    with op.batch_alter_table("household_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_household_events_household_id"), ["household_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_household_events_person_id"), ["person_id"], unique=False)

    op.create_table("household_kinds",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("household_id", sa.Integer(), nullable=False),
    sa.Column("kind", sa.String(length=30), nullable=False),
    sa.Column("since", sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(["household_id"], ["households.id"], name=op.f("fk_household_kinds_household_id_households")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_household_kinds")),
    sa.UniqueConstraint("household_id", "kind", name=op.f("uq_household_kinds_household_id_kind"))
    )
    with op.batch_alter_table("household_kinds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_household_kinds_household_id"), ["household_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_household_kinds_kind"), ["kind"], unique=False)

    op.create_table("household_members",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("household_id", sa.Integer(), nullable=False),
    sa.Column("person_id", sa.Integer(), nullable=False),
    sa.Column("relation", sa.String(length=10), nullable=False),
    sa.Column("since", sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(["household_id"], ["households.id"], name=op.f("fk_household_members_household_id_households")),
    sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_household_members_person_id_people")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_household_members")),
    sa.UniqueConstraint("person_id", name=op.f("uq_household_members_person_id"))
    )
    with op.batch_alter_table("household_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_household_members_household_id"), ["household_id"], unique=False)


    op.create_table(
        "pairings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("membership_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("from_date", sa.Date(), nullable=False),
        sa.Column("until_date", sa.Date(), nullable=True),
        sa.Column("created_at", assoc_ledger.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["household_id"], ["households.id"], name=op.f("fk_pairings_household_id_households")),
        sa.ForeignKeyConstraint(["membership_id"], ["memberships.id"],
                                name=op.f("fk_pairings_membership_id_memberships")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pairings")),
    )
    with op.batch_alter_table("pairings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pairings_household_id"), ["household_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_pairings_membership_id"), ["membership_id"], unique=False)

    op.create_table(
        "visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pairing_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("visited_on", sa.Date(), nullable=False),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("notes", sa.String(length=1000), nullable=True),
        sa.Column("goods", sa.String(length=500), nullable=True),
        sa.Column("cash_fen", sa.BigInteger(), nullable=True),
        sa.Column("fund_entry_id", sa.Integer(), nullable=True),
        sa.Column("signer_name", sa.String(length=50), nullable=False),
        sa.Column("sheet_sha256", sa.String(length=64), nullable=False),
        sa.Column("sheet_type", sa.String(length=30), nullable=False),
        sa.Column("recorded_at", assoc_ledger.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["fund_entry_id"], ["fund_entries.id"], name=op.f("fk_visits_fund_entry_id_fund_entries")),
        sa.ForeignKeyConstraint(["household_id"], ["households.id"], name=op.f("fk_visits_household_id_households")),
        sa.ForeignKeyConstraint(["pairing_id"], ["pairings.id"], name=op.f("fk_visits_pairing_id_pairings")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
    )
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visits_household_id"), ["household_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_visits_pairing_id"), ["pairing_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_visits_visited_on"), ["visited_on"], unique=False)

    op.create_table(
        "household_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("change", sa.String(length=20), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("opened_at", assoc_ledger.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=100), nullable=True),
        sa.Column("closed_at", assoc_ledger.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=100), nullable=True),
        sa.Column("resolution", sa.String(length=20), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["household_events.id"],
                                name=op.f("fk_household_reviews_event_id_household_events")),
        sa.ForeignKeyConstraint(["household_id"], ["households.id"],
                                name=op.f("fk_household_reviews_household_id_households")),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"], name=op.f("fk_household_reviews_visit_id_visits")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household_reviews")),
    )
    with op.batch_alter_table("household_reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_household_reviews_household_id"), ["household_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("household_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_household_reviews_household_id"))
    op.drop_table("household_reviews")
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visits_visited_on"))
        batch_op.drop_index(batch_op.f("ix_visits_pairing_id"))
        batch_op.drop_index(batch_op.f("ix_visits_household_id"))
    op.drop_table("visits")
    with op.batch_alter_table("pairings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pairings_membership_id"))
        batch_op.drop_index(batch_op.f("ix_pairings_household_id"))
    op.drop_table("pairings")
    with op.batch_alter_table("household_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_household_members_household_id"))

    op.drop_table("household_members")
    with op.batch_alter_table("household_kinds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_household_kinds_kind"))
        batch_op.drop_index(batch_op.f("ix_household_kinds_household_id"))

    op.drop_table("household_kinds")
    with op.batch_alter_table("household_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_household_events_person_id"))
        batch_op.drop_index(batch_op.f("ix_household_events_household_id"))

    op.drop_table("household_events")
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_households_org_id"))

    op.drop_table("households")
