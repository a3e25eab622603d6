"""What a reviewer is shown of an event: its features, the model's prediction and scores, read from the
event's stored batch (never another reviewer's label: review is blind)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from loopwise.errors import NotFoundError
from loopwise.ingest import model_schema, read_ipc
from loopwise.schema import Role
from loopwise.store.tables import Batch, Event, Model


def plain(value: Any) -> Any:
    """A JSON-ready value: times as ISO text, NaN as None."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def event_rows(s: Session, model: Model, event_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each stored event's logged row, by event id (events not stored are left out)."""
    found = s.execute(
        select(Event.event_id, Event.batch_id, Event.row).where(
            Event.model_id == model.id, Event.event_id.in_(event_ids)
        )
    ).all()
    by_batch: dict[int, list[tuple[str, int]]] = {}
    for e, b, r in found:
        by_batch.setdefault(b, []).append((e, r))
    out: dict[str, dict[str, Any]] = {}
    for b, rows in by_batch.items():
        blob = s.scalar(select(Batch.arrow).where(Batch.id == b))
        if blob is None:
            continue
        table = read_ipc(blob).take(pa.array([r for _, r in rows]))
        for (e, _), rec in zip(rows, table.to_pylist(), strict=True):
            out[e] = rec
    return out


def view(model: Model, row: dict[str, Any]) -> dict[str, Any]:
    """The reviewer's view of a logged row: features (and segments), prediction, scores."""
    schema = model_schema(model)

    def cols(*roles: Role) -> list[str]:
        return [c.name for role in roles for c in schema.by_role(role) if c.name in row]

    pred = cols(Role.PREDICTION)
    return {
        "features": {c: plain(row[c]) for c in cols(Role.FEATURE, Role.SEGMENT)},
        "prediction": plain(row[pred[0]]) if pred else None,
        "scores": {c: plain(row[c]) for c in cols(Role.SCORE)},
    }


def prediction_of(model: Model, row: dict[str, Any]) -> Any:
    pred = [c.name for c in model_schema(model).by_role(Role.PREDICTION)]
    return plain(row.get(pred[0])) if pred else None


def require_event(rows: dict[str, dict[str, Any]], event_id: str) -> dict[str, Any]:
    if event_id not in rows:
        raise NotFoundError(f"no stored prediction with event id {event_id!r}")
    return rows[event_id]
