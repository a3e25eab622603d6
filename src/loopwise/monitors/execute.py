"""Running one window of a monitor: its Suite on the window's merged profile, whole and per segment."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from loopwise.checks import Suite, SuiteResult
from loopwise.errors import LoopwiseError
from loopwise.ingest import NotFoundError, get_reference, window
from loopwise.monitors.late import labels_in
from loopwise.profiles import Profile
from loopwise.store.tables import Model, Monitor

_ORDER = {"pass": 0, "warn": 1, "error": 2, "fail": 3}


@dataclass(frozen=True)
class Outcome:
    """What a run found: ``state`` (``done``, ``empty`` or ``failed``), the overall ``status``, the rows,
    ``results`` (``{"all": SuiteResult dict, "segments": {"col=value": dict}}``) or the ``error``."""

    state: str
    status: str | None = None
    n: int | None = None
    results: dict[str, Any] | None = None
    error: str | None = None
    suites: dict[str, SuiteResult] = field(default_factory=dict, repr=False)
    #: The label changes the window's buckets had counted before it was read (``late.labels_in``).
    labels: int | None = None


def run_window(s: Session, monitor: Monitor, start: dt.datetime, end: dt.datetime) -> Outcome:
    """Run ``monitor``'s suite on the window [start, end) (read-only ``s``)."""
    model = s.get(Model, monitor.model_id)
    assert model is not None  # the monitor's foreign key
    # Counted before the window is read: labels committed in between are in the window and not in the count,
    # so the window is run again once more (never the other way round, which would miss them).
    labels = labels_in(s, model.id, start, end)
    try:
        suite = Suite.from_dict(monitor.suite)
        try:
            cur = window(s, model.name, start, end, cache=False)
        except NotFoundError:
            return Outcome("empty", n=0, labels=labels)
        ref = get_reference(s, model.name, monitor.reference) if monitor.reference else None
        suites = {"": suite.run(cur, ref)}
        for col in monitor.segments or ():
            if col not in cur.segments:
                raise NotFoundError(
                    f"{col!r} is not a segment column of model {model.name!r}'s profiles; "
                    f"segments: {', '.join(cur.segments) or 'none'}"
                )
            for value, part in sorted(cur.segments[col].items()):
                suites[f"{col}={value}"] = suite.run(part, _slice(ref, col, value))
    except LoopwiseError as exc:
        return Outcome("failed", error=str(exc)[:2000])
    status = max((r.status for r in suites.values()), key=lambda st: _ORDER[st])
    results = {
        "all": suites[""].to_dict(),
        "segments": {k: r.to_dict() for k, r in suites.items() if k},
    }
    return Outcome("done", status, cur.n, results, suites=suites, labels=labels)


def _slice(ref: Profile | None, col: str, value: str) -> Profile | None:
    """The reference's rows of the segment when it has them, else the whole reference."""
    if ref is None:
        return None
    return ref.segments.get(col, {}).get(value, ref)
