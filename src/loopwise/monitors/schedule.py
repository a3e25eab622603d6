"""Due windows and who runs them (decision 0035).

``enqueue_due`` adds each due window of each enabled monitor as a ``pending`` run, once: the runs are unique
per (monitor, window end) and inserted with ON CONFLICT DO NOTHING, so processes doing it together store one
row each. ``claim`` takes runs with a lease: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a conditional UPDATE
on SQLite; ``finish`` stores a run's outcome only while its claimer still holds the lease.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from loopwise.store.engine import insert_ignore_many
from loopwise.store.tables import Monitor, MonitorRun
from loopwise.store.types import utcnow

#: Most windows added per monitor per pass (the rest come in the next passes, oldest first).
CATCH_UP = 100
#: How long a claim holds a run before another process may take it over.
LEASE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Claim:
    """A run this process holds: which monitor, which window, until when."""

    run_id: int
    monitor_id: int
    window_start: dt.datetime
    window_end: dt.datetime
    owner: str
    attempts: int


def due_ends(
    anchor: dt.datetime, step: int, last: dt.datetime | None, now: dt.datetime, limit: int
) -> list[dt.datetime]:
    """The window ends after ``last`` (else from ``anchor``) that are due at ``now``: ``last + k*step``."""
    first = anchor if last is None else last + dt.timedelta(seconds=step)
    out: list[dt.datetime] = []
    t = first
    while t <= now and len(out) < limit:
        out.append(t)
        t += dt.timedelta(seconds=step)
    return out


def enqueue_due(s: Session, now: dt.datetime | None = None, *, monitor_ids: list[int] | None = None) -> int:
    """Insert the due windows of the enabled monitors as pending runs; the number of windows offered."""
    now = now or utcnow()
    q = (
        select(
            Monitor.id,
            Monitor.anchor,
            Monitor.step_seconds,
            Monitor.window_seconds,
            func.max(MonitorRun.window_end),
        )
        .outerjoin(MonitorRun, MonitorRun.monitor_id == Monitor.id)
        .where(Monitor.enabled.is_(True))
        .group_by(Monitor.id, Monitor.anchor, Monitor.step_seconds, Monitor.window_seconds)
    )
    if monitor_ids is not None:
        q = q.where(Monitor.id.in_(monitor_ids))
    rows: list[dict[str, Any]] = []
    for mid, anchor, step, window, last in s.execute(q):
        for end in due_ends(anchor, step, last, now, CATCH_UP):
            rows.append(
                {
                    "monitor_id": mid,
                    "window_start": end - dt.timedelta(seconds=window),
                    "window_end": end,
                    "state": "pending",
                    "attempts": 0,
                    "alerted": False,
                    "created_at": now,
                }
            )
    for i in range(0, len(rows), 500):
        insert_ignore_many(s, MonitorRun.__table__, rows[i : i + 500])
    return len(rows)


def _claimable(now: dt.datetime) -> Any:
    return or_(
        MonitorRun.state == "pending",
        and_(MonitorRun.state == "running", MonitorRun.lease_until < now),
    )


def claim(
    s: Session,
    owner: str,
    limit: int = 10,
    *,
    now: dt.datetime | None = None,
    lease: dt.timedelta = LEASE,
    monitor_ids: list[int] | None = None,
) -> list[Claim]:
    """Take up to ``limit`` due runs (oldest window first) for ``owner``, with a lease; commit afterwards.

    PostgreSQL: the candidates are locked with ``FOR UPDATE SKIP LOCKED``, so another process's claim skips
    them rather than waits. SQLite: one conditional UPDATE per candidate, kept only when it changed a row.
    """
    now = now or utcnow()
    until = now + lease
    q = (
        select(MonitorRun.id)
        .where(_claimable(now))
        .order_by(MonitorRun.window_end, MonitorRun.id)
        .limit(limit)
    )
    if monitor_ids is not None:
        q = q.where(MonitorRun.monitor_id.in_(monitor_ids))
    postgres = s.get_bind().dialect.name == "postgresql"
    if postgres:
        ids = list(s.scalars(q.with_for_update(skip_locked=True)))
        if ids:
            s.execute(
                update(MonitorRun)
                .where(MonitorRun.id.in_(ids))
                .values(
                    state="running",
                    lease_owner=owner,
                    lease_until=until,
                    attempts=MonitorRun.attempts + 1,
                )
            )
    else:
        ids = []
        for rid in list(s.scalars(q)):
            done = s.execute(
                update(MonitorRun)
                .where(MonitorRun.id == rid, _claimable(now))
                .values(
                    state="running",
                    lease_owner=owner,
                    lease_until=until,
                    attempts=MonitorRun.attempts + 1,
                )
            )
            if done.rowcount == 1:  # type: ignore[attr-defined]
                ids.append(rid)
    if not ids:
        return []
    rows = s.execute(
        select(
            MonitorRun.id,
            MonitorRun.monitor_id,
            MonitorRun.window_start,
            MonitorRun.window_end,
            MonitorRun.attempts,
        )
        .where(MonitorRun.id.in_(ids))
        .order_by(MonitorRun.window_end, MonitorRun.id)
    )
    return [Claim(r[0], r[1], r[2], r[3], owner, r[4]) for r in rows]


def finish(
    s: Session,
    c: Claim,
    *,
    state: str,
    status: str | None = None,
    n: int | None = None,
    result: Any = None,
    error: str | None = None,
    labels: int | None = None,
) -> bool:
    """Store the run's outcome if ``c``'s owner still holds it; False when another claimer took it over."""
    done = s.execute(
        update(MonitorRun)
        .where(
            MonitorRun.id == c.run_id,
            MonitorRun.state == "running",
            MonitorRun.lease_owner == c.owner,
            MonitorRun.attempts == c.attempts,
        )
        .values(
            state=state,
            status=status,
            n=n,
            labels=labels,
            result=result,
            error=error,
            lease_until=None,
            finished_at=utcnow(),
        )
    )
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]


def ready_to_alert(s: Session, monitor_id: int) -> list[MonitorRun]:
    """The monitor's finished runs not yet applied to its incidents, in window order, up to (not past) its
    first unfinished window: incidents see the windows in order, whichever process finished which first.

    Locks the monitor's row (PostgreSQL; SQLite writers are serialised anyway), so two processes never apply
    the same run twice."""
    s.execute(select(Monitor.id).where(Monitor.id == monitor_id).with_for_update())
    first_open = s.scalar(
        select(func.min(MonitorRun.window_end)).where(
            MonitorRun.monitor_id == monitor_id, MonitorRun.state.in_(("pending", "running"))
        )
    )
    q = select(MonitorRun).where(
        MonitorRun.monitor_id == monitor_id,
        MonitorRun.alerted.is_(False),
        MonitorRun.state.in_(("done", "empty", "failed")),
    )
    if first_open is not None:
        q = q.where(MonitorRun.window_end < first_open)
    return list(s.scalars(q.order_by(MonitorRun.window_end)))


def monitors_to_alert(s: Session, monitor_ids: list[int] | None = None) -> list[int]:
    """Monitors with finished runs that the incidents have not seen yet."""
    q = (
        select(MonitorRun.monitor_id)
        .where(MonitorRun.alerted.is_(False), MonitorRun.state.in_(("done", "empty", "failed")))
        .distinct()
    )
    if monitor_ids is not None:
        q = q.where(MonitorRun.monitor_id.in_(monitor_ids))
    return sorted(s.scalars(q))
