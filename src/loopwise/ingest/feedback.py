"""Feedback: ground truth, reviewers' labels and corrections, ratings and comments, joined by event id.

Feedback may arrive before or long after its prediction. Setting a label again for the same (event,
source, kind) replaces it, and the replacement is in the audit log. The profiles of the buckets whose
events received a label get their task profiles rebuilt from the event index in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from typing import Any

import pyarrow as pa
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from loopwise.errors import SchemaValidationError
from loopwise.ingest.collector import gc_paused
from loopwise.ingest.labels import add_first_labels, count_label_changes, relabel
from loopwise.ingest.models import fix_kinds, get_model, kinds_in, model_schema
from loopwise.schema import Role, Schema
from loopwise.schema.validate import ValidationIssue
from loopwise.store import label_parts
from loopwise.store.audit import append_many
from loopwise.store.bulk import AMONG_CHUNK, among
from loopwise.store.tables import Event, Feedback
from loopwise.store.types import utcnow

KINDS = ("label", "correction", "rating", "comment")
#: The kinds that are labels: kept column-wise too (``store.label_parts``).
LABEL_KINDS = ("label", "correction")
FIELDS = {"event_id", "kind", "source", "label", "rating", "comment"}


def _check(records: list[dict[str, Any]], max_rows: int) -> list[dict[str, Any]]:
    issues: list[ValidationIssue] = []
    if not records:
        issues.append(ValidationIssue(None, "empty", "no feedback records"))
    if len(records) > max_rows:
        issues.append(
            ValidationIssue(None, "too_many_rows", f"{len(records)} records; the limit is {max_rows}")
        )
    seen: set[tuple[str, str, str]] = set()
    out = []
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            issues.append(ValidationIssue(None, "wrong_type", "each record must be an object", (i,), 1))
            continue
        unknown = sorted(set(r) - FIELDS)
        if unknown:
            issues.append(
                ValidationIssue(
                    ", ".join(unknown),
                    "unknown_column",
                    f"unknown field(s); valid: {', '.join(sorted(FIELDS))}",
                    (i,),
                    1,
                )
            )
        eid = r.get("event_id")
        if not isinstance(eid, (str, int)) or isinstance(eid, bool) or eid == "":
            issues.append(ValidationIssue("event_id", "missing", "every record needs an event_id", (i,), 1))
            continue
        kind = r.get("kind", "label")
        if kind not in KINDS:
            issues.append(
                ValidationIssue("kind", "wrong_value", f"kind must be one of {', '.join(KINDS)}", (i,), 1)
            )
            continue
        source = r.get("source", "ground_truth")
        if not isinstance(source, str) or not source or len(source) > 200:
            issues.append(
                ValidationIssue("source", "wrong_value", "source must be a non-empty string", (i,), 1)
            )
            continue
        field = {"label": "label", "correction": "label", "rating": "rating", "comment": "comment"}[kind]
        value = r.get(field)
        if (
            value is None
            or (isinstance(value, float) and not math.isfinite(value))
            or isinstance(value, (dict, list))
        ):
            issues.append(
                ValidationIssue(field, "missing", f"a {kind} needs a finite scalar '{field}'", (i,), 1)
            )
            continue
        key = (str(eid), source, kind)
        if key in seen:
            issues.append(
                ValidationIssue("event_id", "duplicate_id", "the same event, source and kind twice", (i,), 1)
            )
        seen.add(key)
        out.append({"event_id": str(eid), "kind": kind, "source": source, "value": {field: value}})
    if issues:
        raise SchemaValidationError(issues, refused=True)
    return out


@gc_paused
def log_feedback(
    s: Session, model_name: str, records: list[dict[str, Any]], actor: str, max_rows: int = 100_000
) -> dict[str, Any]:
    """Store feedback; returns {stored, replaced, joined} (joined: its prediction is already stored)."""
    model = get_model(s, model_name)
    rows = _check(records, max_rows)
    _fix_target_kind(s, model_name, model_schema(model), rows, actor)
    ids = sorted({r["event_id"] for r in rows})
    existing: dict[tuple[str, str, str], tuple[int, dict[str, Any]]] = {}
    events: dict[str, tuple[str, Any]] = {}
    for i in range(0, len(ids), AMONG_CHUNK):
        chunk = ids[i : i + AMONG_CHUNK]
        # Core rows, not ORM objects: a backfill's 5,000 labels per request spent a third of their time
        # building, tracking and flushing one object each (decision 0021).
        for fid, e, source, kind, value in s.execute(
            select(Feedback.id, Feedback.event_id, Feedback.source, Feedback.kind, Feedback.value).where(
                Feedback.model_id == model.id, among(s, Feedback.event_id, chunk)
            )
        ):
            existing[(e, source, kind)] = (fid, value)
        for e, v, b in s.execute(
            select(Event.event_id, Event.version, Event.bucket).where(
                Event.model_id == model.id, among(s, Event.event_id, chunk)
            )
        ):
            events[e] = (v, b)
    now = utcnow()
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    changed_rows: list[dict[str, Any]] = []
    audit: list[dict[str, Any]] = []
    for r in rows:
        prev = existing.get((r["event_id"], r["source"], r["kind"]))
        if prev is None:
            new.append(
                {
                    "model_id": model.id,
                    "event_id": r["event_id"],
                    "source": r["source"],
                    "kind": r["kind"],
                    "value": r["value"],
                    "created_at": now,
                    "updated_at": now,
                }
            )
        elif prev[1] != r["value"]:
            audit.append(
                {
                    "event_id": r["event_id"],
                    "source": r["source"],
                    "kind": r["kind"],
                    "old": prev[1],
                    "new": r["value"],
                }
            )
            changed.append({"id": prev[0], "value": r["value"], "updated_at": now})
            changed_rows.append(r)
    if new:
        s.execute(insert(Feedback), new)
    if changed:
        s.execute(update(Feedback), changed)  # by primary key, one executemany
    written = [
        (r["event_id"], delta, r["value"])
        for r, delta in [*((r, 1) for r in new), *((r, 0) for r in changed_rows)]
        if r["kind"] in LABEL_KINDS
    ]
    if written:
        label_parts.append(s, model.id, label_parts.entries(*zip(*written, strict=True)))
    append_many(s, model.id, actor, "feedback.replace", audit, at=now)
    stored, replaced = len(new), len(changed)
    touched, first = _touched(rows, existing, events)
    relabelled = touched | set(first)
    touched |= add_first_labels(s, model, {k: v for k, v in first.items() if k not in touched})
    if touched:
        relabel(s, model, touched)
    count_label_changes(s, model.id, relabelled)
    joined = sum(1 for r in rows if r["event_id"] in events)
    return {"stored": stored, "replaced": replaced, "joined": joined}


def _touched(
    rows: list[dict[str, Any]],
    existing: dict[tuple[str, str, str], tuple[int, dict[str, Any]]],
    events: dict[str, tuple[str, Any]],
) -> tuple[set[tuple[str, dt.datetime]], dict[tuple[str, dt.datetime], list[str]]]:
    """The (version, bucket)s to rebuild, and the first labels of events per (version, bucket) to add.

    A label sent again unchanged (a retried request) changes nothing: its bucket already counts it. A first
    label (the event had none, and the request holds one) is added to its bucket; a label replacing or
    joining another one rebuilds the bucket from all the labels its events hold."""
    labels = [r for r in rows if r["kind"] in ("label", "correction") and r["event_id"] in events]
    had = {e for e, _, kind in existing if kind in ("label", "correction")}
    per_event = Counter(r["event_id"] for r in labels)
    touched: set[tuple[str, dt.datetime]] = set()
    first: dict[tuple[str, dt.datetime], list[str]] = defaultdict(list)
    for r in labels:
        e = r["event_id"]
        prev = existing.get((e, r["source"], r["kind"]))
        if prev is not None and prev[1] == r["value"]:
            continue
        if prev is None and e not in had and per_event[e] == 1:
            first[events[e]].append(e)
        else:
            touched.add(events[e])
    return touched, first


def _fix_target_kind(s: Session, name: str, schema: Schema, rows: list[dict[str, Any]], actor: str) -> None:
    """The first labels fix the target's kind when the schema left it open (see ``fix_kinds``)."""
    open_targets = [c.name for c in schema.by_role(Role.TARGET) if c.kind is None]
    if not open_targets:
        return
    labels = [r["value"]["label"] for r in rows if r["kind"] in ("label", "correction")]
    if not labels:
        return
    try:
        values = pa.array(labels)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return  # mixed types (say 1 and "yes"): nothing sure to fix yet
    table = pa.table({open_targets[0]: values})
    found = kinds_in(table, schema, open_targets)
    if found:
        fix_kinds(s, name, found, "the first labels", actor)


def retract_feedback(
    s: Session, model_name: str, keys: list[tuple[str, str, str]], actor: str, reason: str
) -> int:
    """Remove feedback rows, each named by (event id, source, kind), and rebuild the task profiles of the
    buckets whose events lose a label; each removal is in the audit log. Returns how many were removed.

    Review uses it when a reviewer's labels turn suspect (decision 0036): they leave performance and
    training sets until an adjudicator clears them, which stores them again through ``log_feedback``."""
    model = get_model(s, model_name)
    removed: list[tuple[int, str, str, str, dict[str, Any]]] = []
    for event_id, source, kind in keys:
        found = s.execute(
            select(Feedback.id, Feedback.value).where(
                Feedback.model_id == model.id,
                Feedback.event_id == event_id,
                Feedback.source == source,
                Feedback.kind == kind,
            )
        ).first()
        if found is not None:
            removed.append((found[0], event_id, source, kind, found[1]))
    if not removed:
        return 0
    s.execute(delete(Feedback).where(Feedback.id.in_([r[0] for r in removed])))
    gone = [e for _, e, _, k, _ in removed if k in LABEL_KINDS]
    label_parts.append(s, model.id, label_parts.entries(gone, [-1] * len(gone), [None] * len(gone)))
    details = [
        {"event_id": e, "source": src, "kind": k, "old": v, "reason": reason} for _, e, src, k, v in removed
    ]
    append_many(s, model.id, actor, "feedback.retract", details)
    labelled = sorted({e for _, e, _, k, _ in removed if k in ("label", "correction")})
    touched = {
        (v, b)
        for v, b in s.execute(
            select(Event.version, Event.bucket).where(
                Event.model_id == model.id, Event.event_id.in_(labelled)
            )
        )
    }
    if touched:
        relabel(s, model, touched)
        count_label_changes(s, model.id, touched)
    return len(removed)
