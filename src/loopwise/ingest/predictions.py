"""Ingesting predictions: validate, de-duplicate, store compactly, update bucket profiles: one transaction.

Decision (docs/decisions/0003-raw-event-storage.md): each batch is stored as one zstd-compressed Arrow IPC
blob, and each event as a narrow index row (id, version, time, bucket, batch and row, prediction, scores,
latency). A bucket's profile (model, version, hour) is recomputed from its events and their current labels
whenever a batch or feedback touches it, so late feedback lands in the right bucket.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loopwise.errors import SchemaValidationError
from loopwise.ingest.errors import IdempotencyMismatchError, LimitError
from loopwise.ingest.models import get_model, model_schema
from loopwise.profiles import Profile
from loopwise.profiles.canonical import canonical
from loopwise.profiles.profile import MISSING_SEGMENT, empty_task, update_task
from loopwise.schema import Role, Schema, validate
from loopwise.schema.validate import ValidationIssue, row_issues
from loopwise.store.tables import Batch, BucketProfile, Event, Feedback, Idempotency, Model, Reference
from loopwise.store.types import utcnow

DEFAULT_VERSION = "default"
RESERVED = ("model_version", "latency_ms")
#: Earliest and latest accepted event times (anything else is a clock or unit error).
MIN_TS = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
MAX_FUTURE = dt.timedelta(days=1)


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _bucket(ts: np.ndarray) -> np.ndarray:
    return ts.astype("datetime64[h]").astype("datetime64[us]")


def _ts_column(table: pa.Table, name: str) -> np.ndarray:
    arr = table.column(name)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        try:
            arr = pc.cast(
                pc.strptime(arr, format="%Y-%m-%dT%H:%M:%S%z", unit="us", error_is_null=False),
                pa.timestamp("us", tz="UTC"),
            )
        except pa.ArrowInvalid:
            try:
                arr = pc.cast(arr, pa.timestamp("us", tz="UTC"))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise SchemaValidationError(
                    [
                        ValidationIssue(
                            name,
                            "wrong_type",
                            "timestamps must be ISO 8601 with a zone, e.g. 2026-01-01T12:00:00Z",
                        )
                    ]
                ) from None
    if not pa.types.is_timestamp(arr.type):
        raise SchemaValidationError(
            [ValidationIssue(name, "wrong_type", f"expected timestamps, got {arr.type}")]
        )
    # Sub-microsecond digits are dropped: event times are kept to the microsecond.
    us = pc.cast(arr, pa.timestamp("us", tz=getattr(arr.type, "tz", None)), safe=False)
    return np.asarray(us.to_numpy(zero_copy_only=False)).astype("datetime64[us]")


def check_batch(schema: Schema, table: pa.Table, max_rows: int) -> tuple[pa.Table, list[str], np.ndarray]:
    """Every problem of a batch at once (raises SchemaValidationError), else the batch, its ids and times.

    JSON has no timestamp type, so ISO 8601 strings in the timestamp column are parsed (a bad one is an
    issue naming its rows); nothing else is converted.
    """
    ts_name = schema.by_role(Role.TIMESTAMP)[0].name
    if ts_name in table.column_names and pa.types.is_string(table.column(ts_name).type):
        parsed = _ts_column(table, ts_name)
        table = table.set_column(
            table.column_names.index(ts_name),
            ts_name,
            pa.array(parsed, type=pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC")),
        )
    if table.num_rows == 0:
        raise SchemaValidationError([ValidationIssue(None, "empty", "the batch has no rows")])
    if table.num_rows > max_rows:
        raise LimitError(f"the batch has {table.num_rows} rows; the limit is {max_rows} per batch")
    served = Schema(tuple(c for c in schema if c.role is not Role.TARGET))
    reserved = [c for c in RESERVED if c in table.column_names]
    extra = sorted(set(table.column_names) - set(served.names) - set(RESERVED))
    issues = validate(served, table.drop_columns(reserved + extra), allow_extra_columns=False)
    if extra:
        issues.append(
            ValidationIssue(
                ", ".join(extra),
                "unknown_column",
                "column(s) not in the model's schema (targets go to /feedback)",
            )
        )
    if "latency_ms" in reserved and not (
        pa.types.is_integer(table.column("latency_ms").type)
        or pa.types.is_floating(table.column("latency_ms").type)
    ):
        issues.append(
            ValidationIssue("latency_ms", "wrong_type", "latency_ms must be a number of milliseconds")
        )
    id_col = schema.by_role(Role.ID)[0].name
    ts_col = schema.by_role(Role.TIMESTAMP)[0].name
    ids: list[str] = []
    ts = np.array([], dtype="datetime64[us]")
    if id_col in table.column_names:
        raw = table.column(id_col)
        if raw.null_count:
            issues += row_issues(
                raw.is_null().to_numpy(zero_copy_only=False), id_col, "null", "every event needs an id"
            )
        ids = [canonical(v) for v in raw.to_pylist()]
        seen: set[str] = set()
        dup_mask = np.zeros(len(ids), dtype=bool)
        for i, e in enumerate(ids):
            dup_mask[i] = e in seen
            seen.add(e)
        issues += row_issues(dup_mask, id_col, "duplicate_id", "an event id appears twice in the batch")
    if ts_col in table.column_names and not any(i.column == ts_col for i in issues):
        ts = _ts_column(table, ts_col)
        now = np.datetime64(dt.datetime.now(dt.UTC).replace(tzinfo=None) + MAX_FUTURE, "us")
        low = np.datetime64(MIN_TS.replace(tzinfo=None), "us")
        bad = np.isnat(ts) | (ts < low) | (ts > now)
        issues += row_issues(
            bad, ts_col, "out_of_range", "time missing, before 2000 or more than a day ahead"
        )
    if issues:
        raise SchemaValidationError(issues)
    return table, ids, ts


def log_predictions(
    s: Session,
    model_name: str,
    table: pa.Table,
    *,
    version: str | None = None,
    idempotency_key: str | None = None,
    body_hash: str | None = None,
    max_rows: int = 100_000,
) -> dict[str, Any]:
    """Store a batch of predictions; returns {accepted, duplicates, batch_id}. Idempotent by event id, key."""
    model = get_model(s, model_name)
    if idempotency_key is not None:
        seen = s.get(Idempotency, (model.id, idempotency_key))
        if seen is not None:
            if seen.body_hash != body_hash:
                raise IdempotencyMismatchError(
                    f"idempotency key {idempotency_key!r} was used for a different request body"
                )
            return dict(seen.response) | {"replayed": True}
    schema = model_schema(model)
    table, ids, ts = check_batch(schema, table, max_rows)
    versions = _versions(table, version)
    existing: set[str] = set()
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        existing |= set(
            s.scalars(select(Event.event_id).where(Event.model_id == model.id, Event.event_id.in_(chunk)))
        )
    keep = np.array([e not in existing for e in ids], dtype=bool)
    result: dict[str, Any] = {"accepted": int(keep.sum()), "duplicates": int((~keep).sum()), "batch_id": None}
    if keep.any():
        new = table.filter(pa.array(keep))
        batch = Batch(model_id=model.id, n_rows=new.num_rows, arrow=_ipc(new))
        s.add(batch)
        s.flush()
        result["batch_id"] = batch.id
        rows = _event_rows(
            model,
            schema,
            new,
            [e for e, k in zip(ids, keep, strict=True) if k],
            ts[keep],
            [v for v, k in zip(versions, keep, strict=True) if k],
            batch.id,
        )
        insert_events(s, rows)
        merge_into_buckets(s, model, schema, new, rows)
    if idempotency_key is not None:
        s.add(Idempotency(model_id=model.id, key=idempotency_key, body_hash=body_hash or "", response=result))
    return result


EVENT_COLUMNS = (
    "model_id",
    "event_id",
    "version",
    "ts",
    "bucket",
    "batch_id",
    "row",
    "prediction",
    "scores",
    "latency_ms",
    "segments",
)


def insert_events(s: Session, rows: list[dict[str, Any]]) -> None:
    """Insert index rows through the driver's fast path (COPY on PostgreSQL, executemany on SQLite).

    SQLAlchemy's per-row parameter processing cost about 30 ms per 1,000 events; these paths write the same
    values in the same transaction (times as SQLAlchemy's SQLite format, JSON as text).
    """
    conn = s.connection()
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    if conn.dialect.name not in ("postgresql", "sqlite"):
        s.execute(
            insert(Event),
            [r | {"ts": dt.datetime.fromisoformat(r["ts"]).replace(tzinfo=dt.UTC)} for r in rows],
        )
        return

    def js(v: Any) -> str | None:
        return None if v is None else json.dumps(v, separators=(",", ":"))

    try:
        _fast_insert(conn.dialect.name, dbapi, rows, js)
    except conn.dialect.dbapi.IntegrityError as exc:  # type: ignore[union-attr]
        # The same as SQLAlchemy raises on its own path, so the routes' retry-on-conflict still applies.
        raise IntegrityError("INSERT INTO events", None, exc) from exc


def _fast_insert(dialect: str, dbapi: Any, rows: list[dict[str, Any]], js: Any) -> None:
    # The drivers differ only in how they take times: PostgreSQL's COPY parses ISO 8601 with a zone;
    # SQLite stores SQLAlchemy's own text form, which SQLAlchemy reads back.
    hours: dict[dt.datetime, str] = {}

    def sqlite_hour(x: dt.datetime) -> str:
        if x not in hours:
            hours[x] = x.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return hours[x]

    pg = dialect == "postgresql"

    def values(r: dict[str, Any]) -> tuple[Any, ...]:
        times = (
            {"ts": r["ts"] + "Z", "bucket": r["bucket"]}
            if pg
            else {"ts": r["ts"].replace("T", " "), "bucket": sqlite_hour(r["bucket"])}
        )
        return tuple(
            times[c] if c in times else js(r[c]) if c in ("scores", "segments") else r[c]
            for c in EVENT_COLUMNS
        )

    cur: Any = dbapi.cursor()
    if pg:
        with cur.copy(f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(values(r))
    else:
        marks = ", ".join("?" * len(EVENT_COLUMNS))
        cur.executemany(
            f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({marks})", [values(r) for r in rows]
        )


def _versions(table: pa.Table, version: str | None) -> list[str]:
    if "model_version" in table.column_names:
        vals = table.column("model_version").to_pylist()
        return [str(v) if v is not None else (version or DEFAULT_VERSION) for v in vals]
    return [version or DEFAULT_VERSION] * table.num_rows


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as w:
        w.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def read_ipc(blob: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(blob)).read_all()


def _event_rows(
    model: Model,
    schema: Schema,
    table: pa.Table,
    ids: list[str],
    ts: np.ndarray,
    versions: list[str],
    batch_id: int,
) -> list[dict[str, Any]]:
    pred = schema.by_role(Role.PREDICTION)
    preds = (
        [canonical(v) if v is not None else None for v in table.column(pred[0].name).to_pylist()]
        if pred and pred[0].name in table.column_names
        else [None] * table.num_rows
    )
    score_cols = [c.name for c in schema.by_role(Role.SCORE) if c.name in table.column_names]
    scores = (
        [
            dict(zip(score_cols, vals, strict=True))
            for vals in zip(*(table.column(c).to_pylist() for c in score_cols), strict=True)
        ]
        if score_cols
        else [None] * table.num_rows
    )
    latency = (
        table.column("latency_ms").to_pylist()
        if "latency_ms" in table.column_names
        else [None] * table.num_rows
    )
    seg_cols = [c.name for c in schema.by_role(Role.SEGMENT) if c.name in table.column_names]
    segs = (
        [
            {
                c: (canonical(v) if v is not None else MISSING_SEGMENT)
                for c, v in zip(seg_cols, vals, strict=True)
            }
            for vals in zip(*(table.column(c).to_pylist() for c in seg_cols), strict=True)
        ]
        if seg_cols
        else [None] * table.num_rows
    )
    # Whole arrays at once: naive-UTC ISO strings for the times, one shared datetime per distinct hour.
    buckets = _bucket(ts)
    ts_text = np.datetime_as_string(ts, unit="us")
    hours = {b: b.astype(dt.datetime).replace(tzinfo=dt.UTC) for b in np.unique(buckets)}
    return [
        {
            "model_id": model.id,
            "event_id": e,
            "version": v,
            "ts": t,
            "bucket": hours[b],
            "batch_id": batch_id,
            "row": i,
            "prediction": p,
            "scores": sc,
            "segments": sg,
            "latency_ms": lat,
        }
        for i, (e, v, t, b, p, sc, lat, sg) in enumerate(
            zip(ids, versions, ts_text.tolist(), buckets, preds, scores, latency, segs, strict=True)
        )
    ]


def labels_for(s: Session, model_id: int, event_ids: list[str]) -> dict[str, Any]:
    """The current label of each event: ground truth first, else the latest reviewer label or correction."""
    out: dict[str, tuple[int, dt.datetime, Any]] = {}
    for i in range(0, len(event_ids), 500):
        chunk = event_ids[i : i + 500]
        for fb in s.scalars(
            select(Feedback).where(
                Feedback.model_id == model_id,
                Feedback.event_id.in_(chunk),
                Feedback.kind.in_(("label", "correction")),
            )
        ):
            rank = 0 if fb.source == "ground_truth" else 1
            prev = out.get(fb.event_id)
            if prev is None or (rank, -fb.updated_at.timestamp()) < (prev[0], -prev[1].timestamp()):
                out[fb.event_id] = (rank, fb.updated_at, fb.value.get("label"))
    return {k: v[2] for k, v in out.items()}


def merge_into_buckets(
    s: Session, model: Model, schema: Schema, table: pa.Table, rows: list[dict[str, Any]]
) -> None:
    """Merge a profile of the new rows into each (version, hour) bucket they fall in.

    The new rows carry the labels already known for them (feedback may come first). A bucket's profile is
    anchored on its own histogram edges (or on the model's reference for a new bucket), so merges stay exact.
    """
    groups: dict[tuple[str, dt.datetime], list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        groups[(r["version"], r["bucket"])].append(i)
    target = schema.by_role(Role.TARGET)
    ids = [r["event_id"] for r in rows]
    labels = labels_for(s, model.id, ids) if target else {}
    reference: list[Profile | None] = []  # loaded once, and only if a bucket is new

    def model_reference() -> Profile | None:
        if not reference:
            ref_row = s.get(Reference, (model.id, "default"))
            reference.append(Profile.from_bytes(ref_row.profile) if ref_row is not None else None)
        return reference[0]

    segments = [c.name for c in schema.by_role(Role.SEGMENT)]
    keep = [c for c in table.column_names if c in schema.names]
    for version, bucket in sorted(groups):  # one lock order for every writer: no deadlocks
        row = _lock_bucket(s, model.id, version, bucket)
        part = table.take(pa.array(groups[(version, bucket)])).select(keep)
        if target:
            part = part.append_column(
                target[0].name,
                pa.array([labels.get(ids[i]) for i in groups[(version, bucket)]], from_pandas=True),
            )
        existing = Profile.from_bytes(row.profile) if row.profile else None
        fresh = Profile.empty(schema, reference=existing or model_reference(), segments=segments)
        fresh.update(part)
        merged = existing.merge(fresh) if existing is not None else fresh
        row.n, row.profile, row.updated_at = merged.n, merged.to_bytes(), utcnow()


def rebuild_tasks(s: Session, model: Model, touched: set[tuple[str, dt.datetime]]) -> None:
    """Rebuild the task profiles (whole, per segment) of buckets whose labels changed, from the event index.

    Reads only the narrow index (prediction, scores, segment values) and the current labels, not batches.
    Column profiles are untouched: a late label changes performance, not the inputs' distributions.
    """
    schema = model_schema(model)
    pred, target = schema.by_role(Role.PREDICTION), schema.by_role(Role.TARGET)
    if not pred or not target:
        return
    scores = [(c.name, c.label) for c in schema.by_role(Role.SCORE)]
    for version, bucket in sorted(touched):
        row = _lock_bucket(s, model.id, version, bucket)
        if not row.profile:
            continue
        profile = Profile.from_bytes(row.profile)
        events = list(
            s.execute(
                select(Event.event_id, Event.prediction, Event.scores, Event.segments).where(
                    Event.model_id == model.id, Event.version == version, Event.bucket == bucket
                )
            )
        )
        labels = labels_for(s, model.id, [e for e, _, _, _ in events])
        columns: dict[str, Any] = {
            pred[0].name: pa.array([p for _, p, _, _ in events], pa.string()),
            target[0].name: pa.array([labels.get(e) for e, _, _, _ in events], from_pandas=True),
        }
        for name, _label in scores:
            columns[name] = pa.array([(sc or {}).get(name) for _, _, sc, _ in events], pa.float64())
        index = pa.table(columns)
        task = empty_task(schema)
        if task is None:
            continue
        update_task(task, schema, index)
        profile.task = task
        for seg, subs in profile.segments.items():
            keys = [(sg or {}).get(seg, MISSING_SEGMENT) for _, _, _, sg in events]
            for key, sub in subs.items():
                sub_task = empty_task(schema)
                assert sub_task is not None
                update_task(sub_task, schema, index.filter(pa.array([k == key for k in keys])))
                sub.task = sub_task
        row.profile, row.updated_at = profile.to_bytes(), utcnow()


def _lock_bucket(s: Session, model_id: int, version: str, bucket: dt.datetime) -> BucketProfile:
    """The bucket's row, locked before its events are read.

    Under PostgreSQL's READ COMMITTED, a writer that waited for this lock then reads every event committed
    before it got the lock; reading first (and locking after) let two concurrent batches each recompute the
    bucket without the other's events (found by tests/server/test_durability.py). SQLite writers are
    serialized by BEGIN IMMEDIATE.
    """
    values = {"model_id": model_id, "version": version, "bucket": bucket, "n": 0, "profile": b""}
    if s.bind is not None and s.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        s.execute(pg_insert(BucketProfile).values(**values).on_conflict_do_nothing())
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        s.execute(sqlite_insert(BucketProfile).values(**values).on_conflict_do_nothing())
    row = s.scalar(
        select(BucketProfile)
        .where(
            BucketProfile.model_id == model_id,
            BucketProfile.version == version,
            BucketProfile.bucket == bucket,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row
