"""``review/export``: the queue as one Parquet file for analysis outside loopwise: one row per task and
reviewer (a task nobody answered yet has one row, its reviewer empty), with the task's selector, inclusion
probability and fill window (what the estimates weight by), its state and resolved label, and each
reviewer's label, comment, gold outcome and whether it is suspect.

Labels and predictions are stored as JSON values of any kind (a boolean, a number, text), so they are
exported as JSON text: ``json.loads`` gives each value back. Gold tasks are included with their known
answer (``gold`` true): the export is for maintainers, never for reviewers (decision 0036).
"""

from __future__ import annotations

import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session

from loopwise.ingest import get_model
from loopwise.store.tables import ReviewFill, ReviewLabel, ReviewTask

#: The export's columns and their Arrow types, in order.
COLUMNS: dict[str, pa.DataType] = {
    "task_id": pa.string(),
    "event_id": pa.string(),
    "position": pa.int64(),
    "fill_id": pa.int64(),
    "fill_start": pa.timestamp("us", tz="UTC"),
    "fill_end": pa.timestamp("us", tz="UTC"),
    "selector": pa.string(),
    "inclusion_probability": pa.float64(),
    "selector_probability": pa.float64(),
    "needed": pa.int64(),
    "state": pa.string(),
    "gold": pa.bool_(),
    "prediction": pa.string(),
    "gold_label": pa.string(),
    "resolved_label": pa.string(),
    "resolved_by": pa.string(),
    "reviewer": pa.string(),
    "label_state": pa.string(),
    "label": pa.string(),
    "comment": pa.string(),
    "correct": pa.bool_(),
    "suspect": pa.bool_(),
    "assigned_at": pa.timestamp("us", tz="UTC"),
    "submitted_at": pa.timestamp("us", tz="UTC"),
}


def _json(value: Any, key: str | None = "label") -> str | None:
    if value is None:
        return None
    if key is not None:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return json.dumps(value, sort_keys=True)


def review_table(s: Session, model_name: str) -> pa.Table:
    """The model's tasks and labels, in queue order (then by when each reviewer took the task)."""
    model = get_model(s, model_name)
    fills = {
        f.id: (f.start, f.end) for f in s.scalars(select(ReviewFill).where(ReviewFill.model_id == model.id))
    }
    labels: dict[str, list[ReviewLabel]] = {}
    for x in s.scalars(
        select(ReviewLabel).where(ReviewLabel.model_id == model.id).order_by(ReviewLabel.assigned_at)
    ):
        labels.setdefault(x.task_id, []).append(x)
    rows: list[dict[str, Any]] = []
    for t in s.scalars(
        select(ReviewTask).where(ReviewTask.model_id == model.id).order_by(ReviewTask.position)
    ):
        window = fills.get(t.fill_id) if t.fill_id is not None else None
        task = {
            "task_id": t.id,
            "event_id": t.event_id,
            "position": int(t.position),
            "fill_id": t.fill_id,
            "fill_start": window[0] if window else None,
            "fill_end": window[1] if window else None,
            "selector": t.selector,
            "inclusion_probability": t.inclusion_probability,
            "selector_probability": t.selector_probability,
            "needed": int(t.needed),
            "state": t.state,
            "gold": t.gold_label is not None,
            "prediction": _json(t.prediction, None),
            "gold_label": _json(t.gold_label),
            "resolved_label": _json(t.label),
            "resolved_by": t.resolved_by,
        }
        for x in labels.get(t.id) or [None]:  # type: ignore[list-item]
            rows.append(
                {
                    **task,
                    "reviewer": x.reviewer if x else None,
                    "label_state": x.state if x else None,
                    "label": _json(x.label) if x else None,
                    "comment": x.comment if x else None,
                    "correct": x.correct if x else None,
                    "suspect": bool(x.suspect) if x else None,
                    "assigned_at": x.assigned_at if x else None,
                    "submitted_at": x.submitted_at if x else None,
                }
            )
    schema = pa.schema(list(COLUMNS.items()))
    return pa.Table.from_pylist(rows, schema=schema)


def export_review(s: Session, model_name: str) -> bytes:
    """``review_table`` as Parquet (zstd)."""
    buf = io.BytesIO()
    pq.write_table(review_table(s, model_name), buf, compression="zstd")
    return buf.getvalue()
