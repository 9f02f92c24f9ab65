"""Many plain rows into a table, fast: the driver's own bulk path inside the session's transaction.

For tables written by the hundred thousand (a county's roll lines, the kept entitlement outlooks): SQLite gets
the driver's executemany of tuples, PostgreSQL gets COPY. Only integers, strings, booleans, dates and None.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Boolean, Date, Integer, String, Table, insert
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session


def insert_rows(session: Session, table: Table, keys: Sequence[str], values: Iterable[Sequence[Any]],
                chunk: int = 10_000) -> int:
    """Many rows into ``table`` on the session's connection (its transaction), by the driver's executemany.

    Each row is a tuple in the order of ``keys``; only integers, strings, booleans, dates and None. The values
    go to the driver as it takes them (SQLite stores a date as its ISO text, exactly as SQLAlchemy's Date
    does), without SQLAlchemy's per-row, per-column parameter processing, which was most of the cost of writing
    a county's roll lines. Constraints hold as for any insert: a duplicate line is refused by the database.
    """
    conn = session.connection()
    dialect = conn.dialect
    for key in keys:
        kind = table.c[key].type
        assert isinstance(kind, Integer | String | Boolean | Date), (table.name, key, kind)
    if dialect.driver == "psycopg":
        return _copy_rows(conn, table, keys, values)
    compiled = insert(table).compile(dialect=dialect, column_keys=list(keys))  # SQLAlchemy's own statement
    dates = [i for i, k in enumerate(keys) if isinstance(table.c[k].type, Date)] if dialect.name == "sqlite" else []
    order = [keys.index(k) for k in compiled.positiontup or ()]
    reorder = compiled.positional and order != list(range(len(keys)))

    def driver_row(row: Sequence[Any]) -> Any:
        if dates:
            row = list(row)
            for i in dates:
                day = row[i]
                if day is not None:
                    row[i] = day.isoformat()
        if not compiled.positional:
            return dict(zip(keys, row, strict=True))
        return tuple([row[i] for i in order] if reorder else row)  # the driver's executemany takes tuples

    count = 0
    batch: list[Any] = []
    for values_row in values:
        batch.append(driver_row(values_row))
        if len(batch) == chunk:
            conn.exec_driver_sql(compiled.string, batch)
            count += len(batch)
            batch = []
    if batch:
        conn.exec_driver_sql(compiled.string, batch)
        count += len(batch)
    return count


def _copy_rows(conn: Any, table: Table, keys: Sequence[str], values: Iterable[Sequence[Any]]) -> int:
    """PostgreSQL's own bulk load (COPY … FROM STDIN) on the connection's transaction; a refused row (a
    duplicate line) fails the whole statement as an IntegrityError, like an insert."""
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table.name),
                                                          sql.SQL(", ").join(map(sql.Identifier, keys)))
    count = 0
    dbapi = conn.connection.dbapi_connection
    try:
        with dbapi.cursor() as cursor, cursor.copy(statement) as copy:
            for row in values:
                copy.write_row(row)
                count += 1
    except conn.dialect.loaded_dbapi.Error as exc:
        raise sa_exc.DBAPIError.instance(f"COPY {table.name} FROM STDIN", None, exc,
                                         conn.dialect.loaded_dbapi.Error) from exc
    return count
