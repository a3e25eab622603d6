"""Incidents: one per failing check of a monitor (and segment), opened once, updated while the check keeps
failing, resolved when it passes; each change that people should hear of queues deliveries, one per
channel whose severities include the check's (decision 0035)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loopwise.alerts.messages import RunContext, build
from loopwise.checks import current_title
from loopwise.store.tables import AlertDelivery, Incident, MonitorRun
from loopwise.store.types import utcnow


@dataclass(frozen=True)
class CheckState:
    """One check's outcome in one run, as the incidents need it."""

    check: str
    segment: str
    status: str
    actual: float | None = None
    condition: str = ""
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def incident_dict(row: Incident) -> dict[str, Any]:
    return {
        "id": row.id,
        "check": current_title(row.check_name),
        "segment": row.segment,
        "state": row.state,
        "severity": row.severity,
        "failures": row.failures,
        "last_value": row.last_value,
        "condition": row.condition,
        "opened_run_id": row.opened_run_id,
        "last_run_id": row.last_run_id,
        "opened_at": row.opened_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "notified_at": None if row.notified_at is None else row.notified_at.isoformat(),
        "resolved_at": None if row.resolved_at is None else row.resolved_at.isoformat(),
    }


def apply_run(
    s: Session,
    monitor_id: int,
    checks: list[CheckState],
    channels: list[dict[str, Any]],
    ctx: RunContext,
    *,
    renotify: int | None = None,
    silences: list[dict[str, Any]] | None = None,
    now: dt.datetime | None = None,
) -> list[int]:
    """Apply one run's check outcomes to the monitor's incidents; the ids of the deliveries queued. A delivery
    that a silence covers is logged as ``silenced`` and never sent."""
    now = now or utcnow()
    open_rows = {
        (current_title(r.check_name), r.segment): r
        for r in s.scalars(
            select(Incident)
            .where(Incident.monitor_id == monitor_id, Incident.state == "open")
            .with_for_update()
        )
    }
    failing = [c.to_dict() for c in checks if c.status in ("fail", "warn")]
    queued: list[tuple[str, Incident, CheckState]] = []
    for c in checks:
        row = open_rows.get((current_title(c.check), c.segment))
        if c.status in ("fail", "warn"):
            if row is None:
                row = Incident(
                    monitor_id=monitor_id,
                    check_name=c.check[:500],
                    segment=c.segment[:500],
                    state="open",
                    severity=c.status,
                    opened_run_id=ctx.run_id,
                    last_run_id=ctx.run_id,
                    failures=1,
                    last_value=c.actual,
                    condition=c.condition[:500],
                    opened_at=now,
                    updated_at=now,
                    notified_at=now,
                )
                s.add(row)
                open_rows[(current_title(c.check), c.segment)] = row
                queued.append(("opened", row, c))
                continue
            row.failures += 1
            row.last_run_id, row.last_value, row.updated_at = ctx.run_id, c.actual, now
            if c.status == "fail":
                row.severity = "fail"
            due = row.notified_at is None or now - row.notified_at >= dt.timedelta(seconds=renotify or 0)
            if renotify and due:
                row.notified_at = now
                queued.append(("reminder", row, c))
        elif c.status == "pass" and row is not None:
            row.state, row.resolved_at, row.updated_at = "resolved", now, now
            row.last_run_id, row.last_value = ctx.run_id, c.actual
            queued.append(("resolved", row, c))
        # ``error`` (not computable) neither opens nor resolves: nothing is known about the check.
    s.flush()
    ids = []
    for event, row, c in queued:
        first = s.get(MonitorRun, row.opened_run_id) if event == "resolved" else None
        since = None if first is None else first.window_start.isoformat()
        message = build(event, incident_dict(row), c.to_dict(), ctx, failing, since=since)
        for ch in channels:
            if row.severity not in ch.get("severity", ("fail", "warn")):
                continue
            d = AlertDelivery(
                incident_id=row.id,
                channel=ch["name"],
                event=event,
                state="silenced" if silenced(silences or [], c, now) else "pending",
                attempts=0,
                next_attempt_at=now,
                message={**message, "channel": ch},
                created_at=now,
            )
            s.add(d)
            s.flush()
            ids.append(d.id)
    return ids


def silenced(silences: list[dict[str, Any]], c: CheckState, now: dt.datetime) -> bool:
    """Whether a silence covers check ``c`` at ``now`` (no ``check``/``segment`` in a silence: all)."""
    for x in silences:
        if dt.datetime.fromisoformat(x["until"]) <= now:
            continue
        if (x.get("check") is not None and current_title(x["check"]) != c.check) or x.get("segment") not in (
            None,
            c.segment,
        ):
            continue
        return True
    return False


def incidents(s: Session, monitor_id: int, state: str | None = None) -> list[dict[str, Any]]:
    """The monitor's incidents, newest first, each with the window it opened in (``opened_window``: its
    ``start`` and ``end``) and, once resolved, the window that resolved it (``resolved_window``)."""
    q = select(Incident).where(Incident.monitor_id == monitor_id)
    if state is not None:
        q = q.where(Incident.state == state)
    rows = list(s.scalars(q.order_by(Incident.id.desc()).limit(1000)))
    ids = {r.opened_run_id for r in rows} | {r.last_run_id for r in rows if r.state == "resolved"}
    windows = {
        rid: {"start": start.isoformat(), "end": end.isoformat()}
        for rid, start, end in s.execute(
            select(MonitorRun.id, MonitorRun.window_start, MonitorRun.window_end).where(
                MonitorRun.id.in_(ids)
            )
        )
    }
    return [
        {
            **incident_dict(r),
            "opened_window": windows.get(r.opened_run_id),
            "resolved_window": windows.get(r.last_run_id) if r.state == "resolved" else None,
        }
        for r in rows
    ]
