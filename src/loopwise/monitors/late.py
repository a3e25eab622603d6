"""Late data: a window that gained rows or labels after it ran is run again (decisions 0035, 0041).

A run stores the rows its window held (``n``) and the label changes its buckets had counted (``labels``:
``BucketProfile.labels``, one more each time feedback adds, replaces or retracts a label of the bucket's
events). A pass compares both with what the window holds now, summed from the hourly bucket profiles and
their pending parts (small tables: a row per hour and version, never the events), for the windows that ended
within ``LATE_HORIZON``. A window that gained either is set back to ``pending``, once (a conditional update:
two processes marking together mark it once), and what its run had found is kept in ``superseded``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from loopwise.monitors.history import failed_checks
from loopwise.store.tables import BucketPart, BucketProfile, Monitor, MonitorRun
from loopwise.store.types import utcnow

#: How far back a window may gain late rows or labels and still be run again.
LATE_HORIZON = dt.timedelta(days=7)
#: Superseded outcomes kept per run (the oldest are dropped past it), and failing checks kept per outcome.
KEEP_SUPERSEDED = 20
KEEP_FAILED = 50


def labels_in(s: Session, model_id: int, start: dt.datetime, end: dt.datetime) -> int:
    """The label changes counted by the model's buckets that start in [start, end)."""
    return int(
        s.scalar(
            select(func.coalesce(func.sum(BucketProfile.labels), 0)).where(
                BucketProfile.model_id == model_id, BucketProfile.bucket >= start, BucketProfile.bucket < end
            )
        )
        or 0
    )


Hourly = dict[dt.datetime, int]


def _by_hour(s: Session, model_id: int, since: dt.datetime) -> tuple[Hourly, Hourly]:
    """Per hour since ``since``: the rows its buckets and pending parts hold, and the label changes."""
    rows: dict[dt.datetime, int] = defaultdict(int)
    labels: dict[dt.datetime, int] = defaultdict(int)
    q = (
        select(BucketProfile.bucket, func.sum(BucketProfile.n), func.sum(BucketProfile.labels))
        .where(BucketProfile.model_id == model_id, BucketProfile.bucket >= since)
        .group_by(BucketProfile.bucket)
    )
    for bucket, n, changed in s.execute(q):
        rows[bucket] += int(n or 0)
        labels[bucket] += int(changed or 0)
    parts = (
        select(BucketPart.bucket, func.sum(BucketPart.n))
        .where(BucketPart.model_id == model_id, BucketPart.bucket >= since)
        .group_by(BucketPart.bucket)
    )
    for bucket, n in s.execute(parts):
        rows[bucket] += int(n or 0)
    return rows, labels


def mark_late(s: Session, now: dt.datetime | None = None, horizon: dt.timedelta = LATE_HORIZON) -> list[int]:
    """Set back to ``pending`` the finished runs whose window holds more rows, or more label changes, than
    when it ran; their ids.

    The run is claimed and run again like a new one, and its new outcome replaces the stored one (what it
    replaces is appended to ``superseded``, with the reason). Incidents are not replayed for it: they
    follow the windows in the order they first ran (decision 0035).
    """
    now = now or utcnow()
    since = now - horizon
    monitors = s.execute(
        select(Monitor.id, Monitor.model_id).where(
            Monitor.enabled.is_(True),
            exists().where(MonitorRun.monitor_id == Monitor.id, MonitorRun.window_end >= since),
        )
    ).all()
    marked: list[int] = []
    for mid, model_id in monitors:
        runs = s.execute(
            select(
                MonitorRun.id,
                MonitorRun.window_start,
                MonitorRun.window_end,
                MonitorRun.n,
                MonitorRun.labels,
            ).where(
                MonitorRun.monitor_id == mid,
                MonitorRun.window_end >= since,
                MonitorRun.state.in_(("done", "empty")),
            )
        ).all()
        if not runs:
            continue
        rows, labels = _by_hour(s, model_id, min(r[1] for r in runs))
        for rid, start, end, n, seen in runs:
            reasons = []
            if sum(c for b, c in rows.items() if start <= b < end) > (n or 0):
                reasons.append("late rows")
            # A run stored before labels were counted (``labels`` NULL) is not compared: it would re-run
            # every window that ever had a label.
            if seen is not None and sum(c for b, c in labels.items() if start <= b < end) > seen:
                reasons.append("late labels")
            if reasons and _supersede(s, rid, " and ".join(reasons), now):
                marked.append(rid)
    return marked


def _supersede(s: Session, run_id: int, reason: str, now: dt.datetime) -> bool:
    """Set the run back to pending, keeping what it had found; False if another process got there first."""
    row = s.execute(
        select(
            MonitorRun.state,
            MonitorRun.status,
            MonitorRun.n,
            MonitorRun.labels,
            MonitorRun.attempts,
            MonitorRun.finished_at,
            MonitorRun.result,
            MonitorRun.superseded,
        ).where(MonitorRun.id == run_id)
    ).one_or_none()
    if row is None or row.state not in ("done", "empty"):
        return False
    record: dict[str, Any] = {
        "reason": reason,
        "marked_at": now.isoformat(),
        "attempt": row.attempts,
        "state": row.state,
        "status": row.status,
        "n": row.n,
        "labels": row.labels,
        "finished_at": None if row.finished_at is None else row.finished_at.isoformat(),
        "failed": [] if row.result is None else failed_checks(row.result)[:KEEP_FAILED],
    }
    history = [*(row.superseded or []), record][-KEEP_SUPERSEDED:]
    done = s.execute(
        update(MonitorRun)
        .where(
            MonitorRun.id == run_id,
            MonitorRun.state == row.state,
            MonitorRun.attempts == row.attempts,
        )
        .values(state="pending", lease_owner=None, lease_until=None, superseded=history)
    )
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]
