"""Labels of stored events: the current label of each, and bucket task profiles rebuilt when labels change.

Late labels (feedback after the predictions) rebuild their bucket's task profiles from the stored batches
and the current labels; predictions arriving after their labels are profiled with them (``labels_for``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from loopwise.ingest.buckets import fold, lock_bucket, pack, read_ipc, unpack
from loopwise.ingest.models import model_schema
from loopwise.profiles import Profile
from loopwise.profiles.canonical import canonical
from loopwise.profiles.profile import MISSING_SEGMENT, empty_task, update_task
from loopwise.schema import Column, Role, Schema
from loopwise.store.tables import Batch, BucketPart, Event, Feedback, Model
from loopwise.store.types import utcnow


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
