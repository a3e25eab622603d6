"""Late labels: the task profiles (and the target's column) of the buckets whose events got labels, rebuilt.

A bucket's task profile is rebuilt from its events' predictions, scores and segment values (read from their
batches) and the current labels, in the feedback's transaction; the other column profiles are untouched (a
late label does not change the inputs' distributions). Labels for a backfill touch thousands of buckets, so
the buckets are rebuilt ``TOGETHER`` at a time: one query for their events, one read of each batch blob
(a 5,000-row batch was decompressed once per bucket it spans), one query for the labels, and the profiles of
every bucket and segment built at once (``profiles.grouped``), where each bucket cost all of that alone
(decision 0021). Labels of mixed types, or a target column that cannot hold them, take the old way, bucket
by bucket (``rebuild_tasks``), which reads them as text or leaves the column as it was.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from loopwise.ingest.buckets import fold, lock_bucket, pack, read_ipc, unpack
from loopwise.ingest.models import model_schema
from loopwise.ingest.predictions import rebuild_tasks
from loopwise.profiles import Profile
from loopwise.profiles.grouped import profile_groups
from loopwise.profiles.profile import empty_task
from loopwise.schema import Column, Kind, Role, Schema
from loopwise.store.tables import Batch, BucketPart, Event, Feedback, Model
from loopwise.store.types import utcnow

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
        table, groups = _events_table(s, narrow, events, live)
        labels = current_labels(s, model.id, [e for e, _, _, _ in events])
        values = [labels.get(e) for e, _, _, _ in events]
        table = table.append_column(target.name, pa.array(values, from_pandas=True))
        first = profiles[live[0]]
        anchors = {c.name: first.anchors[c.name] for c in narrow if c.name in first.anchors}
        fresh = profile_groups(
            narrow,
            table,
            groups,
            len(live),
            anchors=anchors,
            segments=[c.name for c in narrow.by_role(Role.SEGMENT)],
            options=first.options,
        )
    except (pa.ArrowException, ValueError, TypeError):
        # Labels of mixed JSON types, or of a type the target's column cannot hold: bucket by bucket, as
        # before, which reads them as text or leaves that column as it was.
        rebuild_tasks(s, model, {(version, b) for b in live})
        return
    numeric_target = target.kind is Kind.NUMERIC
    for g, b in enumerate(live):
        profile, new = profiles[b], fresh[g]
        same_edges = not numeric_target or _same(profile.anchors.get(target.name), anchors.get(target.name))
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


def current_labels(s: Session, model_id: int, event_ids: list[str]) -> dict[str, Any]:
    """The current label of each event: ground truth first, else the latest reviewer label or correction.

    The same answer as ``labels_for``, read as rows rather than ORM objects (a backfill's labels are read back
    a million at a time)."""
    best: dict[str, tuple[int, float, Any]] = {}
    for i in range(0, len(event_ids), 500):
        chunk = event_ids[i : i + 500]
        for event_id, source, updated_at, value in s.execute(
            select(Feedback.event_id, Feedback.source, Feedback.updated_at, Feedback.value).where(
                Feedback.model_id == model_id,
                Feedback.event_id.in_(chunk),
                Feedback.kind.in_(("label", "correction")),
            )
        ):
            rank = (0 if source == "ground_truth" else 1, -updated_at.timestamp())
            prev = best.get(event_id)
            if prev is None or rank < prev[:2]:
                best[event_id] = (*rank, value.get("label"))
    return {k: v[2] for k, v in best.items()}
