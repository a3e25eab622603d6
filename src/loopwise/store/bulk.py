"""Bulk writes of ingested batches: each supported dialect's fastest way to store a batch and its index rows.

A repository for the ingestion service (``loopwise.ingest``): functions take a Session and plain rows and
write them as the dialect allows, COPY or one statement with arrays on PostgreSQL, multi-row VALUES within
the bound-parameter limit on SQLite. Only these two dialects are supported; any other is refused with a
``DatabaseError`` naming it, rather than written by a path no test runs.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from itertools import chain, repeat
from typing import Any, Literal, TypeAlias

import numpy as np
import pyarrow as pa
from sqlalchemy import ColumnElement, Connection, Text, any_, func, insert, literal, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from loopwise.errors import DatabaseError
from loopwise.store.tables import Batch, BucketPart, BucketProfile
from loopwise.store.types import utcnow

Dialect: TypeAlias = Literal["postgresql", "sqlite"]
#: A batch's index rows, column by column: event ids, versions, times, hours, latencies (``index_columns``).
IndexColumns: TypeAlias = tuple[list[str], list[str], list[Any], list[Any], list[Any]]
#: A bucket part to insert: version, hour, rows, packed profile (or rows).
PartRow: TypeAlias = tuple[str, dt.datetime, int, bytes]


def dialect_of(bind: Connection | Session) -> Dialect:
    """The dialect's name, if it is one this module writes to; else a ``DatabaseError`` naming it."""
    name = bind.get_bind().dialect.name if isinstance(bind, Session) else bind.dialect.name
    if name == "postgresql":
        return "postgresql"
    if name == "sqlite":
        return "sqlite"
    raise DatabaseError(f"loopwise stores events in SQLite or PostgreSQL, not {name!r}")


def bucket_hours(ts: np.ndarray) -> np.ndarray:
    """The hour each time falls in (the ``bucket`` of its index row), as ``datetime64[us]``."""
    return ts.astype("datetime64[h]").astype("datetime64[us]")


def index_columns(
    dialect: Dialect, table: pa.Table, ids: list[str], ts: np.ndarray, versions: list[str]
) -> IndexColumns:
    """The index rows' columns (ids, versions, time, hour, latency) as the dialect's fast path takes them.

    Times are formatted by NumPy, whole columns at once (SQLAlchemy's per-row parameter processing cost
    about 30 ms per 1,000 events): SQLAlchemy's own SQLite text form, which it reads back; ISO 8601 with a
    zone for PostgreSQL's COPY.
    """
    text = np.datetime_as_string(ts, unit="us")
    hours = np.datetime_as_string(bucket_hours(ts), unit="us")
    latency = (
        table.column("latency_ms").cast(pa.float64()).to_pylist()
        if "latency_ms" in table.column_names
        else [None] * len(ids)
    )
    if dialect == "postgresql":
        return ids, versions, np.char.add(text, "Z").tolist(), np.char.add(hours, "Z").tolist(), latency
    return (
        ids,
        versions,
        np.char.replace(text, "T", " ").tolist(),
        np.char.replace(hours, "T", " ").tolist(),
        latency,
    )


def insert_index(
    s: Session,
    model_id: int,
    batch_id: int,
    columns: IndexColumns,
    *,
    fail_whole: bool = False,
) -> None:
    """Insert a batch's index rows the fast way: COPY on PostgreSQL, multi-row VALUES on SQLite.

    ``fail_whole``: on SQLite, an id stored already rolls the whole transaction back (``INSERT OR
    ROLLBACK``), for a caller that would discard it anyway. SQLite then keeps no statement journal: undoing
    just the failed statement means copying every page it changes first, and random ids change a page per
    row (1,000 rows into 400,000: 8.2 -> 2.9 ms, decision 0010).
    """
    ids, versions, text, hours, latency = columns
    n = len(ids)
    conn = s.connection()
    dialect = dialect_of(conn)
    rows = zip(
        repeat(model_id, n),
        ids,
        versions,
        text,
        hours,
        repeat(batch_id, n),
        range(n),
        latency,
        strict=False,
    )
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cur: Any = dbapi.cursor()
    try:
        if dialect == "postgresql":
            with cur.copy(f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
        else:
            _insert_values(dbapi, cur, list(rows), "INSERT OR ROLLBACK" if fail_whole else "INSERT")
    except conn.dialect.dbapi.IntegrityError as exc:  # type: ignore[union-attr]
        # The same as SQLAlchemy raises on its own path, so the routes' retry-on-conflict still applies.
        raise IntegrityError("INSERT INTO events", None, exc) from exc


def insert_outputs(s: Session, batch_id: int, model_id: int, outputs: bytes) -> None:
    """Insert a batch's narrow blob (``store.batch_outputs``) as the driver's own statement: SQLAlchemy's
    insert cost 0.3 ms of CPU a batch of 1,000 events, this 0.09 ms, most of it SQLite's writing of the
    blob (the driver's cursor itself did no better); a batch of one event, 0.02 ms (decision 0062)."""
    mark = "%s" if dialect_of(s) == "postgresql" else "?"
    s.connection().exec_driver_sql(
        f"INSERT INTO batch_outputs (batch_id, model_id, arrow) VALUES ({mark}, {mark}, {mark})",
        (batch_id, model_id, outputs),
    )


EVENT_COLUMNS = ("model_id", "event_id", "version", "ts", "bucket", "batch_id", "row", "latency_ms")
_ROW_MARKS = "(" + ", ".join("?" * len(EVENT_COLUMNS)) + ")"


def _insert_values(dbapi: Any, cur: Any, rows: list[tuple[Any, ...]], verb: str = "INSERT") -> None:
    """Insert rows with as few statements as SQLite's bound-parameter limit allows.

    Not executemany: the sqlite3 module releases the GIL around every row's step, and under load each release
    hands the GIL to a preparing thread for up to the switch interval, so 1,000 rows could wait seconds
    (measured: 26% of the server's samples in the index insert; one statement per chunk releases it once).
    """
    per = max(1, dbapi.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(EVENT_COLUMNS))
    head = f"{verb} INTO events ({', '.join(EVENT_COLUMNS)}) VALUES "
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        cur.execute(head + ", ".join(repeat(_ROW_MARKS, len(chunk))), list(chain.from_iterable(chunk)))


#: Groups with fewer rows are stored on PostgreSQL by one statement (``_STORE_AT_ONCE``), larger ones by an
#: insert of the batch, a COPY of its index rows and an insert of its parts: passed as arrays, 100 rows cost
#: what those statements do, 300 rows a millisecond more (decision 0009).
ONE_STATEMENT_BELOW = 100

# The batch, its narrow blob, its index rows and its parts in one statement: one round trip where the
# batch's insert, the COPY (two) and the parts' insert took four, each a wait for the server and then for the
# GIL under load (decision 0009). Times go as ISO 8601 text with a zone, as COPY takes them. A batch without
# a narrow blob (``outputs`` None) inserts no row of ``batch_outputs``.
_STORE_AT_ONCE = text(
    """
    WITH b AS (
        INSERT INTO batches (model_id, received_at, n_rows, arrow, first_ts, last_ts, n_events, version)
        VALUES (:model, now(), :n, :blob, CAST(:first AS timestamptz), CAST(:last AS timestamptz), :events,
                :version)
        RETURNING id
    ), o AS (
        INSERT INTO batch_outputs (batch_id, model_id, arrow)
        SELECT b.id, :model, CAST(:outputs AS bytea) FROM b WHERE CAST(:outputs AS bytea) IS NOT NULL
    ), e AS (
        INSERT INTO events (model_id, event_id, version, ts, bucket, batch_id, row, latency_ms)
        SELECT :model, u.event_id, u.version, u.ts, u.bucket, b.id, u.row - 1, u.latency
        FROM b, unnest(
            CAST(:ids AS text[]), CAST(:versions AS text[]),
            CAST(:ts AS timestamptz[]), CAST(:hours AS timestamptz[]), CAST(:latency AS float8[])
        ) WITH ORDINALITY AS u(event_id, version, ts, bucket, latency, row)
    ), p AS (
        INSERT INTO bucket_parts (model_id, version, bucket, batch_id, n, profile, created_at)
        SELECT :model, u.version, u.bucket, b.id, u.n, u.profile, now()
        FROM b, unnest(
            CAST(:part_versions AS text[]), CAST(:part_buckets AS timestamptz[]), CAST(:part_rows AS int[]),
            CAST(:part_blobs AS bytea[])
        ) AS u(version, bucket, n, profile)
    )
    SELECT id FROM b
    """
)


def _store_at_once(
    s: Session,
    model_id: int,
    n: int,
    blob: bytes,
    index: IndexColumns,
    parts: list[PartRow],
    outputs: bytes | None = None,
) -> int:
    ids, versions, ts, hours, latency = index
    first, last, events, version = summary(index)
    params = {
        "model": model_id,
        "n": n,
        "blob": blob,
        "outputs": outputs,
        "first": first,
        "last": last,
        "events": events,
        "version": version,
        "ids": ids,
        "versions": versions,
        "ts": ts,
        "hours": hours,
        "latency": latency,
        "part_versions": [p[0] for p in parts],
        "part_buckets": [p[1] for p in parts],
        "part_rows": [p[2] for p in parts],
        "part_blobs": [p[3] for p in parts],
    }
    return int(s.execute(_STORE_AT_ONCE, params).scalar_one())


def summary(index: IndexColumns) -> tuple[str | None, str | None, int, str | None]:
    """A batch's summary from its index rows (decision 0049): the earliest and the latest time (as the
    index columns hold them: fixed-width text, so the text's order is the times'), the rows' count, and the
    version when one served them all (else None)."""
    ids, versions, ts = index[0], index[1], index[2]
    if not ids:
        return None, None, 0, None
    one = versions[0] if versions.count(versions[0]) == len(versions) else None
    return min(ts), max(ts), len(ids), one


def _as_time(text: str | None) -> dt.datetime | None:
    """An index column's time text (either dialect's form) as an aware UTC datetime."""
    if text is None:
        return None
    return dt.datetime.fromisoformat(text.removesuffix("Z")).replace(tzinfo=dt.UTC)


#: Ids per statement of ``among``: one parameter whatever the count.
AMONG_CHUNK = 10_000


def among(s: Session, column: Any, ids: list[str]) -> ColumnElement[bool]:
    """``column IN ids`` with the ids as one parameter (an array on PostgreSQL, JSON text read by
    ``json_each`` on SQLite), at most ``AMONG_CHUNK`` of them.

    ``in_`` binds a parameter per id: 500 ids made a statement text of their own that SQLAlchemy compiled and
    psycopg converted again for each count, a quarter of a backfill's time on PostgreSQL in the look-up of
    labels (decision 0021, round 4); one parameter is one cached statement.
    """
    if dialect_of(s) == "postgresql":
        return column == any_(literal(ids, ARRAY(Text)))  # type: ignore[no-any-return]
    values = func.json_each(json.dumps(ids)).table_valued("value")
    return column.in_(select(values.c.value))  # type: ignore[no-any-return]


def existing_event_ids(s: Session, model_id: int, ids: list[str]) -> set[str]:
    """The ids among ``ids`` already stored for the model (one query per 10,000 ids)."""
    conn = s.connection()
    dialect = dialect_of(conn)
    out: set[str] = set()
    rows: Any
    for i in range(0, len(ids), 10_000):
        chunk = ids[i : i + 10_000]
        if dialect == "sqlite":
            rows = conn.exec_driver_sql(
                "SELECT event_id FROM events WHERE model_id = ? "
                "AND event_id IN (SELECT value FROM json_each(?))",
                (model_id, json.dumps(chunk)),
            )
        else:
            rows = conn.exec_driver_sql(
                "SELECT event_id FROM events WHERE model_id = %s AND event_id = ANY(%s)", (model_id, chunk)
            )
        out.update(r[0] for r in rows)
    return out


def insert_batch(
    s: Session,
    model_id: int,
    n: int,
    blob: bytes,
    index: IndexColumns,
    parts: list[PartRow],
    *,
    new_buckets: list[PartRow] | None = None,
    fail_whole: bool = False,
    outputs: bytes | None = None,
) -> int:
    """Insert a batch's blob, its index rows and its bucket parts; returns the batch id.

    ``outputs``: the blob of the batch's narrow columns (``store.batch_outputs``), stored beside it.
    ``new_buckets``: packed profiles of the batch's rows in a bucket, each stored as the bucket's profile
    where the bucket has no row yet (``insert_new_buckets``), else as a part like ``parts``. ``fail_whole``:
    the caller gives up its transaction if an event id is stored already, so the index insert may end the
    transaction on that conflict instead of undoing just its own statement (``insert_index``).
    """
    if n < ONE_STATEMENT_BELOW and dialect_of(s) == "postgresql":
        return _store_at_once(s, model_id, n, blob, index, [*parts, *(new_buckets or [])], outputs)
    # Core statements, not the ORM's unit of work: flushing a Batch and its parts cost a write group of
    # five single events a third of a millisecond of CPU more (decision 0009).
    now = utcnow()
    first, last, events, version = summary(index)
    batch_id: int = s.execute(
        insert(Batch).returning(Batch.id),
        {
            "model_id": model_id,
            "received_at": now,
            "n_rows": n,
            "arrow": blob,
            "first_ts": _as_time(first),
            "last_ts": _as_time(last),
            "n_events": events,
            "version": version,
        },
    ).scalar_one()
    insert_index(s, model_id, batch_id, index, fail_whole=fail_whole)
    if outputs is not None:
        insert_outputs(s, batch_id, model_id, outputs)
    if new_buckets:
        taken = insert_new_buckets(s, model_id, new_buckets, now)
        parts = [*parts, *(p for p in new_buckets if (p[0], p[1]) not in taken)]
    if parts:
        s.execute(
            insert(BucketPart),
            [
                {
                    "model_id": model_id,
                    "version": version,
                    "bucket": bucket,
                    "batch_id": batch_id,
                    "n": rows,
                    "profile": part,
                    "created_at": now,
                }
                for version, bucket, rows, part in parts
            ],
        )
    return batch_id


def insert_new_buckets(
    s: Session, model_id: int, rows: list[PartRow], now: dt.datetime
) -> set[tuple[str, dt.datetime]]:
    """Store each packed profile as its bucket's profile where the bucket has no row yet; returns the
    (version, bucket)s stored so (the others are left to the caller, as parts).

    A backfill's batch touches buckets no one has written: a part folded right after into an empty bucket
    cost the compactor's reads, locks and writes for nothing (decision 0021, round 4). One statement that
    does nothing on a conflict, in (version, bucket) order as every writer of bucket rows takes them. On
    PostgreSQL it may wait for another transaction's new row of the same bucket (a label's lock, the
    compactor, another writer); if the wait ends in a deadlock, the savepoint undoes the statement and every
    profile goes as a part instead.
    """
    ordered = sorted(rows, key=lambda r: (r[0], r[1]))
    values = [
        {"model_id": model_id, "version": v, "bucket": b, "n": n, "profile": data, "updated_at": now}
        for v, b, n, data in ordered
    ]
    if dialect_of(s) == "sqlite":  # one writer at a time: nothing to wait for
        stmt: Any = sqlite_insert(BucketProfile).on_conflict_do_nothing()
        return _returned(s.execute(stmt.returning(BucketProfile.version, BucketProfile.bucket), values))
    stmt = pg_insert(BucketProfile).on_conflict_do_nothing()
    try:
        with s.begin_nested():
            return _returned(s.execute(stmt.returning(BucketProfile.version, BucketProfile.bucket), values))
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != "40P01":  # deadlock_detected
            raise
        return set()


def _returned(result: Any) -> set[tuple[str, dt.datetime]]:
    return {(str(v), b) for v, b in result}
