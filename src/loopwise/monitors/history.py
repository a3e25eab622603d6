"""A monitor's history: its runs, one run with its results, and each check's time series for charts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loopwise.checks import current_title
from loopwise.errors import NotFoundError
from loopwise.monitors.catalog import monitor_row
from loopwise.store.tables import MonitorRun

#: Most runs one history answer lists.
MAX_RUNS = 1000


def run_dict(r: MonitorRun, *, results: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": r.id,
        "window_start": r.window_start.isoformat(),
        "window_end": r.window_end.isoformat(),
        "state": r.state,
        "status": r.status,
        "n": r.n,
        "attempts": r.attempts,
        "labels": r.labels,
        "superseded": list(r.superseded or []),
        "error": r.error,
        "finished_at": None if r.finished_at is None else r.finished_at.isoformat(),
    }
    if r.result is not None:
        out["counts"] = r.result["all"].get("counts")
        out["failed"] = failed_checks(r.result)
        out["errors"] = errored_checks(r.result)
        if results:
            out["result"] = r.result
    return out


def failed_checks(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The failing and warning checks of a run's results, whole and per segment."""
    out = []
    parts = [("", result["all"]), *sorted(result.get("segments", {}).items())] if "all" in result else []
    for segment, suite in parts:
        for c in suite["checks"]:
            if c["status"] in ("fail", "warn"):
                out.append(
                    {
                        "check": current_title(c["name"]),
                        "segment": segment,
                        "status": c["status"],
                        "actual": c.get("actual"),
                        "condition": c.get("condition", ""),
                    }
                )
    for name, d in sorted((result.get("detectors") or {}).items()):
        if d["detected"]:
            out.append(
                {
                    "check": f"detector:{name}",
                    "segment": "",
                    "status": "fail",
                    "actual": d["after"] if d.get("after") is not None else d["value"],
                    "condition": d.get("message")
                    or f"change began in the window ending {d['change_window_end']}",
                }
            )
    return out


def errored_checks(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The checks of a run that could not be computed (status ``error``), whole and per segment, with why:
    what turns a run's status to ``error`` though nothing failed."""
    out = []
    parts = [("", result["all"]), *sorted(result.get("segments", {}).items())] if "all" in result else []
    for segment, suite in parts:
        for c in suite["checks"]:
            if c["status"] == "error":
                out.append(
                    {"check": current_title(c["name"]), "segment": segment, "reason": c.get("reason") or ""}
                )
    return out


def runs(
    s: Session,
    model_name: str,
    name: str,
    limit: int = 100,
    *,
    statuses: tuple[str, ...] = (),
    before: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """The monitor's runs, newest window first (only those of ``statuses`` when given; only windows ending
    before ``before`` when given: the next page)."""
    row = monitor_row(s, model_name, name)
    q = (
        select(MonitorRun)
        .where(MonitorRun.monitor_id == row.id)
        .order_by(MonitorRun.window_end.desc())
        .limit(max(1, min(limit, MAX_RUNS)))
    )
    if statuses:
        q = q.where(MonitorRun.status.in_(statuses))
    if before is not None:
        q = q.where(MonitorRun.window_end < before)
    return [run_dict(r) for r in s.scalars(q)]


def get_run(s: Session, model_name: str, name: str, run_id: int) -> dict[str, Any]:
    row = monitor_row(s, model_name, name)
    r = s.get(MonitorRun, run_id)
    if r is None or r.monitor_id != row.id:
        raise NotFoundError(f"monitor {name!r} of model {model_name!r} has no run {run_id}")
    return run_dict(r, results=True)


def check_series(s: Session, model_name: str, name: str, limit: int = MAX_RUNS) -> dict[str, Any]:
    """Per check (and segment), the points ``(window_end, value, threshold, status)`` in window order; a
    detector's as ``detector:NAME``: the value it saw in the window (the watched check's, the stream's mean;
    on a detection, the level after the change; None for a group of columns without one), fail on a
    detection, pass otherwise."""
    row = monitor_row(s, model_name, name)
    kinds = {d["name"]: d for d in row.detectors or ()}
    q = (
        select(MonitorRun.window_end, MonitorRun.result)
        .where(MonitorRun.monitor_id == row.id, MonitorRun.state == "done")
        .order_by(MonitorRun.window_end.desc())
        .limit(max(1, min(limit, MAX_RUNS)))
    )
    series: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for end, result in reversed(list(s.execute(q))):
        parts = [("", result["all"]), *sorted(result.get("segments", {}).items())]
        for segment, suite in parts:
            for c in suite["checks"]:
                series.setdefault((current_title(c["name"]), segment), []).append(
                    {
                        "window_end": end.isoformat(),
                        "value": c.get("actual"),
                        "threshold": c.get("condition", ""),
                        "status": c["status"],
                    }
                )
        for det, d in sorted((result.get("detectors") or {}).items()):
            spec = kinds.get(det, {})
            on = spec.get("watch") or d.get("what") or spec.get("stream", "")
            value = d.get("after") if d["detected"] and d.get("after") is not None else d.get("value")
            series.setdefault((f"detector:{det}", ""), []).append(
                {
                    "window_end": end.isoformat(),
                    "value": value,
                    "threshold": f"{spec.get('kind', 'detector')} on {on}",
                    "status": "fail" if d["detected"] else "pass",
                }
            )
    return {
        "model": model_name,
        "monitor": name,
        "checks": [{"check": k[0], "segment": k[1], "points": v} for k, v in sorted(series.items())],
    }


#: A check's status as a number, for a Prometheus gauge (an alert rule compares it with 2: fail).
STATUS_CODES = {"pass": 0, "warn": 1, "fail": 2, "error": 3}


def latest_statuses(s: Session) -> list[dict[str, Any]]:
    """Per enabled monitor, its latest window that ran: each check's status and value, whole and per
    segment (what ``/metrics`` exports)."""
    from sqlalchemy import func

    from loopwise.store.tables import Model, Monitor

    last = (
        select(MonitorRun.monitor_id, func.max(MonitorRun.window_end).label("end"))
        .where(MonitorRun.state == "done")
        .group_by(MonitorRun.monitor_id)
        .subquery()
    )
    q = (
        select(Model.name, Monitor.name, MonitorRun.window_end, MonitorRun.result)
        .join(Monitor, Monitor.model_id == Model.id)
        .join(last, last.c.monitor_id == Monitor.id)
        .join(MonitorRun, (MonitorRun.monitor_id == Monitor.id) & (MonitorRun.window_end == last.c.end))
        .where(Monitor.enabled.is_(True))
    )
    out = []
    for model, monitor, end, result in s.execute(q):
        parts = [("", result["all"]), *sorted(result.get("segments", {}).items())]
        for segment, suite in parts:
            for c in suite["checks"]:
                out.append(
                    {
                        "model": model,
                        "monitor": monitor,
                        "check": current_title(c["name"]),
                        "segment": segment,
                        "status": c["status"],
                        "value": c.get("actual"),
                        "window_end": end,
                    }
                )
    return out
