"""Champion vs challenger on the same events: served outputs and other versions' outputs joined with the
labels that have arrived, compared with the library's paired tests (decision 0026).

Each event counts only when both versions answered it (one may have served it, the other replayed or
shadowed it): the comparison is paired, so the tests see the difference between the versions, not
between two samples of traffic.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select
from sqlalchemy.orm import Session

from loopwise._display import count
from loopwise.errors import DataError, NotComputableError, NotFoundError, ParameterError
from loopwise.ingest import get_model
from loopwise.metrics.champion import CLASSIFICATION, REGRESSION, ModelComparison, compare_models
from loopwise.registry.aliases import aliases
from loopwise.registry.outputs import (
    EVENT_ID,
    PREDICTION,
    SCORE,
    StoredBatch,
    classes_of,
    decode_predictions,
    is_json,
    read_outputs,
)
from loopwise.registry.replay import check_window, positive_class, read_stored
from loopwise.registry.values import (
    Values,
    for_library,
    from_python,
    keys,
    plain,
    take,
    to_list,
    valid,
    where,
)
from loopwise.registry.versions import describe
from loopwise.registry.window import (
    SCAN_PER_EVENT,
    event_keys,
    feedback_rows,
    labels_column,
    stored_labels,
    window_events,
    window_served,
)
from loopwise.schema import Role, Schema, Task
from loopwise.store.tables import Event


@dataclass(frozen=True)
class VersionComparison:
    """The paired comparison of two versions over a window's events.

    ``paired``: events both versions answered; ``labels``: those of them with a label now. ``verdict``:
    ``challenger better``, ``challenger worse``, ``challenger non-inferior``, ``no significant difference``,
    or ``inconclusive: n labels, needs about m`` (m: the labels at which the first metric's minimum
    detectable effect reaches the effect that matters).
    """

    model: str
    champion: str
    challenger: str
    start: dt.datetime
    end: dt.datetime
    paired: int
    labels: int
    agreement: float | None
    verdict: str
    needed: int | None
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    segments: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    challenger_ms_per_row: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["start"], out["end"] = self.start.isoformat(), self.end.isoformat()
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VersionComparison:
        return cls(**{**d, "start": _time(d["start"]), "end": _time(d["end"])})


def _time(t: dt.datetime | str) -> dt.datetime:
    return dt.datetime.fromisoformat(t) if isinstance(t, str) else t


def resolve(s: Session, model_name: str, name: str) -> str:
    """A version's name, the version an alias of the model points at now, or a version label the model's
    events were logged with (a version that served before the registry knew it: its served outputs can be
    compared, though it cannot be replayed)."""
    try:
        return describe(s, model_name, name).name
    except NotFoundError:
        held = aliases(s, model_name)
        if name in held:
            return held[name]
        model = get_model(s, model_name)
        logged = select(Event.version).where(Event.model_id == model.id, Event.version == name).limit(1)
        if s.scalar(logged) is not None:  # ix_events_bucket starts with (model_id, version): one probe
            return name
        hint = ""
        if not held and name in ("champion", "challenger"):  # the usual first gate: nothing promoted yet,
            # so the default alias names nothing
            hint = f"; no alias is set yet: name the version to compare with (--{name} VERSION in the CLI)"
        raise NotFoundError(
            f"model {model_name!r} has no version, alias or logged version named {name!r}{hint}"
        ) from None


@dataclass
class Paired:
    """The window's events both versions answered, in batch order, with their outputs and current labels:
    columns, one value per paired event (decision 0058). Predictions and labels are ``registry.values``
    columns (Arrow arrays of one plain type, else NumPy object arrays), null where there is none; scores
    float64 Arrow arrays, null where there is none."""

    champion: str
    challenger: str
    schema: Schema
    ids: pa.Array
    champion_predictions: Values
    challenger_predictions: Values
    champion_scores: pa.Array
    challenger_scores: pa.Array
    #: Each paired event's current label (null: none yet).
    labels: Values
    #: The paired events' logged columns asked for (segments, and features for a gate's data checks).
    table: Any
    #: The challenger's replay time per row, per replayed event.
    challenger_ms: np.ndarray
    positive: str | None
    #: Events logged in the window, paired or not (what "nothing to compare" is out of).
    logged: int = 0

    def __len__(self) -> int:
        return len(self.ids)

    def labelled(self) -> np.ndarray:
        """Positions of the events with a label and both predictions (an event logged without a prediction
        has nothing to compare: it is left out, as an unpaired one)."""
        both = valid(self.labels) & valid(self.champion_predictions) & valid(self.challenger_predictions)
        return np.flatnonzero(both)

    def label_of(self) -> dict[str, Any]:
        """The labels by event id, of the events that have one."""
        at = np.flatnonzero(valid(self.labels))
        return dict(zip(self.ids.take(pa.array(at)).to_pylist(), to_list(take(self.labels, at)), strict=True))


def pair(
    s: Session,
    model_name: str,
    champion: str,
    challenger: str,
    start: dt.datetime,
    end: dt.datetime,
    columns: Sequence[str] = (),
) -> Paired:
    """Pair the two versions' outputs (names or aliases) on the window's events both answered, and join
    the labels that have arrived; ``columns``: logged columns to read for those events besides the
    segments.

    Read column-wise (decision 0039): the window's events and their labels by ``registry.window``, the
    versions' stored outputs from their blobs, joined on the event ids by Arrow; only the paired events'
    own columns are read from their batches."""
    check_window(start, end)
    model = get_model(s, model_name)
    schema = Schema.from_dict(model.schema_json)
    a, b = resolve(s, model_name, champion), resolve(s, model_name, challenger)
    if a == b:
        raise ParameterError("challenger", challenger, f"a version other than the champion ({a})")
    pred_col = schema.by_role(Role.PREDICTION)
    if not pred_col:
        raise DataError(f"the schema of model {model_name!r} has no prediction column to compare")
    pos = positive_class(schema)
    score_cols = schema.by_role(Role.SCORE)
    score_col = score_cols[0].name if len(score_cols) == 1 else None
    segment_cols = [c.name for c in schema.by_role(Role.SEGMENT)]

    wanted = list(
        dict.fromkeys([pred_col[0].name, *segment_cols, *columns] + ([score_col] if score_col else []))
    )
    conn = s.connection()
    id_cols = schema.by_role(Role.ID)
    rows = window_served(conn, model.id, start, end, (a, b)) if id_cols else None
    logged: pa.Table | None = None
    if rows is not None and feedback_rows(conn) <= SCAN_PER_EVENT * len(rows.served):
        # The window from the batches' summaries, its ids from the blobs (read for the outputs anyway: the
        # batches' narrow blobs where they have them) and the labels from the model's label parts
        # (decisions 0058, 0062): the window's scan joined to the feedback per event cost 2.2-3.3 s of
        # 1,000,000, on either database; a scan of the feedback 0.5-1.1.
        served = rows.served
        id_col = id_cols[0].name
        logged = read_stored(s, rows.batch_id, rows.row, list(dict.fromkeys([id_col, *wanted])), narrow=True)
        ids = event_keys(logged.column(id_col)) if len(served) else pa.array([], pa.string())
        labelled, texts = stored_labels(conn, model.id, ids)
        if id_col not in wanted and len(served):
            logged = logged.drop_columns([id_col])
    else:
        events = window_events(conn, model.id, start, end, served_by=(a, b), labels=True).table
        ids = events.column("event_id").combine_chunks()
        served = events.column("served").to_numpy()
        labelled = events.column("labelled").to_numpy()
        texts = events.column("label").combine_chunks()
    stored = {v: _Stored.read(s, model.id, v, start, end, ids) for v in (a, b)}
    if pos is None:
        # Not declared: the scores' own classes decide as the library does for labels (0/1: "1",
        # false/true: "true"); before, a 0/1 model's replayed scores were dropped as unknown.
        pos = implied_positive(stored[a].classes | stored[b].classes)
    answered = [(served == k + 1) | (stored[v].index >= 0) for k, v in enumerate((a, b))]
    at = np.flatnonzero(answered[0] & answered[1])
    if logged is None:
        events_batch, events_row = events.column("batch_id").to_numpy(), events.column("row").to_numpy()
        table = read_stored(s, events_batch[at], events_row[at], wanted, narrow=True)
    elif len(at) == logged.num_rows:
        table = logged
    else:
        table = logged.take(pa.array(at)) if len(at) else pa.table({})
    paired_ids = ids.take(pa.array(at))
    outputs = {
        v: stored[v].at(
            at,
            served[at] == k + 1,
            table.column(pred_col[0].name) if len(at) else None,
            table.column(score_col) if len(at) and score_col in table.column_names else None,
            pos,
        )
        for k, v in enumerate((a, b))
    }
    return Paired(
        champion=a,
        challenger=b,
        schema=schema,
        ids=paired_ids,
        champion_predictions=outputs[a][0],
        challenger_predictions=outputs[b][0],
        champion_scores=outputs[a][1],
        challenger_scores=outputs[b][1],
        labels=labels_column(s, model.id, texts.take(pa.array(at)), labelled[at], paired_ids),
        table=table,
        challenger_ms=stored[b].replay_ms(served != 2),
        positive=pos,
        logged=len(served),
    )


@dataclass
class _Stored:
    """One version's stored outputs among a window's events: for each event, the row of its output in the
    blobs read (``index``, -1: none), and the blobs' predictions, classes and replay times."""

    batches: list[StoredBatch]
    index: np.ndarray

    @classmethod
    def read(
        cls, s: Session, model_id: int, version: str, start: dt.datetime, end: dt.datetime, ids: pa.Array
    ) -> _Stored:
        found = read_outputs(s, model_id, version, start, end)
        if not found or not len(ids):
            return cls(found, np.full(len(ids), -1, np.int64))
        stored_ids = pa.chunked_array(
            [b.table.column(EVENT_ID).combine_chunks() for b in found], pa.string()
        ).combine_chunks()
        if len(stored_ids) == len(ids) and stored_ids.equals(ids):  # a replay of this very window, in order
            return cls(found, np.arange(len(ids), dtype=np.int64))
        # The first of an id is the first answer stored (blobs in the order they were written).
        index = pc.index_in(ids, value_set=stored_ids).fill_null(-1)
        return cls(found, index.to_numpy(zero_copy_only=False).astype(np.int64))

    @property
    def classes(self) -> set[str]:
        """The classes with a probability in any blob read."""
        return {
            c
            for b in self.batches
            for c in classes_of(b.table)
            if b.table.column(SCORE + c).null_count < len(b.table)
        }

    def _column(self, make: Any) -> pa.Array:
        """One column of every blob read, as one array (a ChunkedArray's take cost 0.8 s of 1,000,000)."""
        parts: list[pa.Array] = []
        for b in self.batches:
            col = make(b.table)
            parts += col.chunks if isinstance(col, pa.ChunkedArray) else [col]
        return pa.concat_arrays(parts)

    def at(
        self,
        at: np.ndarray,
        own: np.ndarray,
        served_predictions: pa.ChunkedArray | None,
        served_scores: pa.ChunkedArray | None,
        positive: str | None,
    ) -> tuple[Values, pa.Array]:
        """The version's predictions and positive-class scores for the events at positions ``at``: the
        logged ones where it served the event (``own``), else its stored ones."""
        n = len(at)
        mine = plain(served_predictions) if served_predictions is not None else pa.nulls(n)
        mine_scores = (
            pc.cast(served_scores.combine_chunks(), pa.float64())
            if served_scores is not None
            else pa.nulls(n, pa.float64())
        )
        if own.all():
            return mine, mine_scores
        rows = self.index[at]
        uniform = len({(b.table.schema.field(PREDICTION).type, is_json(b.table)) for b in self.batches}) == 1
        take_at = pa.array(np.where(own, 0, rows))
        theirs: Values
        if uniform and not is_json(self.batches[0].table):
            theirs = plain(self._column(lambda t: t.column(PREDICTION)).take(take_at))
        else:
            every = [
                v
                for b in self.batches
                for v in decode_predictions(b.table.column(PREDICTION), is_json(b.table))
            ]
            theirs = from_python([every[i] for i in take_at.to_numpy().tolist()])
        key = None if positive is None else SCORE + positive
        other_scores = self._column(
            lambda t: (
                t.column(key).cast(pa.float64()) if key in t.column_names else pa.nulls(len(t), pa.float64())
            )
        ).take(take_at)
        if not own.any():
            return theirs, other_scores
        return where(own, mine, theirs), pc.if_else(pa.array(own, pa.bool_()), mine_scores, other_scores)

    def replay_ms(self, candidates: np.ndarray) -> np.ndarray:
        """The replay time per row of each of the window's events the version has a replayed output for
        (``candidates``: events it did not serve)."""
        rows = self.index[candidates & (self.index >= 0)]
        if not len(rows):
            return np.array([], np.float64)
        ends = np.cumsum([b.table.num_rows for b in self.batches])
        counts = np.bincount(np.searchsorted(ends, rows, side="right"), minlength=len(self.batches))
        timed = [b.source == "replay" and b.latency_ms is not None for b in self.batches]
        per_row = [float(b.latency_ms) if t else 0.0 for b, t in zip(self.batches, timed, strict=True)]  # type: ignore[arg-type]
        return np.repeat(np.array(per_row, np.float64)[timed], counts[timed])


def compare_versions(
    s: Session,
    model_name: str,
    champion: str,
    challenger: str,
    start: dt.datetime,
    end: dt.datetime,
    *,
    metrics: Sequence[str] | None = None,
    margin: float | None = None,
    alpha: float = 0.05,
    min_effect: float | None = None,
) -> VersionComparison:
    """Compare ``challenger`` with ``champion`` (versions or aliases) on the window's events both answered.

    ``metrics``: the library's metric names (``loopwise.metrics.champion``); by default accuracy (McNemar)
    and, when both versions have scores, roc_auc (DeLong) for a classifier, mae and rmse for a regressor.
    ``min_effect``: the smallest difference that matters, for "inconclusive" (default: ``margin``, else
    the observed difference).
    """
    if min_effect is not None and min_effect <= 0:
        raise ParameterError("min_effect", min_effect, "a positive difference")
    p = pair(s, model_name, champion, challenger, start, end)
    if not len(p):
        raise NotComputableError(nothing_paired(p, start, end))
    schema, table, pos = p.schema, p.table, p.positive
    segment_cols = [c.name for c in schema.by_role(Role.SEGMENT)]
    # Canonical keys in Arrow: a canonical() call per prediction cost 1.9 s of 1,000,000 pairs (0044).
    ka, kb = keys(p.champion_predictions), keys(p.challenger_predictions)
    both = pc.and_(ka.is_valid(), kb.is_valid())
    answered = int(pc.sum(both).as_py() or 0)
    same = int(pc.sum(pc.fill_null(pc.and_(both, pc.equal(ka, kb)), False)).as_py() or 0)
    labelled = p.labelled()
    ms = p.challenger_ms
    base: dict[str, Any] = {
        "model": model_name,
        "champion": p.champion,
        "challenger": p.challenger,
        "start": start,
        "end": end,
        "paired": len(p),
        "labels": len(labelled),
        "agreement": same / answered if answered else None,
        "challenger_ms_per_row": float(np.mean(ms)) if len(ms) else None,
    }
    if not len(labelled):
        return VersionComparison(**base, verdict="inconclusive: 0 labels", needed=None)
    y_col = take(p.labels, labelled)
    ya_col, yb_col = take(p.champion_predictions, labelled), take(p.challenger_predictions, labelled)
    y, ya, yb = for_library(y_col), for_library(ya_col), for_library(yb_col)
    sa_col, sb_col = p.champion_scores.take(pa.array(labelled)), p.challenger_scores.take(pa.array(labelled))
    scored = sa_col.null_count == 0 and sb_col.null_count == 0
    # Missing scores as NaN: what the library made of a None in a list (``astype(float)``).
    sa, sb = sa_col.to_numpy(zero_copy_only=False), sb_col.to_numpy(zero_copy_only=False)
    regression = schema.task == Task.REGRESSION
    names = list(metrics) if metrics else _default_metrics(regression, scored, y_col)
    for name in names:
        if name not in CLASSIFICATION + REGRESSION:
            raise ParameterError("metrics", name, CLASSIFICATION + REGRESSION)
    # Fairness across the first segment (the library's deltas) needs the positive class of a classifier.
    seg = None
    if segment_cols and not regression and pos:
        seg = for_library(plain(table.column(segment_cols[0]).take(pa.array(labelled))))
    results: list[ModelComparison] = []
    for name in names:
        with_scores = name == "roc_auc"
        results.append(
            compare_models(
                ya,
                yb,
                y,
                metric=name,
                champion_scores=sa if with_scores else None,
                challenger_scores=sb if with_scores else None,
                pos_label=pos if not regression else None,
                margin=margin,
                alpha=alpha,
                segment=seg,
            )
        )
    verdict, needed = _verdict(results[0], margin, min_effect)
    segments = {
        col: _by_segment(table.column(col).take(pa.array(labelled)), ya_col, yb_col, y_col, regression)
        for col in segment_cols
    }
    return VersionComparison(
        **base,
        verdict=verdict,
        needed=needed,
        comparisons=[_plain(r.to_dict()) for r in results],
        segments=segments,
    )


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    """The result with NumPy numbers as Python ones (it travels as JSON)."""
    out: dict[str, Any] = json.loads(json.dumps(d, default=float))
    return out


def _default_metrics(regression: bool, scored: bool, y: Values) -> list[str]:
    if regression:
        return ["mae", "rmse"]
    both = pc.count_distinct(keys(y)).as_py() == 2
    return ["accuracy", "roc_auc"] if scored and both else ["accuracy"]


def _verdict(r: ModelComparison, margin: float | None, min_effect: float | None) -> tuple[str, int | None]:
    """The first metric's verdict, or "inconclusive" with the labels its test needs (``labels_needed``)."""
    effect = min_effect if min_effect is not None else margin if margin else abs(r.difference)
    mde = r.minimum_detectable_effect
    short = mde is not None and effect > 0 and mde > effect
    if r.significant and not (short and min_effect is not None):
        return r.verdict, None
    if margin is not None and r.non_inferior and not short:
        # Non-inferior on a sample too small to have shown a loss of the margin is not shown yet (as the
        # gate decides, decision 0032).
        return "challenger non-inferior", None
    if short:
        assert mde is not None
        needed = labels_needed(r.n, mde, effect)
        return f"inconclusive: {count(r.n, 'label')}, needs about {needed}", needed
    return "no significant difference", None


def labels_needed(n: int, mde: float, effect: float) -> int:
    """The labels at which a test whose minimum detectable effect is ``mde`` at ``n`` labels detects
    ``effect``: the standard error, and so the MDE, shrinks as 1/sqrt(n)."""
    return math.ceil(n * (mde / effect) ** 2)


def _by_segment(
    values: pa.ChunkedArray | pa.Array, ya: Values, yb: Values, y: Values, regression: bool
) -> dict[str, dict[str, Any]]:
    """Each segment value's labelled events (``values``, ``ya``, ``yb``, ``y``: theirs, row for row): both
    versions' accuracy (mean absolute error for a regressor) and the change (challenger - champion)."""
    group = keys(plain(values)).fill_null("(missing)").dictionary_encode()
    codes = group.indices.to_numpy(zero_copy_only=False)
    names = group.dictionary.to_pylist()
    if regression:
        truth = np.asarray(for_library(y), dtype=np.float64)
        errors = [np.abs(np.asarray(for_library(v), dtype=np.float64) - truth) for v in (ya, yb)]
    else:
        truth_keys = keys(y)
        hits = [
            pc.fill_null(pc.equal(keys(v), truth_keys), False).to_numpy(zero_copy_only=False)
            for v in (ya, yb)
        ]
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    out: dict[str, dict[str, Any]] = {}
    for g in sorted(range(len(names)), key=lambda i: names[i]):
        rows = order[bounds[g] : bounds[g + 1]]
        if regression:
            ea, eb = (float(np.mean(e[rows])) for e in errors)
            out[names[g]] = {
                "n": len(rows),
                "metric": "mae",
                "champion": ea,
                "challenger": eb,
                "change": eb - ea,
            }
        else:
            ca, cb = (float(np.mean(h[rows])) for h in hits)
            out[names[g]] = {
                "n": len(rows),
                "metric": "accuracy",
                "champion": ca,
                "challenger": cb,
                "change": cb - ca,
            }
    return out


def nothing_paired(p: Paired, start: dt.datetime, end: dt.datetime) -> str:
    """Why a gate or a comparison has no events to compare, and what to do about it."""
    window = f"[{start.isoformat()}, {end.isoformat()})"
    if not p.logged:
        return f"no events were logged in {window}: the versions are compared on logged traffic"
    return (
        f"version {p.challenger!r} has no outputs for the {p.logged} events logged in {window}: "
        f"evaluate it on that window first (evaluate_version, or `loopwise versions evaluate`), "
        f"or log its live outputs with log_shadow"
    )


def implied_positive(classes: set[str]) -> str | None:
    """The positive class two classes imply: ``1`` of 0/1, ``true`` of false/true; else none (a model
    whose classes are words says which is positive in its schema's ``positive``)."""
    for negative, positive in (("false", "true"), ("0", "1")):
        if classes and classes <= {negative, positive}:
            return positive
    return None
