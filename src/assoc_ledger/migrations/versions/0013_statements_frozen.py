"""reports: the database itself refuses to change a statement once prepared (only its one sign-off is added)

Revision ID: 0013_statements_frozen
Revises: 0012_statements
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013_statements_frozen"
down_revision: str | Sequence[str] | None = "0012_statements"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FROZEN = "statements are frozen once prepared: prepare a new version"
# Everything a statement says except its sign-off (signed_by_id, signed_by, signed_at, sign_comment).
COLUMNS = ("org_id", "year", "version", "period_start", "period_end", "figures", "fingerprint", "program_version",
           "prepared_by_id", "prepared_by", "prepared_at")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in COLUMNS)
        op.execute(f"CREATE TRIGGER statements_frozen BEFORE UPDATE ON statements "
                   f"WHEN OLD.signed_at IS NOT NULL OR {changed} BEGIN SELECT RAISE(ABORT, '{FROZEN}'); END")
        op.execute(f"CREATE TRIGGER statements_kept BEFORE DELETE ON statements "
                   f"BEGIN SELECT RAISE(ABORT, '{FROZEN}'); END")
        return
    # json has no equality operator: compare its text, which is stored as written.
    changed = " OR ".join(f"NEW.{c}::text IS DISTINCT FROM OLD.{c}::text" for c in COLUMNS)
    op.execute("CREATE FUNCTION statements_frozen() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
               f"IF TG_OP = 'DELETE' OR OLD.signed_at IS NOT NULL OR {changed} THEN RAISE EXCEPTION '{FROZEN}'; "
               "END IF; RETURN NEW; END $$")
    op.execute("CREATE TRIGGER statements_frozen BEFORE UPDATE OR DELETE ON statements "
               "FOR EACH ROW EXECUTE FUNCTION statements_frozen()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER statements_frozen")
        op.execute("DROP TRIGGER statements_kept")
        return
    op.execute("DROP TRIGGER statements_frozen ON statements")
    op.execute("DROP FUNCTION statements_frozen()")
