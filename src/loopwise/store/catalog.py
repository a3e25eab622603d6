"""What the database holds per model, read for listings and for Prometheus: registered models with their
prediction counts, the versions a model has stored, and each model's traffic figures."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, union
from sqlalchemy.orm import Session

from loopwise.errors import NotFoundError
from loopwise.store.tables import BucketPart, BucketProfile, Event, Feedback, Model


@dataclass(frozen=True)
class ModelSummary:
    """A registered model as the API describes it."""

    name: str
    schema: dict[str, Any]
    created_at: dt.datetime
    predictions: int


def _summary(s: Session, m: Model) -> ModelSummary:
    n = s.scalar(select(func.count()).select_from(Event).where(Event.model_id == m.id)) or 0
    return ModelSummary(m.name, dict(m.schema_json), m.created_at, int(n))


def model_exists(s: Session, name: str) -> bool:
    """Whether a model named ``name`` is registered."""
    return s.scalar(select(Model.id).where(Model.name == name)) is not None


def model_summary(s: Session, name: str) -> ModelSummary:
    """The model named ``name`` with its prediction count (NotFoundError if none)."""
    m = s.scalar(select(Model).where(Model.name == name))
    if m is None:
        raise NotFoundError(f"no model named {name!r}")
    return _summary(s, m)


def model_summaries(s: Session, only_id: int | None = None) -> list[ModelSummary]:
    """Every registered model by name (only the one of id ``only_id`` for a key limited to it)."""
    q = select(Model).order_by(Model.name)
    if only_id is not None:
        q = q.where(Model.id == only_id)
    return [_summary(s, m) for m in s.scalars(q)]


def stored_versions(s: Session, model_id: int) -> set[str]:
    """The versions the model's profiles hold, folded or not yet."""
    q = union(
        select(BucketProfile.version).where(BucketProfile.model_id == model_id),
        select(BucketPart.version).where(BucketPart.model_id == model_id),
    )
    return {str(v) for v in s.scalars(q)}


@dataclass
class Traffic:
    """Every model's figures for a Prometheus scrape, labelled by model name (and version)."""

    predictions: dict[tuple[str, str], int] = field(default_factory=dict)
    feedback: dict[str, int] = field(default_factory=dict)
    label_delay_seconds: dict[str, float] = field(default_factory=dict)
    #: Latencies of the last hour of traffic (before the newest event), sorted, by (model, version).
    latencies_ms: dict[tuple[str, str], list[float]] = field(default_factory=dict)


def traffic(s: Session, max_pairs: int = 100_000, max_latencies: int = 200_000) -> Traffic:
    """Predictions per model and version, feedback per model, the mean delay from a prediction to its label
    (over at most ``max_pairs`` labels) and the last hour's latencies (at most ``max_latencies``)."""
    out = Traffic()
    names = dict(s.execute(select(Model.id, Model.name)).all())
    for mid, version, n in s.execute(
        select(Event.model_id, Event.version, func.count()).group_by(Event.model_id, Event.version)
    ):
        out.predictions[(names[mid], version)] = n
    for mid, n in s.execute(select(Feedback.model_id, func.count()).group_by(Feedback.model_id)):
        out.feedback[names[mid]] = n
    pairs = s.execute(
        select(Feedback.model_id, Feedback.created_at, Event.ts)
        .join(Event, (Event.model_id == Feedback.model_id) & (Event.event_id == Feedback.event_id))
        .where(Feedback.kind.in_(("label", "correction")))
        .limit(max_pairs)
    ).all()
    delays: dict[int, list[float]] = {}
    for mid, got, ts in pairs:
        delays.setdefault(mid, []).append((got - ts).total_seconds())
    for mid, values in delays.items():
        out.label_delay_seconds[names[mid]] = sum(values) / len(values)
    newest = s.scalar(select(func.max(Event.ts)))
    if newest is not None:
        rows = s.execute(
            select(Event.model_id, Event.version, Event.latency_ms)
            .where(Event.ts >= newest - dt.timedelta(hours=1), Event.latency_ms.is_not(None))
            .limit(max_latencies)
        )
        for mid, version, v in rows:
            if v is None:
                continue
            out.latencies_ms.setdefault((names[mid], version), []).append(float(v))
        for values in out.latencies_ms.values():
            values.sort()
    return out
