"""Other versions' outputs for logged events: replayed through a version's artifact, or logged by live
shadow traffic, keyed by (model, event, version) (decision 0026) and stored a blob per batch (0039).

``evaluate`` reads the window's events back from their stored batches (decision 0003) in bounded batches,
runs the version on their features and stores its outputs; events the version already answered (or served)
are skipped, so a second run stores nothing twice and a later one adds only the new events.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from loopwise._display import count
from loopwise._lazy import lazy
from loopwise.errors import DataError, ParameterError
from loopwise.ingest import get_model
from loopwise.profiles.canonical import canonical
from loopwise.registry.artifacts import ArtifactStore
from loopwise.registry.audit import append
from loopwise.registry.blobs import narrow_blobs, not_stored, whole_blobs
from loopwise.registry.feature_rows import FeatureRows
from loopwise.registry.flavors import Predictor
from loopwise.registry.outputs import (
    encode_predictions,
    last_output_id,
    output_table,
    probabilities,
    score_dicts,
    store_outputs,
    stored_ids,
    unpack,
)
from loopwise.registry.predictors import PredictorCache
from loopwise.registry.settings import RegistrySettings
from loopwise.registry.versions import describe, load_version
from loopwise.registry.window import event_keys, window_events, window_rows
from loopwise.schema import Kind, Role, Schema
from loopwise.store import transaction
from loopwise.store.batch_outputs import as_whole
from loopwise.store.bulk import AMONG_CHUNK, among
from loopwise.store.tables import Event

if TYPE_CHECKING:
    import pandas as pd
else:
    pd = lazy("pandas")

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


def read_rows(s: Session, keys: Sequence[tuple[int, int]], columns: Sequence[str] | None = None) -> pa.Table:
    """The logged rows at ``keys`` ((batch id, row) pairs, sorted), in that order, from their batches."""
    if not keys:
        return pa.table({})
    batch_ids = np.fromiter((k[0] for k in keys), np.int64, len(keys))
    rows = np.fromiter((k[1] for k in keys), np.int64, len(keys))
    return read_stored(s, batch_ids, rows, columns)


def read_stored(
    s: Session,
    batch_ids: np.ndarray,
    rows: np.ndarray,
    columns: Sequence[str] | None = None,
    *,
    narrow: bool = False,
) -> pa.Table:
    """The logged rows in ``batch_ids[i]`` at ``rows[i]`` (sorted by batch, then row), in that order; of
    ``columns`` only (those stored), whose buffers alone are decompressed.

    ``narrow``: read each batch's narrow blob (``store.batch_outputs``) where it has one that holds what
    ``columns`` asks of it, else its whole blob: the same table either way, from a tenth to a thirtieth of
    the bytes for the ids, outputs and segments a paired comparison reads (decision 0062)."""
    if not len(batch_ids):
        return pa.table({})
    parts: list[pa.Table] = []
    starts = np.flatnonzero(np.r_[True, batch_ids[1:] != batch_ids[:-1]])
    bounds = list(zip(starts.tolist(), [*starts[1:].tolist(), len(batch_ids)], strict=True))
    wanted = [int(batch_ids[a]) for a, _ in bounds]
    for i in range(0, len(wanted), 100):  # a hundred blobs (about 40 MB) in memory at a time
        chunk = wanted[i : i + 100]
        narrowed = narrow_blobs(s, chunk, columns) if narrow and columns is not None else {}
        blobs = whole_blobs(s, [b for b in chunk if b not in narrowed])
        for a, z in bounds[i : i + 100]:
            batch = int(batch_ids[a])
            if batch in narrowed:
                table = as_whole(unpack(narrowed[batch], columns))
            elif batch in blobs:
                table = unpack(blobs[batch], columns)
            else:
                raise not_stored(batch)
            if z - a != table.num_rows or rows[a] != 0 or rows[z - 1] != z - a - 1:
                table = table.take(pa.array(rows[a:z]))
            parts.append(table)
    if not parts:
        return pa.table({})
    return concat_logged(parts)


def concat_logged(parts: list[pa.Table]) -> pa.Table:
    """The batches' tables as one. A column logged as strings in one batch and as categories (Arrow's
    dictionary) in another does not merge: its categories are then read as their values. Columns whose types
    cannot be merged at all (numbers in one batch, text in another) are a one-line ``DataError``."""
    try:
        return pa.concat_tables(parts, promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        pass
    decoded = [_values_of_categories(t) for t in parts]
    try:
        return pa.concat_tables(decoded, promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise DataError(
            f"the window's logged batches hold a column in types that do not merge: {first}"
        ) from exc


def _values_of_categories(table: pa.Table) -> pa.Table:
    for i, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(f.type.value_type))
    return table


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
    predictors: PredictorCache | None = None,
) -> Evaluation:
    """Run ``version`` on the model's logged events with a time in [start, end) that it has not answered
    yet, and store its outputs (source ``replay``), a blob per batch, one transaction per batch.

    ``progress(done, total)``: called with the pending events' count before the first batch and after each.
    ``predictors``: where loaded versions are kept between calls (the server's and the local client's);
    without it the version is loaded for this call alone.
    """
    check_window(start, end)
    if batch_rows < 1:
        raise ParameterError("batch_rows", batch_rows, "a positive number of rows")
    with read_sessions() as s:
        model = get_model(s, model_name)
        describe(s, model_name, version)  # a NotFoundError before anything loads
        if predictors is None:
            predictor = load_version(s, settings, store, model_name, version)
        else:
            predictor = predictors.get(s, settings, store, model_name, version)
        # The version's blobs up to this one are looked at now; a write looks at those stored after it.
        seen = last_output_id(s, model.id, version)
        # No outputs of this version yet (a first evaluation): the window's rows from the batches' summaries,
        # their ids read from the blobs with the features (decision 0049). Else from the events' index, with
        # their ids, to leave out the events answered already.
        id_column = Schema.from_dict(model.schema_json).by_role(Role.ID)[0].name if not seen else None
        ids: pa.Array | None = None
        if id_column is not None:
            found = window_rows(s.connection(), model.id, start, end, version)
            events, own_count = len(found.served), int(found.served.sum())
            batch_of, row_of = found.batch_id[~found.served], found.row[~found.served]
            window_first, window_last = found.first, found.last
        else:
            window = window_events(s.connection(), model.id, start, end, served_by=(version,))
            own = window.table.column("served").combine_chunks().cast(pa.bool_())
            pending = window.table.filter(pc.invert(own)).combine_chunks()
            events, own_count = window.table.num_rows, window.table.num_rows - pending.num_rows
            window_first, window_last = window.first, window.last
        # Every blob of this run is bounded by the window's events' times (each batch's own would cost a
        # time per event read: 0.3-0.8 s of 1,000,000 on PostgreSQL, where these two cost one scan).
        first, last = window_first or start, window_last or end
        if id_column is None:
            if seen and pending.num_rows:
                held, _ = stored_ids(s, model.id, version, first, last)
                answered = pc.is_in(pending.column("event_id"), value_set=held.combine_chunks())
                pending = pending.filter(pc.invert(answered))
            ids = pending.column("event_id").combine_chunks()
            batch_of = pending.column("batch_id").to_numpy()
            row_of = pending.column("row").to_numpy()
    total = len(batch_of)
    timings: list[BatchTiming] = []
    latency: dict[str, float] = {}
    written = 0
    mine: list[int] = []
    if progress is not None:
        progress(0, total)
    bounds = [(a, min(a + batch_rows, total)) for a in range(0, total, batch_rows)]

    # Float features through one array kept from batch to batch (decision 0065), others by Arrow's to_pandas.
    rows_reader = FeatureRows(predictor.features, id_column) if predictor.features else None

    def read(a: int, z: int) -> tuple[pd.DataFrame, pa.Array]:
        if rows_reader is not None and rows_reader.usable:
            with read_sessions() as s:
                got = rows_reader.read(s, batch_of[a:z], row_of[a:z])
            if got is not None:
                if got[1] is None:
                    assert ids is not None
                    return got[0], ids.slice(a, z - a)
                return got[0], got[1]
        features = predictor.features
        wanted = features
        if id_column is not None and features is not None and id_column not in features:
            wanted = [*features, id_column]
        with read_sessions() as s:
            table = read_stored(s, batch_of[a:z], row_of[a:z], wanted)
        if id_column is None:
            assert ids is not None
            keys = ids.slice(a, z - a)
        else:
            keys = event_keys(table.column(id_column))
            if wanted is not features:
                table = table.drop_columns([id_column])
        frame: pd.DataFrame = table.to_pandas()
        return frame, keys

    def save(keys: pa.Array, labels: np.ndarray, proba: np.ndarray | None, per_row: float) -> None:
        classes = predictor.classes
        scores = {} if proba is None or classes is None else probabilities(classes, proba)
        table = output_table(keys, encode_predictions(labels), scores)
        # Not flushed to the disk at each batch: the evaluation's last commit (its audit entry, durable)
        # flushes them all with it, and one lost to a power cut before is replayed by the next evaluation
        # (decision 0065). A commit flushed each time cost 8 ms a batch on SQLite.
        with transaction(sessions, durable=False) as s:
            # Not this run's own blobs: their events were pending for this run only (reading them again at
            # each write cost 1.3 s of 1,000,000 events). Another run's, written since, are looked at.
            done = store_outputs(
                s, model.id, version, "replay", table, first, last, per_row, after=seen, skip=mine
            )
        if done.blob_id is not None:
            mine.append(done.blob_id)

    # Sequential: reading the next batch and storing the last one beside the model (threads) gained 0-5%
    # on two cores, where the model's own threads use both, and made its timed calls (stored as each row's
    # latency_ms, which a gate's latency budget reads) 2-3 times slower (decision 0029).
    for a, z in bounds:
        frame, keys = read(a, z)
        try:
            if not latency:
                latency = _probe(predictor, frame)
            began = time.perf_counter()
            labels, proba = predictor.outputs(frame)
            seconds = time.perf_counter() - began
        except DataError as exc:
            # The batches before this one are stored (each its own transaction), and evaluating again goes
            # on from there: say so, with where it stopped.
            raise DataError(
                f"{exc}; it stopped at pending events {a + 1}-{z} of {total}, and the {written} before "
                "them are stored"
            ) from exc
        per_row = seconds * 1000 / (z - a)
        timings.append(BatchTiming(z - a, seconds, (z - a) / seconds if seconds else 0.0, per_row))
        save(keys, labels, proba, per_row)
        written = z
        if progress is not None:
            progress(written, total)
    result = Evaluation(
        model_name,
        version,
        start,
        end,
        events,
        written,
        events - own_count - written,
        own_count,
        timings,
        latency,
    )
    with transaction(sessions) as s:
        detail = {k: v for k, v in result.to_dict().items() if k != "model"}
        append(s, model.id, actor, "version.evaluate", detail)
    return result


def _probe(predictor: Predictor, frame: Any) -> dict[str, float]:
    """p50, p99 and mean of one-row calls: what a caller serving one request at a time would wait."""
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
    return {
        "rows": float(len(took)),
        "p50_ms": float(p50),
        "p99_ms": float(p99),
        "mean_ms": float(np.mean(took)),
    }


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
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    for i in range(0, len(ids), CHUNK):
        part = ids[i : i + CHUNK]
        for event_id, v, ts in s.execute(
            select(Event.event_id, Event.version, Event.ts).where(
                Event.model_id == model.id, Event.event_id.in_(part)
            )
        ):
            known.add(event_id)
            if v == version:
                served_by.add(event_id)
            first = ts if first is None or ts < first else first
            last = ts if last is None or ts > last else last
    unknown = [e for e in ids if e not in known]
    if unknown:
        shown = ", ".join(repr(e) for e in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        raise DataError(f"{count(len(unknown), 'event id')} not logged for model {model_name!r}: {shown}")
    if served_by:
        raise DataError(
            f"version {version!r} served {len(served_by)} of these events (e.g. {next(iter(served_by))!r}): "
            "its outputs for them are the logged ones"
        )
    if not ids:
        return {"stored": 0, "already": 0}
    assert first is not None and last is not None
    table = output_table(ids, encode_predictions(preds), score_dicts(stored_scores))
    stored = store_outputs(s, model.id, version, "shadow", table, first, last).rows
    return {"stored": stored, "already": len(ids) - stored}


def event_times(s: Session, model_id: int, ids: Sequence[str]) -> tuple[dt.datetime, dt.datetime] | None:
    """The earliest and the latest time of these logged events (None: none of them is logged)."""
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    for i in range(0, len(ids), AMONG_CHUNK):
        lo, hi = s.execute(
            select(func.min(Event.ts), func.max(Event.ts)).where(
                Event.model_id == model_id, among(s, Event.event_id, list(ids[i : i + AMONG_CHUNK]))
            )
        ).one()
        if lo is not None:
            first = lo if first is None or lo < first else first
            last = hi if last is None or hi > last else last
    return None if first is None or last is None else (first, last)


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
