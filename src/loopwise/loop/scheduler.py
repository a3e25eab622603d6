"""The scheduler: where monitors and alerts meet (decision 0035).

A pass offers the due windows as pending runs, claims runs with a lease and runs them, applies the finished
runs to the incidents in window order, and sends the deliveries that are due. ``loopwise serve`` runs passes
in a background thread (``loopwise.server.jobs.MonitorLoop``) in every server process; ``loopwise monitors
run`` runs one pass (for cron). Leases make each window run once however many processes do this.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from loopwise.alerts import AlertSettings, CheckState, RunContext, apply_run, deliver_pending
from loopwise.monitors import (
    LEASE,
    Claim,
    Outcome,
    claim,
    enqueue_due,
    finish,
    mark_late,
    monitors_to_alert,
    ready_to_alert,
    run_dict,
    run_window,
)
from loopwise.monitors.detect import update_detectors
from loopwise.monitors.streams import Stream, bounds, read_stream
from loopwise.store import transaction
from loopwise.store.tables import Model, Monitor, MonitorRun

log = logging.getLogger("loopwise.monitors")

#: Most runs one pass runs (the rest wait for the next pass).
MAX_RUNS_PER_PASS = 1000
#: Most runs whose stream slices are read ahead of the monitor's lock, per monitor and pass.
PREFETCH_RUNS = 200


def new_owner() -> str:
    """This process's claimer id: host, process and a random part (a restarted process is a new owner)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class PassResult:
    """What one pass did: the windows offered, the runs it ran (as ``run_dict``s), deliveries' outcomes."""

    offered: int = 0
    #: Past windows set back to pending because rows arrived late.
    rerun: int = 0
    runs: list[dict[str, Any]] = field(default_factory=list)
    deliveries: dict[str, int] = field(default_factory=dict)


def _execute(read_sessions: sessionmaker[Session], c: Claim) -> Outcome:
    with read_sessions() as s:
        monitor = s.get(Monitor, c.monitor_id)
        if monitor is None:
            return Outcome("failed", error="the monitor was deleted")
        try:
            return run_window(s, monitor, c.window_start, c.window_end)
        except Exception as exc:  # the run's row must end, whatever ended it; the message says what
            log.exception("monitor run %s failed", c.run_id)
            return Outcome("failed", error=f"{type(exc).__name__}: {exc}"[:2000])


def run_claimed(
    sessions: sessionmaker[Session],
    read_sessions: sessionmaker[Session],
    owner: str,
    *,
    monitor_ids: list[int] | None = None,
    lease: dt.timedelta = LEASE,
    limit: int = MAX_RUNS_PER_PASS,
) -> list[dict[str, Any]]:
    """Claim and run pending runs until none is left (or ``limit`` ran); the runs this owner finished."""
    done: list[dict[str, Any]] = []
    while len(done) < limit:
        with transaction(sessions) as s:
            claims = claim(s, owner, min(10, limit - len(done)), lease=lease, monitor_ids=monitor_ids)
        if not claims:
            break
        for c in claims:
            outcome = _execute(read_sessions, c)
            with transaction(sessions) as s:
                kept = finish(
                    s,
                    c,
                    state=outcome.state,
                    status=outcome.status,
                    n=outcome.n,
                    result=outcome.results,
                    error=outcome.error,
                    labels=outcome.labels,
                )
                if kept:
                    row = s.get(MonitorRun, c.run_id)
                    assert row is not None
                    done.append({"monitor_id": c.monitor_id, **run_dict(row)})
                else:
                    log.warning(
                        "monitor run %s was taken over by another process; its result dropped", c.run_id
                    )
    return done


def _checks(result: dict[str, Any]) -> list[CheckState]:
    out = []
    parts = [("", result["all"]), *sorted(result.get("segments", {}).items())]
    for segment, suite in parts:
        for c in suite["checks"]:
            out.append(
                CheckState(
                    c["name"],
                    segment,
                    c["status"],
                    c.get("actual"),
                    c.get("condition") or "",
                    c.get("message") or "",
                )
            )
    return out


def apply_alerts(
    sessions: sessionmaker[Session],
    settings: AlertSettings,
    monitor_ids: list[int] | None = None,
    read_sessions: sessionmaker[Session] | None = None,
) -> int:
    """Apply finished runs to the incidents, per monitor in window order, feeding its detectors on the way;
    the deliveries queued. The stream detectors' events are read beforehand in ``read_sessions`` (outside the
    monitor's lock, which on SQLite is the write lock); a run that was not ready then is read under it."""
    queued = 0
    with transaction(sessions) as s:
        todo = monitors_to_alert(s, monitor_ids)
    for mid in todo:
        # One monitor's fault stops neither the others nor the deliveries; the next pass retries it.
        try:
            queued += _apply_monitor(sessions, settings, mid, read_sessions)
        except Exception:
            log.exception("applying the runs of monitor %s failed; the other monitors go on", mid)
    return queued


def _apply_monitor(
    sessions: sessionmaker[Session],
    settings: AlertSettings,
    mid: int,
    read_sessions: sessionmaker[Session] | None,
) -> int:
    """``apply_alerts`` for one monitor, in one transaction; the deliveries queued."""
    queued = 0
    prefetched = _prefetch(read_sessions or sessions, mid)
    with transaction(sessions) as s:
        monitor = s.get(Monitor, mid)
        if monitor is None:
            return 0
        model = s.get(Model, monitor.model_id)
        assert model is not None
        specs = list(monitor.detectors or ())
        for run in ready_to_alert(s, mid):
            if run.state not in ("done", "empty"):
                run.alerted = True
                continue
            checks = _checks(run.result) if run.state == "done" and run.result is not None else []
            if specs:
                streams = {
                    d["name"]: _stream(s, prefetched, model, monitor.step_seconds, run, d)
                    for d in specs
                    if "stream" in d
                }
                states, seen, found, errors = update_detectors(
                    specs,
                    dict(monitor.detector_state or {}),
                    run.result if run.state == "done" else None,
                    run.window_end.isoformat(),
                    streams,
                )
                monitor.detector_state = states
                if errors:  # a run that cannot run all its detectors failed; what else it found still counts
                    run.state = "failed"
                    run.error = f"monitor {monitor.name!r}: {'; '.join(errors)}"[:2000]
                    log.warning("monitor run %s failed: %s", run.id, run.error)
                if any(f["status"] == "fail" for f in found):
                    run.status = "fail"  # the run's status is its worst check's, a detection's too
                if seen:
                    base = run.result or {"all": {"status": "pass", "checks": []}, "segments": {}}
                    run.result = {**base, "detectors": seen}
                checks += [
                    CheckState(f["name"], "", f["status"], f["actual"], f["condition"], f["message"])
                    for f in found
                ]
            if checks:
                ctx = RunContext(
                    model.name,
                    monitor.name,
                    run.window_start.isoformat(),
                    run.window_end.isoformat(),
                    run.id,
                    _link(settings, model.name, monitor.name, run.id),
                )
                queued += len(
                    apply_run(
                        s,
                        mid,
                        checks,
                        list(monitor.channels or ()),
                        ctx,
                        renotify=monitor.renotify_seconds,
                        silences=list(monitor.silences or ()),
                    )
                )
            run.alerted = True
    return queued


def _stream(
    s: Session, prefetched: dict[Any, Any], model: Model, step: int, run: MonitorRun, spec: dict[str, Any]
) -> Stream:
    """The run's slice of a stream detector: as read ahead when it was read for this spec, else now."""
    got = prefetched.get((run.id, spec["name"]))
    if got is not None and prefetched.get((run.id, spec["name"], "spec")) == spec:
        return got  # type: ignore[no-any-return]
    return read_stream(s, model, spec, *bounds(spec, step, run.window_end))


def _prefetch(readers: sessionmaker[Session], monitor_id: int) -> dict[Any, Any]:
    """The stream detectors' slices of the monitor's runs that look ready to apply, read without locks:
    ``{(run id, detector): Stream, (run id, detector, "spec"): the spec they were read for}``."""
    out: dict[Any, Any] = {}
    with readers() as r:
        monitor = r.get(Monitor, monitor_id)
        if monitor is None or not any("stream" in d for d in monitor.detectors or ()):
            return out
        model = r.get(Model, monitor.model_id)
        assert model is not None
        q = (
            select(MonitorRun.id, MonitorRun.window_end)
            .where(
                MonitorRun.monitor_id == monitor_id,
                MonitorRun.alerted.is_(False),
                MonitorRun.state.in_(("done", "empty")),
            )
            .order_by(MonitorRun.window_end)
            .limit(PREFETCH_RUNS)
        )
        for run_id, end in r.execute(q).all():
            for d in monitor.detectors:
                if "stream" in d:
                    out[(run_id, d["name"])] = read_stream(r, model, d, *bounds(d, monitor.step_seconds, end))
                    out[(run_id, d["name"], "spec")] = d
    return out


def _refreshed(readers: sessionmaker[Session], done: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs as stored now: applying them to the incidents added what their detectors found."""
    with readers() as r:
        rows = {
            row.id: row
            for row in r.scalars(select(MonitorRun).where(MonitorRun.id.in_([d["id"] for d in done])))
        }
        return [
            {"monitor_id": d["monitor_id"], **run_dict(rows[d["id"]])} if d["id"] in rows else d for d in done
        ]


def _link(settings: AlertSettings, model: str, monitor: str, run_id: int) -> str | None:
    from urllib.parse import quote

    if not settings.public_url:
        return None
    base = settings.public_url.rstrip("/")
    # The workspace's run page, not the API route: a person follows the link in a browser (decision 0052).
    return f"{base}/ui/models/{quote(model, safe='')}/monitors/{quote(monitor, safe='')}/runs/{run_id}"


def run_pass(
    sessions: sessionmaker[Session],
    read_sessions: sessionmaker[Session],
    settings: AlertSettings,
    *,
    owner: str | None = None,
    now: dt.datetime | None = None,
    monitor_ids: list[int] | None = None,
    lease: dt.timedelta = LEASE,
    deliver: bool = True,
) -> PassResult:
    """One pass: offer due windows, run what can be claimed, apply the runs to incidents, send alerts."""
    owner = owner or new_owner()
    result = PassResult()
    with transaction(sessions) as s:
        result.rerun = len(mark_late(s, now))
    # A monitor behind by more than CATCH_UP windows is offered them in rounds, up to MAX_RUNS_PER_PASS.
    while len(result.runs) < MAX_RUNS_PER_PASS:
        with transaction(sessions) as s:
            offered = enqueue_due(s, now, monitor_ids=monitor_ids)
        result.offered += offered
        result.runs += run_claimed(
            sessions,
            read_sessions,
            owner,
            monitor_ids=monitor_ids,
            lease=lease,
            limit=MAX_RUNS_PER_PASS - len(result.runs),
        )
        if not offered:
            break
    apply_alerts(sessions, settings, monitor_ids, read_sessions)
    if result.runs:
        result.runs = _refreshed(read_sessions, result.runs)
    if deliver:
        result.deliveries = deliver_pending(sessions, settings)
    return result
