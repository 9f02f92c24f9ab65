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
down_revision: str | Sequence[str] | None = "0004_aid_standards"
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



def downgrade() -> None:
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
