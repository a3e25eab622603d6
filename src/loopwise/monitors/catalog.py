"""A model's monitors in the database: add (or replace), read, list, delete."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from loopwise.errors import ConflictError, NotFoundError, ParameterError, did_you_mean
from loopwise.ingest import get_model, model_schema
from loopwise.monitors.detect import check_values
from loopwise.monitors.spec import MonitorSpec
from loopwise.monitors.streams import check_stream
from loopwise.schema import Role, Schema
from loopwise.store.tables import Monitor, MonitorRun
from loopwise.store.types import utcnow


@dataclass(frozen=True)
class MonitorInfo:
    """A stored monitor: its spec and where its schedule stands."""

    id: int
    model: str
    spec: MonitorSpec
    anchor: dt.datetime
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    runs: int
    last_window_end: dt.datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.spec.to_dict(),
            "id": self.id,
            "model": self.model,
            "anchor": self.anchor.isoformat(),
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "runs": self.runs,
            "last_window_end": None if self.last_window_end is None else self.last_window_end.isoformat(),
        }


def floor_to(t: dt.datetime, step: int) -> dt.datetime:
    """``t`` floored to a multiple of ``step`` seconds since the Unix epoch (UTC)."""
    epoch = int(t.timestamp())
    return dt.datetime.fromtimestamp(epoch - epoch % step, dt.UTC)


def spec_of(row: Monitor) -> MonitorSpec:
    return MonitorSpec(
        name=row.name,
        suite=dict(row.suite),
        window=row.window_seconds,
        step=row.step_seconds,
        reference=row.reference,
        segments=tuple(row.segments or ()),
        channels=tuple(row.channels or ()),
        renotify=row.renotify_seconds,
        silences=tuple(row.silences or ()),
        detectors=tuple(row.detectors or ()),
        anchor=row.anchor,
        enabled=row.enabled,
    )


def _check_columns(spec: MonitorSpec, schema: Schema, model_name: str) -> None:
    """Refuse a check on a column the model's schema does not have: ingestion refuses such columns, so it
    could only fail every window ("was not compared"), found a window later instead of now."""
    from loopwise.checks import Suite

    names = [c.name for c in schema]
    for i, check in enumerate(Suite.from_dict(spec.suite).checks):
        if check.column is not None and check.column not in names:
            raise ParameterError(
                f"suite.checks[{i}].column",
                check.column,
                f"a column of the schema of model {model_name!r}{did_you_mean(check.column, names)}",
            )


def put_monitor(
    s: Session, model_name: str, spec: MonitorSpec, *, actor: str, replace: bool = False
) -> MonitorInfo:
    """Store a new monitor (a ConflictError if the name is taken, unless ``replace``); replacing keeps its
    runs and incidents, and the next window follows the last one run."""
    model = get_model(s, model_name)
    schema = model_schema(model)
    for i, d in enumerate(spec.detectors):
        if "stream" in d:
            check_stream(schema, d, f"detectors[{i}]")
            check_values(schema, d, spec.name)
    # Profiles are split by the schema's segment columns only: another column would fail every window.
    segment_columns = [c.name for c in schema.by_role(Role.SEGMENT)]
    for col in spec.segments:
        if col not in segment_columns:
            raise ParameterError(
                "segments",
                list(spec.segments),
                f"segment columns of the schema of model {model_name!r} "
                f"({', '.join(segment_columns) or 'it has none'})",
            )
    _check_columns(spec, schema, model_name)
    row = s.scalar(select(Monitor).where(Monitor.model_id == model.id, Monitor.name == spec.name))
    now = utcnow()
    if row is not None and not replace:
        raise ConflictError(
            f"model {model_name!r} already has a monitor named {spec.name!r}; change it with PUT "
            "(SDK: replace=True; CLI: --replace)"
        )
    if row is None:
        if replace:
            raise NotFoundError(
                f"model {model_name!r} has no monitor named {spec.name!r} to replace; declare it first "
                "(CLI: without --replace)"
            )
        row = Monitor(model_id=model.id, name=spec.name, created_by=actor, created_at=now)
        s.add(row)
    row.suite = spec.suite
    row.window_seconds, row.step_seconds = spec.window, spec.step
    if spec.anchor is not None:
        row.anchor = spec.anchor
    elif row.anchor is None:
        row.anchor = floor_to(now, spec.step)
    row.reference = spec.reference
    row.segments, row.channels = list(spec.segments), [dict(c) for c in spec.channels]
    row.detectors = [dict(d) for d in spec.detectors]
    if row.detector_state is None:
        row.detector_state = {}
    row.renotify_seconds, row.enabled, row.updated_at = spec.renotify, spec.enabled, now
    row.silences = [dict(x) for x in spec.silences]
    s.flush()
    return _info(s, model_name, row)


def _row(s: Session, model_name: str, name: str) -> Monitor:
    model = get_model(s, model_name)
    row = s.scalar(select(Monitor).where(Monitor.model_id == model.id, Monitor.name == name))
    if row is None:
        names = list(s.scalars(select(Monitor.name).where(Monitor.model_id == model.id)))
        known = f"its monitors: {', '.join(sorted(names))}" if names else "it has none"
        raise NotFoundError(f"model {model_name!r} has no monitor named {name!r}; {known}")
    return row


def monitor_row(s: Session, model_name: str, name: str) -> Monitor:
    """The monitor's row (a NotFoundError naming the model's monitors if there is none)."""
    return _row(s, model_name, name)


def _info(s: Session, model_name: str, row: Monitor) -> MonitorInfo:
    count, last = s.execute(
        select(func.count(MonitorRun.id), func.max(MonitorRun.window_end)).where(
            MonitorRun.monitor_id == row.id
        )
    ).one()
    return MonitorInfo(
        row.id,
        model_name,
        spec_of(row),
        row.anchor,
        row.created_by,
        row.created_at,
        row.updated_at,
        int(count),
        last,
    )


def get_monitor(s: Session, model_name: str, name: str) -> MonitorInfo:
    return _info(s, model_name, _row(s, model_name, name))


def list_monitors(s: Session, model_name: str) -> list[MonitorInfo]:
    model = get_model(s, model_name)
    rows = s.scalars(select(Monitor).where(Monitor.model_id == model.id).order_by(Monitor.name))
    return [_info(s, model_name, r) for r in rows]


def delete_monitor(s: Session, model_name: str, name: str) -> None:
    """Delete the monitor with its runs, incidents and delivery log (the database cascades)."""
    row = _row(s, model_name, name)
    s.execute(delete(MonitorRun).where(MonitorRun.monitor_id == row.id))
    s.delete(row)
