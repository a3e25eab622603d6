"""Other versions' outputs for logged events: replayed through a version's artifact, or logged by live
shadow traffic, into one narrow table keyed by (model, event, version) (decision 0026).

``evaluate`` reads the window's events back from their stored batches (decision 0003) in bounded batches,
runs the version on their features and stores its outputs; events the version already answered (or served)
are skipped, so a second run stores nothing twice and a later one adds only the new events.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, Table, exists, func, select
from sqlalchemy.orm import Session, sessionmaker

from loopwise.errors import DataError, ParameterError
from loopwise.ingest import get_model, read_ipc
from loopwise.profiles.canonical import canonical
from loopwise.registry.artifacts import ArtifactStore
from loopwise.registry.audit import append
from loopwise.registry.flavors import Predictor
from loopwise.registry.outputs import encode, encode_scores, insert_outputs
from loopwise.registry.settings import RegistrySettings
from loopwise.registry.versions import describe, load_version
from loopwise.schema import Kind, Role, Schema
from loopwise.store import transaction
from loopwise.store.bulk import dialect_of
from loopwise.store.tables import Batch, Event, OtherOutput
from loopwise.store.types import utcnow

#: Events per replay batch: the features of one batch are in memory at a time (40 numeric features: about
#: 32 MB). Fewer rows per call cost a multi-threaded model more on a busy machine: a
#: HistGradientBoostingClassifier's 1,000,000 rows took 13-33 s in batches of 20,000 and 5-13 s in batches
#: of 100,000 with the two cores shared (bare: 4-6 s), each call's parallel regions waiting on descheduled
#: threads (decision 0029).
BATCH_ROWS = 100_000
#: Single-row predictions timed per evaluation (at most, and within PROBE_SECONDS), for the latency a caller
#: serving one row at a time would see. A one-row call costs milliseconds whatever the model: 200 of them
#: took 5 s of a 13 s replay of 100,000 events (bench/replay.py).
LATENCY_PROBE = 50
PROBE_SECONDS = 0.5
#: Pending events fetched from the cursor at a time.
FETCH_ROWS = 100_000
#: Event ids per ``IN (...)`` list.
CHUNK = 500


@dataclass(frozen=True)
class BatchTiming:
    """One replay batch: its rows and the time the version took to answer them (predict and
    predict_proba), reading and storing excluded."""

    rows: int
    seconds: float
    rows_per_second: float
    ms_per_row: float


@dataclass(frozen=True)
class Evaluation:
    """What one ``evaluate`` call did: the window's events, those answered now and those already stored."""

    model: str
    version: str
    start: dt.datetime
    end: dt.datetime
    events: int
    evaluated: int
    already: int
    served_by_version: int
    batches: list[BatchTiming] = field(default_factory=list)
    #: Single-row latency over up to LATENCY_PROBE rows: {"rows", "p50_ms", "p99_ms"} (empty: no new rows).
    latency: dict[str, float] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float | None:
        seconds = sum(b.seconds for b in self.batches)
        return self.evaluated / seconds if seconds > 0 else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["start"], out["end"] = self.start.isoformat(), self.end.isoformat()
        out["rows_per_second"] = self.rows_per_second
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Evaluation:
        d = {k: v for k, v in d.items() if k != "rows_per_second"}
        return cls(
            **{
                **d,
                "start": _parse(d["start"]),
                "end": _parse(d["end"]),
                "batches": [BatchTiming(**b) for b in d.get("batches", [])],
            }
        )


def _parse(t: dt.datetime | str) -> dt.datetime:
    return dt.datetime.fromisoformat(t) if isinstance(t, str) else t


def check_window(start: dt.datetime, end: dt.datetime) -> None:
    for name, t in (("start", start), ("end", end)):
        if not isinstance(t, dt.datetime) or t.tzinfo is None:
            raise ParameterError(name, t, "a timezone-aware datetime")
    if end <= start:
        raise ParameterError("end", end, f"a time after start ({start.isoformat()})")


def in_range(q: Any, model_id: int, start: dt.datetime, end: dt.datetime) -> Any:
    """``q`` over the model's events with a time in [start, end); the bucket bounds let the index narrow."""
    first = start.replace(minute=0, second=0, microsecond=0)
    return q.where(
        Event.model_id == model_id,
        Event.bucket >= first,
        Event.bucket < end,
        Event.ts >= start,
        Event.ts < end,
    )


@dataclass(frozen=True)
class Pending:
    """Events to replay, in (batch, row) order: their ids and where each one's row is stored."""

    ids: list[str]
    batch: np.ndarray
    row: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


def pending_events(conn: Connection, query: Any) -> Pending:
    """The (event id, batch id, row) rows ``query`` selects, fetched from the driver's cursor in large
    chunks into arrays: SQLAlchemy's Row objects cost 1 s of 1,000,000 events and kept a tuple each."""
    result = conn.execute(query)
    cursor = result.cursor
    ids: list[str] = []
    batches: list[np.ndarray] = []
    rows: list[np.ndarray] = []
    try:
        # Not zip(*fetched): its argument tuple of 100,000 rows made it cost 0.4 s more per 1,000,000.
        while fetched := cursor.fetchmany(FETCH_ROWS):
            ids.extend([r[0] for r in fetched])
            batches.append(np.fromiter((r[1] for r in fetched), np.int64, len(fetched)))
            rows.append(np.fromiter((r[2] for r in fetched), np.int64, len(fetched)))
    finally:
        result.close()
    empty = np.array([], np.int64)
    return Pending(
        ids,
        np.concatenate(batches) if batches else empty,
        np.concatenate(rows) if rows else empty,
    )


def read_rows(s: Session, keys: Sequence[tuple[int, int]], columns: Sequence[str] | None = None) -> pa.Table:
    """The logged rows at ``keys`` ((batch id, row) pairs, sorted), in that order, from their batches."""
    if not keys:
        return pa.table({})
    batch_ids = np.fromiter((k[0] for k in keys), np.int64, len(keys))
    rows = np.fromiter((k[1] for k in keys), np.int64, len(keys))
    return read_stored(s, batch_ids, rows, columns)


def read_stored(
    s: Session, batch_ids: np.ndarray, rows: np.ndarray, columns: Sequence[str] | None = None
) -> pa.Table:
    """The logged rows in ``batch_ids[i]`` at ``rows[i]`` (sorted by batch, then row), in that order."""
    parts: list[pa.Table] = []
    starts = np.flatnonzero(np.r_[True, batch_ids[1:] != batch_ids[:-1]]) if len(batch_ids) else batch_ids
    bounds = list(zip(starts.tolist(), [*starts[1:].tolist(), len(batch_ids)], strict=True))
    wanted = [int(batch_ids[a]) for a, _ in bounds]
    for i in range(0, len(wanted), 100):  # a hundred blobs (about 40 MB) in memory at a time
        blobs = _blobs(s, wanted[i : i + 100])
        for a, z in bounds[i : i + 100]:
            table = read_ipc(blobs[int(batch_ids[a])])
            if columns is not None:
                stored = set(table.column_names)
                table = table.select([c for c in columns if c in stored])
            if z - a != table.num_rows or rows[a] != 0 or rows[z - 1] != z - a - 1:
                table = table.take(pa.array(rows[a:z]))
            parts.append(table)
    if not parts:
        return pa.table({})
    return pa.concat_tables(parts, promote_options="permissive")


def _blobs(s: Session, batch_ids: list[int]) -> dict[int, bytes]:
    """The stored blobs of these batches, by id."""
    conn = s.connection()
    if dialect_of(conn) == "postgresql":
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        cur: Any = dbapi.cursor()
        try:
            # In binary: the bytes as they are, where the text format sends twice as many, in hex, to decode.
            cur.execute("SELECT id, arrow FROM batches WHERE id = ANY(%s)", (batch_ids,), binary=True)
            return {int(i): bytes(blob) for i, blob in cur.fetchall()}
        finally:
            cur.close()
    found = conn.execute(select(Batch.id, Batch.arrow).where(Batch.id.in_(batch_ids)))
    return {int(i): blob for i, blob in found}


def evaluate(
    sessions: sessionmaker[Session],
    read_sessions: sessionmaker[Session],
    settings: RegistrySettings,
    store: ArtifactStore,
    model_name: str,
    version: str,
    start: dt.datetime,
    end: dt.datetime,
    *,
    actor: str,
    batch_rows: int = BATCH_ROWS,
    progress: Callable[[int, int], object] | None = None,
) -> Evaluation:
    """Run ``version`` on the model's logged events with a time in [start, end) that it has not answered
    yet, and store its outputs in ``other_outputs`` (source ``replay``), one transaction per batch.

    ``progress(done, total)``: called with the pending events' count before the first batch and after each.
    """
    check_window(start, end)
    if batch_rows < 1:
        raise ParameterError("batch_rows", batch_rows, "a positive number of rows")
    with read_sessions() as s:
        model = get_model(s, model_name)
        describe(s, model_name, version)  # a NotFoundError before anything loads
        predictor = load_version(s, settings, store, model_name, version)
        counted = in_range(select(Event.version, func.count()), model.id, start, end).group_by(Event.version)
        by_version = {str(v): int(n) for v, n in s.execute(counted).all()}
        answered = exists().where(
            OtherOutput.model_id == model.id,
            OtherOutput.version == version,
            OtherOutput.event_id == Event.event_id,
        )
        pending_q = in_range(select(Event.event_id, Event.batch_id, Event.row), model.id, start, end).where(
            Event.version != version
        )
        # A version's first evaluation has nothing to skip: the anti-join, an index probe per event, is left
        # out then.
        first = select(OtherOutput.event_id).where(
            OtherOutput.model_id == model.id, OtherOutput.version == version
        )
        if s.execute(first.limit(1)).first() is not None:
            pending_q = pending_q.where(~answered)
        pending = pending_events(s.connection(), pending_q.order_by(Event.batch_id, Event.row))
    events, own = sum(by_version.values()), by_version.get(version, 0)
    timings: list[BatchTiming] = []
    latency: dict[str, float] = {}
    written = 0
    if progress is not None:
        progress(0, len(pending))
    bounds = [(a, min(a + batch_rows, len(pending))) for a in range(0, len(pending), batch_rows)]

    def read(a: int, z: int) -> pd.DataFrame:
        with read_sessions() as s:
            table = read_stored(s, pending.batch[a:z], pending.row[a:z], predictor.features)
        frame: pd.DataFrame = table.to_pandas()
        return frame

    def save(a: int, z: int, predictions: np.ndarray, proba: np.ndarray | None, per_row: float) -> None:
        classes = predictor.classes
        scores = None if proba is None or classes is None else encode_scores(classes, np.asarray(proba))
        labels, ids = encode(predictions), pending.ids[a:z]
        with transaction(sessions) as s:
            # One clock read per batch: per row it cost 0.5 s of 100,000 rows.
            insert_outputs(s, model.id, version, "replay", ids, labels, scores, per_row, utcnow())

    # Sequential: reading the next batch and storing the last one beside the model (threads) gained 0-5%
    # on two cores, where the model's own threads use both, and made its timed calls (stored as each row's
    # latency_ms, which a gate's latency budget reads) 2-3 times slower (decision 0029).
    for a, z in bounds:
        frame = read(a, z)
        if not latency:
            latency = _probe(predictor, frame)
        began = time.perf_counter()
        predictions, proba = predictor.outputs(frame)
        seconds = time.perf_counter() - began
        per_row = seconds * 1000 / (z - a)
        timings.append(BatchTiming(z - a, seconds, (z - a) / seconds if seconds else 0.0, per_row))
        save(a, z, predictions, proba, per_row)
        written = z
        if progress is not None:
            progress(written, len(pending))
    result = Evaluation(
        model_name, version, start, end, events, written, events - own - written, own, timings, latency
    )
    with transaction(sessions) as s:
        detail = {k: v for k, v in result.to_dict().items() if k != "model"}
        append(s, model.id, actor, "version.evaluate", detail)
    return result


def _probe(predictor: Predictor, frame: Any) -> dict[str, float]:
    """p50 and p99 of one-row calls: what a caller serving one request at a time would wait."""
    took: list[float] = []
    for i in range(min(LATENCY_PROBE, len(frame))):
        one = frame.iloc[i : i + 1]
        began = time.perf_counter()
        predictor.predict(one)
        predictor.predict_proba(one)
        took.append((time.perf_counter() - began) * 1000)
        if sum(took) > PROBE_SECONDS * 1000:
            break
    p50, p99 = np.percentile(took, [50, 99])
    return {"rows": float(len(took)), "p50_ms": float(p50), "p99_ms": float(p99)}


def _insert(s: Session, rows: list[dict[str, Any]]) -> None:
    """Insert the rows; one a concurrent call stored meanwhile is left as it is (stored once)."""
    if not rows:
        return
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    s.execute(insert(cast(Table, OtherOutput.__table__)).on_conflict_do_nothing(), rows)


def positive_class(schema: Schema) -> str | None:
    """The class a single score column stands for: the schema's positive class, else the score column's
    label, else ``true`` for a boolean prediction, else none known."""
    if schema.positive is not None:
        return schema.positive
    scored = [c.label for c in schema.by_role(Role.SCORE) if c.label is not None]
    if len(scored) == 1:
        return scored[0]
    predicted = schema.by_role(Role.PREDICTION)
    return "true" if predicted and predicted[0].kind == Kind.BOOLEAN else None


def log_shadow(
    s: Session,
    model_name: str,
    version: str,
    event_ids: Sequence[str],
    predictions: Sequence[Any],
    scores: Sequence[Any] | None = None,
) -> dict[str, int]:
    """Store a version's outputs for events the model has logged (source ``shadow``).

    ``scores``: per event, the probability of the positive class (as the served score column) or a
    {class: probability} dict. Unknown event ids are refused, naming a few, and nothing is written; an
    (event, version) stored before keeps its first answer.
    """
    ids = [str(e) for e in event_ids]
    preds = np.asarray(predictions, dtype=object).tolist() if len(predictions) else []
    if len(preds) != len(ids):
        raise DataError(f"{len(ids)} event ids but {len(preds)} predictions: give one prediction per event")
    if scores is not None and len(scores) != len(ids):
        raise DataError(f"{len(ids)} event ids but {len(scores)} scores: give one score per event")
    if len(set(ids)) != len(ids):
        twice = next(e for e in ids if ids.count(e) > 1)
        raise DataError(f"event id {twice!r} is given more than once")
    model = get_model(s, model_name)
    describe(s, model_name, version)
    schema = Schema.from_dict(model.schema_json)
    stored_scores = _shadow_scores(schema, scores, len(ids))
    known: set[str] = set()
    served_by: set[str] = set()
    already: set[str] = set()
    for i in range(0, len(ids), CHUNK):
        part = ids[i : i + CHUNK]
        for event_id, v in s.execute(
            select(Event.event_id, Event.version).where(Event.model_id == model.id, Event.event_id.in_(part))
        ):
            known.add(event_id)
            if v == version:
                served_by.add(event_id)
        already.update(
            s.scalars(
                select(OtherOutput.event_id).where(
                    OtherOutput.model_id == model.id,
                    OtherOutput.version == version,
                    OtherOutput.event_id.in_(part),
                )
            )
        )
    unknown = [e for e in ids if e not in known]
    if unknown:
        shown = ", ".join(repr(e) for e in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        raise DataError(f"{len(unknown)} event id(s) not logged for model {model_name!r}: {shown}")
    if served_by:
        raise DataError(
            f"version {version!r} served {len(served_by)} of these events (e.g. {next(iter(served_by))!r}): "
            "its outputs for them are the logged ones"
        )
    rows = [
        {
            "model_id": model.id,
            "event_id": e,
            "version": version,
            "prediction": _json_value(p),
            "scores": sc,
            "source": "shadow",
            "latency_ms": None,
            "created_at": utcnow(),
        }
        for e, p, sc in zip(ids, preds, stored_scores, strict=True)
        if e not in already
    ]
    _insert(s, rows)
    return {"stored": len(rows), "already": len(ids) - len(rows)}


def _json_value(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _shadow_scores(schema: Schema, scores: Sequence[Any] | None, n: int) -> list[dict[str, float] | None]:
    if scores is None:
        return [None] * n
    out: list[dict[str, float] | None] = []
    pos = positive_class(schema)
    for sc in scores:
        if isinstance(sc, dict):
            out.append({canonical(k): float(v) for k, v in sc.items()})
        elif pos is None:
            raise ParameterError(
                "scores", sc, "{class: probability} dicts (the schema names no positive class for one score)"
            )
        else:
            out.append({pos: float(sc)})
    return out
