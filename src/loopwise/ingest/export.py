"""Exporting a window of raw events (with their current labels) to Parquet, through the event index."""

from __future__ import annotations

import datetime as dt
import io
from collections import defaultdict

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session

from loopwise.ingest.buckets import read_ipc
from loopwise.ingest.errors import NotFoundError
from loopwise.ingest.models import get_model, model_schema
from loopwise.ingest.predictions import labels_for
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
    model = get_model(s, model_name)
    q = in_window(
        select(Event.event_id, Event.batch_id, Event.row, Event.version).where(Event.model_id == model.id),
        Event,
        start,
        end,
        version,
    )
    rows = list(s.execute(q.order_by(Event.batch_id, Event.row)))
    if not rows:
        raise NotFoundError(f"model {model_name!r} has no traffic in that window")
    by_batch: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    for e, b, r, v in rows:
        by_batch[b].append((r, e, v))
    parts: list[pa.Table] = []
    ids: list[str] = []
    versions: list[str] = []
    for b, items in by_batch.items():
        blob = s.scalar(select(Batch.arrow).where(Batch.id == b))
        assert blob is not None
        parts.append(read_ipc(blob).take(pa.array([r for r, _, _ in items])))
        ids.extend(e for _, e, _ in items)
        versions.extend(v for _, _, v in items)
    table = pa.concat_tables(parts, promote_options="permissive")
    schema = model_schema(model)
    target = schema.by_role(Role.TARGET)
    if target:
        labels = labels_for(s, model.id, ids)
        table = table.append_column(target[0].name, pa.array([labels.get(e) for e in ids], from_pandas=True))
    if "model_version" not in table.column_names:
        table = table.append_column("model_version", pa.array(versions, pa.string()))
    ts = schema.by_role(Role.TIMESTAMP)[0].name
    table = table.sort_by(ts)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()
