"""core.db: a write request on SQLite takes the write lock first (BEGIN IMMEDIATE), and a savepoint inside it works."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from assoc_ledger.core.db import make_engine, make_sessionmaker


def test_a_write_request_locks_first_and_a_savepoint_inside_it_rolls_back_alone(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    factory = make_sessionmaker(engine)
    with factory() as setup:
        setup.execute(text("CREATE TABLE t (x INTEGER)"))
        setup.commit()

    writer = factory()
    writer.info["write_request"] = True
    writer.execute(text("INSERT INTO t VALUES (1)"))
    # The writer holds SQLite's write lock from its first statement: another writer cannot start.
    other = engine.connect()
    other.exec_driver_sql("PRAGMA busy_timeout = 0")
    try:
        other.exec_driver_sql("BEGIN IMMEDIATE")
        locked = False
    except OperationalError as exc:
        locked = "locked" in str(exc)
    finally:
        other.close()
    assert locked

    savepoint = writer.begin_nested()
    writer.execute(text("INSERT INTO t VALUES (2)"))
    savepoint.rollback()
    with writer.begin_nested():
        writer.execute(text("INSERT INTO t VALUES (3)"))
    writer.commit()
    writer.close()

    with factory() as reader:
        assert reader.execute(text("SELECT x FROM t ORDER BY x")).scalars().all() == [1, 3]
    engine.dispose()
