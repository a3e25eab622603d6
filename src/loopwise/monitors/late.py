"""Late batches: a window that gained rows after it ran is run again (decision 0035).

A run stores the rows its window held (``n``); a pass compares it with the rows the window holds now, summed
from the hourly bucket profiles and their pending parts (small tables: a row per hour and version, never the
events), for the windows that ended within ``LATE_HORIZON``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from loopwise.store.tables import BucketPart, BucketProfile, Monitor, MonitorRun
from loopwise.store.types import utcnow

#: How far back a window may gain late rows and still be run again.
LATE_HORIZON = dt.timedelta(days=7)


def _rows_by_hour(s: Session, model_id: int, since: dt.datetime) -> dict[dt.datetime, int]:
    rows: dict[dt.datetime, int] = defaultdict(int)
    for table in (BucketProfile, BucketPart):
        q = (
            select(table.bucket, func.sum(table.n))
            .where(table.model_id == model_id, table.bucket >= since)
            .group_by(table.bucket)
        )
        for bucket, n in s.execute(q):
            rows[bucket] += int(n or 0)
    return rows


def mark_late(s: Session, now: dt.datetime | None = None, horizon: dt.timedelta = LATE_HORIZON) -> list[int]:
    """Set back to ``pending`` the finished runs whose window holds more rows than when it ran; their ids.

    The run is claimed and run again like a new one; its outcome reaches the incidents only if no later
    window of the monitor has reached them yet (incidents follow the newest windows).
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
            select(MonitorRun.id, MonitorRun.window_start, MonitorRun.window_end, MonitorRun.n).where(
                MonitorRun.monitor_id == mid,
                MonitorRun.window_end >= since,
                MonitorRun.state.in_(("done", "empty")),
            )
        ).all()
        if not runs:
            continue
        rows = _rows_by_hour(s, model_id, min(r[1] for r in runs))
        for rid, start, end, n in runs:
            now_rows = sum(c for b, c in rows.items() if start <= b < end)
            if now_rows > (n or 0):
                marked.append(rid)
    if marked:
        s.execute(
            update(MonitorRun)
            .where(MonitorRun.id.in_(marked), MonitorRun.state.in_(("done", "empty")))
            .values(state="pending", lease_owner=None, lease_until=None)
        )
    return marked
