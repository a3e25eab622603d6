"""A query's rows fetched as Arrow columns, for reads of a whole window (a million rows) that only join,
count and index them (decision 0039).

Each row as a Python tuple, then a list per column, cost more than the query itself: 0.95 s for the
1,000,000 (event id, version, batch, row) rows of a window on SQLite, where the query took 0.2-0.4 s. Here
the rows are folded by the database into one text per column (``group_concat`` on SQLite, ``string_agg``
on PostgreSQL; the aggregates of one query step through the same rows in the same order), split once and
parsed by Arrow: 0.5 s on SQLite; on PostgreSQL about what psycopg's tuples, built in C, cost (1.0 against
0.9-1.4 s on the loaded machine), where COPY's CSV read back by Arrow was slower (0.55 against 0.35 s).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from loopwise.store.bulk import dialect_of

#: A column's type for values that are one digit each (0-9): folded without a separator, read as bytes
#: (two such flags of 1,000,000 rows as one: 0.3 s less on SQLite).
DIGIT = pa.int8()
#: Between two values of a column (the unit separator). A value holding it, or a null (the aggregates skip
#: those), leaves a column with another count of values: the rows are then read the plain way.
_SEP = "\x1f"


def fetch_columns(
    conn: Connection,
    columns: Sequence[tuple[str, str, pa.DataType]],
    rest: str,
    params: Sequence[Any],
    aggregates: Sequence[str] = (),
) -> tuple[pa.Table, tuple[Any, ...]]:
    """The rows of ``SELECT <expressions> <rest>`` as a table, and the values of ``aggregates`` (SQL
    aggregate expressions over the same rows, as the driver returns them). ``columns`` are (name, SQL
    expression, type), the type a string or an integer one, ``DIGIT`` for one digit a row; ``rest`` holds
    the FROM and WHERE clauses, with ``?`` for each of ``params``. Rows come in no particular order (an
    ORDER BY would be lost)."""
    postgresql = dialect_of(conn) == "postgresql"
    folded = [
        (f"string_agg(({expr})::text, {sep})" if postgresql else f"group_concat({expr}, {sep})")
        for _, expr, kind in columns
        for sep in ["''" if kind == DIGIT else ("chr(31)" if postgresql else "char(31)")]
    ]
    sql = f"SELECT count(*), {', '.join([*folded, *aggregates])} {rest}"
    n, *texts = conn.exec_driver_sql(_marked(sql, postgresql), tuple(params)).one()
    values = tuple(texts[len(columns) :])
    if not n:
        return pa.table({name: pa.array([], kind) for name, _, kind in columns}), values
    out: dict[str, pa.Array] = {}
    for (name, _, kind), text in zip(columns, texts, strict=False):
        if kind == DIGIT:  # a digit a row, no separator: read as bytes
            raw = text.encode("ascii") if isinstance(text, str) else b""
            if len(raw) != n:
                return _plain(conn, columns, rest, params, postgresql), values
            out[name] = pa.array((np.frombuffer(raw, np.uint8) - ord("0")).astype(np.int8))
            continue
        split = text.split(_SEP) if isinstance(text, str) else []
        if len(split) != n:
            return _plain(conn, columns, rest, params, postgresql), values
        strings = pa.array(split, pa.string())
        out[name] = strings if pa.types.is_string(kind) else pc.cast(strings, kind)
    return pa.table(out), values


def _marked(sql: str, postgresql: bool) -> str:
    return sql.replace("?", "%s") if postgresql else sql


def _plain(
    conn: Connection,
    columns: Sequence[tuple[str, str, pa.DataType]],
    rest: str,
    params: Sequence[Any],
    postgresql: bool,
) -> pa.Table:
    select = ", ".join(expr for _, expr, _ in columns)
    rows = conn.exec_driver_sql(
        _marked(f"SELECT {select} {rest}", postgresql), tuple(params)
    ).cursor.fetchall()
    return pa.table(
        {
            name: pa.array([int(r[i]) if kind == DIGIT else r[i] for r in rows], kind)
            for i, (name, _, kind) in enumerate(columns)
        }
    )
