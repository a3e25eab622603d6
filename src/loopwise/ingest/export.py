"""Exporting a window of raw events (with their current labels) to Parquet, through the event index."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session

from loopwise.ingest.buckets import read_ipc
from loopwise.ingest.errors import NotFoundError
from loopwise.ingest.labels import labels_for
from loopwise.ingest.models import get_model, model_schema
from loopwise.ingest.windows import in_window
from loopwise.schema import Role
from loopwise.store.tables import Batch, Event


def export_window(
    s: Session,
    model_name: str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    version: str | None = None,
) -> bytes:
    """The window's events as one Parquet file (columns as logged, plus the current label and the version)."""
    table = window_table(s, model_name, start, end, version)
    buf = io.BytesIO()
    # Dictionary pages only where values may repeat: for each float column the writer built a dictionary up
    # to its limit before falling back; a day's file (30 such columns) took 0.55 s, 0.26 s without, and came
    # out 10% smaller.
    dictionary = [
        f.name for f in table.schema if not (pa.types.is_floating(f.type) or pa.types.is_temporal(f.type))
    ]
    pq.write_table(table, buf, compression="zstd", use_dictionary=dictionary)
    return buf.getvalue()


def window_table(
    s: Session,
    model_name: str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    version: str | None = None,
    *,
    exact: bool = False,
) -> pa.Table:
    """The window's events as one table, by time (columns as logged, the current label, the version).

    By default the events of the hourly buckets starting in [start, end), as profile windows count them;
    with ``exact``, the events whose own time is in [start, end), for a window that need not start or end on
    the hour (a review fill: a bucket filter dropped the part of the first hour after ``start`` and took the
    part of the last hour after ``end``).
    """
    model = get_model(s, model_name)
    q = select(Event.batch_id, Event.row, Event.event_id, Event.version).where(Event.model_id == model.id)
    if exact:
        # The bucket bounds keep the events' index usable; the times themselves decide.
        if start is not None:
            q = q.where(Event.ts >= start)
        if end is not None:
            q = q.where(Event.ts < end)
        start = None if start is None else start.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    q = in_window(q, Event, start, end, version)
    # The driver's own tuples, columns by zip: SQLAlchemy's rows (and a loop over them) cost more than the
    # query itself for 300,000 events, and these four columns (integers and text) need no conversion.
    result = s.connection().execute(q.order_by(Event.batch_id, Event.row))
    found = result.cursor.fetchall()
    result.close()
    if not found:
        raise NotFoundError(f"model {model_name!r} has no traffic in that window")
    batch_col, row_col, id_col, version_col = zip(*found, strict=True)
    batch_ids = np.asarray(batch_col, dtype=np.int64)
    positions = np.asarray(row_col, dtype=np.int64)
    ids = list(id_col)
    versions = list(version_col)
    starts = np.flatnonzero(np.diff(batch_ids)) + 1
    bounds = list(zip([0, *starts.tolist()], [*starts.tolist(), len(batch_ids)], strict=True))
    wanted = [int(batch_ids[a]) for a, _ in bounds]
    blobs: dict[int, bytes] = {}
    for i in range(0, len(wanted), 100):  # a hundred blobs (about 40 MB) in memory at a time
        blobs.update(
            s.connection()
            .execute(select(Batch.id, Batch.arrow).where(Batch.id.in_(wanted[i : i + 100])))
            .all()
        )
    parts: list[pa.Table] = []
    for (a, z), b in zip(bounds, wanted, strict=True):
        table = read_ipc(blobs.pop(b))
        rows = positions[a:z]
        whole = len(rows) == table.num_rows and bool((rows == np.arange(len(rows))).all())
        parts.append(table if whole else table.take(pa.array(rows)))
    table = pa.concat_tables(parts, promote_options="permissive")
    schema = model_schema(model)
    target = schema.by_role(Role.TARGET)
    if target:
        labels = labels_for(s, model.id, ids)
        table = table.append_column(target[0].name, pa.array([labels.get(e) for e in ids], from_pandas=True))
    # The version each event was stored under (a batch may have named it per row, by envelope, or not at all).
    if "model_version" in table.column_names:
        table = table.drop_columns(["model_version"])
    table = table.append_column("model_version", pa.array(versions, pa.string()))
    ts = schema.by_role(Role.TIMESTAMP)[0].name
    return table.sort_by(ts)
