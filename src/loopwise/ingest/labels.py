"""Labels of stored events: the current label of each, and bucket task profiles rebuilt when labels change.

Late labels (feedback after the predictions) rebuild their bucket's task profiles from the stored batches
and the current labels; predictions arriving after their labels are profiled with them (``labels_for``).

Labels for a backfill touch thousands of buckets, so ``relabel`` rebuilds them ``TOGETHER`` at a time: one
query for their events, one read of each batch blob (a 5,000-row batch was decompressed once per bucket it
spans), one query for the labels, and the profiles of every bucket and segment built at once
(``profiles.grouped``), where each bucket cost all of that alone (decision 0021). Labels of mixed types, or a
target column that cannot hold them, take the bucket-by-bucket way (``rebuild_tasks``), which reads them as
text or leaves that column as it was.

A first label of an event the bucket already counts (``add_first_labels``) adds only what labels add (a
classifier's confusion cell, score histograms, sums, calibration and estimation hits:
``ClassificationProfile.label_part``; a regressor's error moments and sketch and the target's moments:
``RegressionProfile.label_part``), so labels arriving a few thousand at a time into one bucket of a million
events do not re-read the million events each time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from loopwise.ingest.buckets import fold, fold_many, lock_bucket, lock_buckets, pack, read_ipc, unpack
from loopwise.ingest.models import model_schema
from loopwise.profiles import BooleanProfile, CategoricalProfile, NumericProfile, Profile
from loopwise.profiles.canonical import canonical
from loopwise.profiles.grouped import profile_groups
from loopwise.profiles.histogram import Histogram
from loopwise.profiles.profile import MISSING_SEGMENT, empty_task, update_task
from loopwise.profiles.task import ClassificationProfile, RegressionProfile
from loopwise.schema import Column, Kind, Role, Schema
from loopwise.store.bulk import AMONG_CHUNK, among
from loopwise.store.tables import Batch, BucketPart, BucketProfile, Event, Feedback, Model
from loopwise.store.types import utcnow


def count_label_changes(s: Session, model_id: int, buckets: set[tuple[str, dt.datetime]]) -> None:
    """Count one more label change in each (version, bucket) (``BucketProfile.labels``), in the caller's
    transaction, after the labels and the profiles they rebuilt: a monitor's window that ran with fewer is
    run again (decision 0041). A bucket with no row (a model without a target) has nothing to count."""
    if not buckets:
        return
    table = BucketProfile.__table__
    assert isinstance(table, Table)
    t = table.c
    s.connection().execute(
        update(table)
        .where(t.model_id == model_id, t.version == bindparam("b_version"), t.bucket == bindparam("b_bucket"))
        .values(labels=t.labels + 1),
        [{"b_version": v, "b_bucket": b} for v, b in sorted(buckets)],
    )


def rebuild_tasks(s: Session, model: Model, touched: set[tuple[str, dt.datetime]]) -> None:
    """Rebuild the task profiles (whole, per segment) of buckets whose labels changed.

    The bucket's pending parts are folded first; then predictions, scores and segment values of the
    bucket's events come from their batches (only those columns are used) and labels from the feedback.
    The target's column profile is rebuilt from the labels too (target drift is the labels' distribution);
    the other column profiles are untouched: a late label does not change the inputs' distributions.
    """
    schema = model_schema(model)
    pred, target = schema.by_role(Role.PREDICTION), schema.by_role(Role.TARGET)
    if not pred or not target:
        return
    scores = [c.name for c in schema.by_role(Role.SCORE)]
    seg_cols = [c.name for c in schema.by_role(Role.SEGMENT)]
    needed = [pred[0].name, *scores, *seg_cols]
    for version, bucket in sorted(touched):
        row = lock_bucket(s, model.id, version, bucket)
        assert row is not None
        fold(s, row)
        if not row.profile:
            continue
        profile = unpack(s, row.profile)
        # One statement, so one snapshot: a batch whose part is still pending (committed after the fold
        # above) is left out here as its part is left out of the bucket.
        pending_batches = select(BucketPart.batch_id).where(
            BucketPart.model_id == model.id, BucketPart.version == version, BucketPart.bucket == bucket
        )
        events = s.execute(
            select(Event.event_id, Event.batch_id, Event.row)
            .where(
                Event.model_id == model.id,
                Event.version == version,
                Event.bucket == bucket,
                Event.batch_id.not_in(pending_batches),
            )
            .order_by(Event.batch_id, Event.row)
        ).all()
        by_batch: dict[int, list[int]] = defaultdict(list)
        for _, b, r in events:
            by_batch[b].append(r)
        pieces = []
        for batch_id, arrow in s.execute(select(Batch.id, Batch.arrow).where(Batch.id.in_(list(by_batch)))):
            t = read_ipc(arrow)
            cols = {c: t.column(c) if c in t.column_names else pa.nulls(t.num_rows) for c in needed}
            pieces.append((batch_id, pa.table(cols).take(pa.array(by_batch[batch_id]))))
        pieces.sort(key=lambda p: p[0])
        index = pa.concat_tables([p for _, p in pieces], promote_options="permissive")
        labels = labels_for(s, model.id, [e for e, _, _ in events])
        values = [labels.get(e) for e, _, _ in events]
        try:
            label_array = pa.array(values, from_pandas=True)
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            # Labels of mixed JSON types (true and "yes" for one model) were each accepted: read them as text,
            # so that the hour still profiles (and the kinds' warning says why it compares badly).
            label_array = pa.array([None if v is None else str(v) for v in values], pa.string())
        index = index.append_column(target[0].name, label_array)
        task = empty_task(schema)
        if task is None:
            continue
        update_task(task, schema, index)
        profile.task = task
        _relabel(profile, target[0], index)
        for seg, subs in profile.segments.items():
            keys = [canonical(v) if v is not None else MISSING_SEGMENT for v in index.column(seg).to_pylist()]
            for key, sub in subs.items():
                sub_task = empty_task(schema)
                assert sub_task is not None
                rows = index.filter(pa.array([k == key for k in keys]))
                update_task(sub_task, schema, rows)
                sub.task = sub_task
                _relabel(sub, target[0], rows)
        row.profile, row.updated_at = pack(s, profile), utcnow()


def _relabel(profile: Profile, target: Column, rows: pa.Table) -> None:
    """Replace the target's column profile by one of the labels ``rows`` hold now (same kind as before)."""
    old = profile.columns.get(target.name)
    if old is None or target.kind is None:
        return
    values = rows.column(target.name)
    # Built anew from every label the bucket's events have, so a bucket profiled before the labels fixed
    # the target's kind (all missing then, of no kind) gets the fixed one.
    fresh = Profile.empty(Schema((target,)), anchors=profile.anchors, options=profile.options)
    column = fresh.columns[target.name]
    try:
        column.update(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError):
        return  # labels of a type the column cannot hold: performance still counts them, drift does not
    profile.columns[target.name] = column


#: Buckets rebuilt with one query for their events, one read per batch and one profiling pass.
TOGETHER = 200


def relabel(s: Session, model: Model, touched: set[tuple[str, dt.datetime]]) -> None:
    """Rebuild the task profiles (whole and per segment) and the target's column of the ``touched``
    (version, bucket)s, whose labels changed, in the caller's transaction."""
    schema = model_schema(model)
    pred, target = schema.by_role(Role.PREDICTION), schema.by_role(Role.TARGET)
    if not pred or not target or empty_task(schema) is None:
        return
    by_version: dict[str, list[dt.datetime]] = defaultdict(list)
    for version, bucket in sorted(touched):
        by_version[version].append(bucket)
    for version, buckets in by_version.items():
        for i in range(0, len(buckets), TOGETHER):
            _relabel_some(s, model, schema, target[0], version, buckets[i : i + TOGETHER])


def _relabel_some(
    s: Session, model: Model, schema: Schema, target: Column, version: str, buckets: list[dt.datetime]
) -> None:
    rows, profiles = {}, {}
    for b in buckets:
        row = lock_bucket(s, model.id, version, b)
        assert row is not None
        fold(s, row)
        if row.profile:
            rows[b], profiles[b] = row, unpack(s, row.profile)
    if not rows:
        return
    live = list(rows)
    # One statement, so one snapshot: a batch whose part is still pending (committed after the folds above)
    # is left out here as its part is left out of the bucket.
    pending_batches = select(BucketPart.batch_id).where(
        BucketPart.model_id == model.id, BucketPart.version == version, BucketPart.bucket.in_(live)
    )
    events = s.execute(
        select(Event.event_id, Event.bucket, Event.batch_id, Event.row)
        .where(
            Event.model_id == model.id,
            Event.version == version,
            Event.bucket.in_(live),
            Event.batch_id.not_in(pending_batches),
        )
        .order_by(Event.bucket, Event.batch_id, Event.row)
    ).all()
    narrow = _narrow(schema)
    try:
        fresh = _labelled_profiles(s, model.id, narrow, target.name, events, live, profiles[live[0]])
    except (pa.ArrowException, ValueError, TypeError):
        # Labels of mixed JSON types, or of a type the target's column cannot hold: bucket by bucket, as
        # before, which reads them as text or leaves that column as it was.
        rebuild_tasks(s, model, {(version, b) for b in live})
        return
    numeric_target = target.kind is Kind.NUMERIC
    for g, b in enumerate(live):
        profile, new = profiles[b], fresh[g]
        same_edges = not numeric_target or _same(
            profile.anchors.get(target.name), profiles[live[0]].anchors.get(target.name)
        )
        _take(profile, new, target, same_edges)
        for seg, subs in profile.segments.items():
            for key, sub in subs.items():
                replacement = new.segments.get(seg, {}).get(key)
                if replacement is None:  # no event of that segment left (its batch is pending): no rows
                    replacement = Profile.empty(narrow, anchors=sub.anchors, options=sub.options)
                _take(sub, replacement, target, same_edges)
        if not same_edges:
            rebuild_tasks(s, model, {(version, b)})  # the target's histogram is on other edges here
            continue
        rows[b].profile, rows[b].updated_at = pack(s, profile), utcnow()


#: Target columns a first label can be added to (a missing row counts only in their ``n`` and ``missing``),
#: by the task: a classifier's labels are counted, a regressor's are numbers (their histogram on the model's
#: anchor edges for the target, which both this path and the rebuild use).
_COUNTED = {Kind.BOOLEAN: BooleanProfile, Kind.CATEGORICAL: CategoricalProfile}
_ADDABLE: dict[type[Any], dict[Kind, type[Any]]] = {
    ClassificationProfile: _COUNTED,
    RegressionProfile: {Kind.NUMERIC: NumericProfile},
}


def add_first_labels(
    s: Session, model: Model, first: dict[tuple[str, dt.datetime], list[str]]
) -> set[tuple[str, dt.datetime]]:
    """Add the first labels of events their (version, bucket) already counts, in the caller's transaction
    (after the labels are stored); return the buckets left to ``relabel``: those where, under the bucket's
    lock, an event turns out to hold another label, its batch is still pending, or the profile cannot take
    labels one by one (a classifier's numeric target, a regressor's target whose labels would not merge as
    the rebuild's: ``_same_edges``, a target column of another kind than the schema's)."""
    schema = model_schema(model)
    target = schema.by_role(Role.TARGET)
    task = type(empty_task(schema))
    if not first or not target or target[0].kind not in _ADDABLE.get(task, {}):
        return set(first)
    left: set[tuple[str, dt.datetime]] = set()
    by_version: dict[str, list[dt.datetime]] = defaultdict(list)
    for version, bucket in sorted(first):
        by_version[version].append(bucket)
    for version, buckets in by_version.items():
        for i in range(0, len(buckets), TOGETHER):
            some = {b: first[(version, b)] for b in buckets[i : i + TOGETHER]}
            left |= {(version, b) for b in _add_some(s, model, schema, target[0], version, some)}
    return left


def _add_some(
    s: Session,
    model: Model,
    schema: Schema,
    target: Column,
    version: str,
    first: dict[dt.datetime, list[str]],
) -> set[dt.datetime]:
    left: set[dt.datetime] = set()
    rows, profiles = {}, {}
    locked = lock_buckets(s, model.id, version, list(first))
    fold_many(s, [locked[b] for b in sorted(first)])
    for b in first:
        row = locked[b]
        profile = unpack(s, row.profile) if row.profile else None
        if profile is None or type(profile.task) not in _ADDABLE:
            left.add(b)
            continue
        rows[b], profiles[b] = row, profile
    ids = [e for b in rows for e in first[b]]
    bucket_of = {e: b for b in rows for e in first[b]}
    # Under the locks, so no other request labels these events until this transaction ends: exactly one
    # label each (the one just stored), or the bucket is rebuilt from all its labels.
    for i in range(0, len(ids), AMONG_CHUNK):
        for event_id, _ in s.execute(
            select(Feedback.event_id, func.count())
            .where(
                Feedback.model_id == model.id,
                among(s, Feedback.event_id, ids[i : i + AMONG_CHUNK]),
                Feedback.kind.in_(("label", "correction")),
            )
            .group_by(Feedback.event_id)
            .having(func.count() > 1)
        ):
            left.add(bucket_of[event_id])
    pending = set(
        s.execute(
            select(BucketPart.bucket, BucketPart.batch_id).where(
                BucketPart.model_id == model.id,
                BucketPart.version == version,
                BucketPart.bucket.in_(list(rows)),
            )
        ).all()
    )
    events: list[Any] = []
    for i in range(0, len(ids), AMONG_CHUNK):
        # By the primary key alone: with the version too, SQLite's planner took the (model, version, bucket)
        # index and scanned every event of the version for each 500 ids (4x slower over a year).
        events += [
            e
            for e in s.execute(
                select(Event.event_id, Event.bucket, Event.batch_id, Event.row, Event.version).where(
                    Event.model_id == model.id, among(s, Event.event_id, ids[i : i + AMONG_CHUNK])
                )
            )
            if e[4] == version
        ]
    events = [e[:4] for e in events]
    for _, b, batch_id, _ in events:
        if (b, batch_id) in pending:  # not in the bucket's profile yet: its part comes with what it held
            left.add(b)
    live = [b for b in rows if b not in left]
    events = sorted((e for e in events if e[1] in live), key=lambda e: (e[1], e[2], e[3]))
    if not events:
        return left | set(live)
    narrow = _narrow(schema)
    try:
        added = _labelled_profiles(s, model.id, narrow, target.name, events, live, profiles[live[0]])
    except (pa.ArrowException, ValueError, TypeError):
        return left | set(live)  # labels of mixed types, say: the rebuild reads them as text
    for g, b in enumerate(live):
        profile, new = profiles[b], added[g]
        cells = [(profile, new)]
        for seg, subs in new.segments.items():
            for key, sub in subs.items():
                cells.append((profile.segments.get(seg, {}).get(key), sub))  # type: ignore[arg-type]
        if not new.n or not all(_can_add(old, add, target) for old, add in cells):
            left.add(b)
            continue
        for old, add in cells:
            _add_labelled(old, add, target)
        rows[b].profile, rows[b].updated_at = pack(s, profile), utcnow()
    return left


def _can_add(old: Profile | None, add: Profile, target: Column) -> bool:
    if old is None or old.task is None or type(old.task) is not type(add.task):
        return False
    column = old.columns.get(target.name)
    if column is None:
        return True
    kind = _ADDABLE[type(old.task)].get(target.kind)  # type: ignore[arg-type]
    if kind is NumericProfile and not _same_edges(column, add.columns.get(target.name)):
        return False  # the labels' histogram would not merge with the column's, or not as the rebuild's
    missing, n = int(getattr(column, "missing", -1)), int(getattr(column, "n", -1))
    # A column of another kind (profiled before the first labels fixed the target's kind) is taken over
    # when it holds nothing but missing rows, as the rebuild would give it.
    return kind is not None and missing >= add.n and (isinstance(column, kind) or missing == n)


def _same_edges(column: Any, labelled: Any) -> bool:
    """Whether a regressor's labels (``labelled``, a numeric profile of them), merged into its target's
    ``column``, give what the rebuild would: the column holds no label yet (the merge is then the labels'
    profile, as the rebuild's), or both histograms are on the same edges (the rebuild profiles a bucket's
    labels on the edges its target column has: the model's anchor edges, or else those its first labels
    took). Labels profiled on another bucket's edges (a request over buckets whose targets took edges of
    their own) leave their bucket to the rebuild."""
    if not isinstance(labelled, NumericProfile):
        return False
    if not isinstance(column, NumericProfile) or column.n == column.missing:
        return True  # nothing but missing rows: replaced by the labels' own column
    return (
        column.hist is not None
        and labelled.hist is not None
        and Histogram.same_edges(column.hist.edges, labelled.hist.edges)
    )


def _add_labelled(old: Profile, add: Profile, target: Column) -> None:
    """Give ``old``, which counts ``add``'s rows without labels, the labels ``add`` holds."""
    assert old.task is not None and add.task is not None
    old.task = old.task.merge(add.task.label_part())  # type: ignore[arg-type]
    column = old.columns.get(target.name)
    if column is None:
        return
    labelled = add.columns[target.name]
    assert isinstance(column, (BooleanProfile, CategoricalProfile, NumericProfile))
    assert isinstance(labelled, (BooleanProfile, CategoricalProfile, NumericProfile))
    if type(column) is not type(labelled):  # nothing but missing rows (``_can_add``): the same, of its kind
        missing = column.missing
        column = Profile.empty(Schema((target,)), anchors=old.anchors, options=old.options).columns[
            target.name
        ]
        assert isinstance(column, (BooleanProfile, CategoricalProfile, NumericProfile))
        column.n = column.missing = missing
    # The rows were counted as missing labels; now they are the labels' own rows.
    column.n -= add.n
    column.missing -= add.n
    old.columns[target.name] = column.merge(labelled)  # type: ignore[arg-type]


def _take(profile: Profile, new: Profile, target: Column, with_column: bool) -> None:
    """Give ``profile`` the task of ``new``, and its target's column (the labels' distribution) when the
    profile has one of a known kind (a bucket profiled before the labels fixed the target's kind gets it)."""
    profile.task = new.task
    if with_column and target.kind is not None and target.name in profile.columns:
        profile.columns[target.name] = new.columns[target.name]


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return a is b or (a is not None and b is not None and a.shape == b.shape and bool(np.array_equal(a, b)))


def _narrow(schema: Schema) -> Schema:
    """The schema's columns a task rebuild reads: prediction, scores, segments and target (same task)."""
    keep = (Role.PREDICTION, Role.SCORE, Role.SEGMENT, Role.TARGET)
    return dataclasses.replace(schema, columns=tuple(c for c in schema if c.role in keep))


def _labelled_profiles(
    s: Session,
    model_id: int,
    narrow: Schema,
    target: str,
    events: Sequence[Any],
    live: list[dt.datetime],
    first: Profile,
) -> list[Profile]:
    """Profiles of ``events`` (event id, bucket, batch, row; sorted by bucket) with their labels joined, one
    per bucket of ``live``, anchored and optioned as ``first`` (a live bucket's stored profile) so that they
    merge with the stored ones. Raises what Arrow raises for labels of mixed types."""
    table, groups = _events_table(s, narrow, events, live)
    labels = labels_for(s, model_id, [e for e, _, _, _ in events])
    values = [labels.get(e) for e, _, _, _ in events]
    table = table.append_column(target, pa.array(values, from_pandas=True))
    return profile_groups(
        narrow,
        table,
        groups,
        len(live),
        anchors={c.name: first.anchors[c.name] for c in narrow if c.name in first.anchors},
        segments=[c.name for c in narrow.by_role(Role.SEGMENT)],
        options=first.options,
    )


def _events_table(
    s: Session, narrow: Schema, events: Sequence[Any], live: list[dt.datetime]
) -> tuple[pa.Table, np.ndarray]:
    """The events' prediction, scores and segment values from their batches (each read once), in order,
    and each event's bucket as an index into ``live``."""
    needed = [c.name for c in narrow if c.role is not Role.TARGET]
    wanted = sorted({b for _, _, b, _ in events})
    pieces: dict[int, pa.Table] = {}
    for i in range(0, len(wanted), 100):
        for batch_id, arrow in s.execute(
            select(Batch.id, Batch.arrow).where(Batch.id.in_(wanted[i : i + 100]))
        ):
            t = read_ipc(arrow)
            cols = {c: t.column(c) if c in t.column_names else pa.nulls(t.num_rows) for c in needed}
            pieces[batch_id] = pa.table(cols)
    order = sorted(pieces)
    offsets, start = {}, 0
    for batch_id in order:
        offsets[batch_id] = start
        start += pieces[batch_id].num_rows
    together = pa.concat_tables([pieces[b] for b in order], promote_options="permissive")
    positions = np.fromiter((offsets[b] + r for _, _, b, r in events), dtype=np.int64, count=len(events))
    index = {b: g for g, b in enumerate(live)}
    groups = np.fromiter((index[b] for _, b, _, _ in events), dtype=np.int64, count=len(events))
    return together.take(pa.array(positions)), groups


def labels_for(s: Session, model_id: int, event_ids: list[str]) -> dict[str, Any]:
    """The current label of each event: ground truth first, else the latest reviewer label or correction.

    Read as rows, not ORM objects: a backfill's labels are read back a million at a time."""
    best: dict[str, tuple[int, float, Any]] = {}
    for i in range(0, len(event_ids), AMONG_CHUNK):
        chunk = event_ids[i : i + AMONG_CHUNK]
        for event_id, source, updated_at, value in s.execute(
            select(Feedback.event_id, Feedback.source, Feedback.updated_at, Feedback.value).where(
                Feedback.model_id == model_id,
                among(s, Feedback.event_id, chunk),
                Feedback.kind.in_(("label", "correction")),
            )
        ):
            rank = (0 if source == "ground_truth" else 1, -updated_at.timestamp())
            prev = best.get(event_id)
            if prev is None or rank < prev[:2]:
                best[event_id] = (*rank, value.get("label"))
    return {k: v[2] for k, v in best.items()}
