"""A query's rows fetched as Arrow columns, for reads of a whole window (a million rows) that only join,
count and index them (decision 0039).

Each row as a Python tuple, then a list per column, cost more than the query itself: 0.95 s for the
1,000,000 (event id, version, batch, row) rows of a window on SQLite, where the query took 0.2-0.4 s. On
SQLite the rows are folded by ``group_concat`` into one text per column (the aggregates of one query step
through the same rows in the same order), split once and parsed by Arrow: 0.5 s. psycopg builds its tuples
in C, faster than COPY's CSV read back by Arrow (0.35 against 0.55 s), so PostgreSQL's rows are fetched as
they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from loopwise.store.bulk import dialect_of

#: Between two values of a column (the unit separator). A value holding it, or a null (``group_concat``
#: skips those), leaves a column with another count of values: the rows are then read the plain way.
_SEP = "\x1f"


def fetch_columns(
    conn: Connection, columns: Sequence[tuple[str, str, pa.DataType]], rest: str, params: Sequence[Any]
) -> pa.Table:
    """The rows of ``SELECT <expressions> <rest>`` as a table: ``columns`` are (name, SQL expression,
    type), the type a string or integer one; ``rest`` is the FROM and WHERE clauses, with ``?`` for each
    of ``params``. Rows come in no particular order (the query's ORDER BY would be lost on SQLite)."""
    if dialect_of(conn) == "postgresql":
        return _plain(conn, columns, rest, params, marker="%s")
    folded = ", ".join(f"group_concat({expr}, char(31))" for _, expr, _ in columns)
    n, *texts = conn.exec_driver_sql(f"SELECT count(*), {folded} {rest}", tuple(params)).one()
    if not n:
        return pa.table({name: pa.array([], kind) for name, _, kind in columns})
    out: dict[str, pa.Array] = {}
    for (name, _, kind), text in zip(columns, texts, strict=True):
        values = text.split(_SEP) if isinstance(text, str) else []
        if len(values) != n:
            return _plain(conn, columns, rest, params)
        strings = pa.array(values, pa.string())
        out[name] = strings if pa.types.is_string(kind) else pc.cast(strings, kind)
    return pa.table(out)


def _plain(
    conn: Connection,
    columns: Sequence[tuple[str, str, pa.DataType]],
    rest: str,
    params: Sequence[Any],
    marker: str = "?",
) -> pa.Table:
    select = ", ".join(expr for _, expr, _ in columns)
    sql = f"SELECT {select} {rest}".replace("?", marker)
    rows = conn.exec_driver_sql(sql, tuple(params)).cursor.fetchall()
    return pa.table({name: pa.array([r[i] for r in rows], kind) for i, (name, _, kind) in enumerate(columns)})
