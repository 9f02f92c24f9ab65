"""The migrated schema equals the models' metadata, on SQLite and on PostgreSQL (no drift)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from assoc_ledger.core.db import make_engine
from assoc_ledger.models import Base, include_name


def test_no_drift_between_migrations_and_models(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include_name})
        diff = compare_metadata(ctx, Base.metadata)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert diff == [], f"schema drift: {diff}"
    assert set(Base.metadata.tables) <= tables
