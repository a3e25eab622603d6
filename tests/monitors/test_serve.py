"""The scheduler inside a served app: with ``monitor_seconds`` set, windows run without anyone asking, and a
still-failing check alerts again only after ``renotify``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import pytest
from tests._fixtures import wait_for
from tests._fixtures.http import register, sdk, traffic
from tests._fixtures.servers import Running, serving
from tests.monitors._helpers import database, monitored

from loopwise.alerts import CheckState, RunContext, apply_run, incidents
from loopwise.server import Settings, create_app
from loopwise.store import transaction
from loopwise.store.tables import AlertDelivery, Incident


@pytest.fixture
def scheduled(db_url: str) -> Iterator[Running]:
    """A server whose lifespan runs (the compactor and the monitors' scheduler, a pass every 0.2 s)."""
    with serving(create_app(Settings(database_url=db_url, monitor_seconds=0.2)), db_url, lifespan="on") as r:
        yield r


def test_the_server_runs_due_windows_by_itself(scheduled: Running) -> None:
    c = httpx.Client(base_url=scheduled.url, headers={"Authorization": f"Bearer {scheduled.admin_key}"})
    scheduled.clients.append(c)
    register(c)
    m = sdk(scheduled).model("credit")
    start = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=3)
    m.log(traffic(1200, 5, start.isoformat()).drop(columns=["repaid"]))
    suite = {"suite": "s", "checks": [{"metric": "row_count", "condition": {"ge": 1}}]}
    m.add_monitor(
        name="hourly",
        suite=suite,
        window="1h",
        step="1h",
        reference=None,
        anchor=(start + dt.timedelta(hours=1)).isoformat(),
    )

    def finished() -> bool:
        runs = m.monitor_history("hourly")
        return len(runs) >= 3 and all(r["state"] in ("done", "empty") for r in runs)

    wait_for(finished, "the scheduler to run the due windows")
    runs = sorted(m.monitor_history("hourly"), key=lambda r: r["window_end"])
    assert [r["state"] for r in runs[:3]] == ["done", "empty", "empty"]
    assert runs[0]["n"] == 1200 and {r["attempts"] for r in runs} == {1}


def test_renotify_alerts_a_still_failing_check_again(db_url: str) -> None:
    """Incidents by the clock: opened at t, failing at t+1h (nothing sent), at t+2h (a reminder: renotify is
    2h), passing at t+3h (resolved); a check that cannot be computed changes nothing."""
    engine, sessions, _ = database(db_url)
    t0 = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    mid = monitored(sessions, anchor=t0)
    channels = [{"type": "webhook", "name": "a", "url": "http://x", "severity": ["fail", "warn"]}]
    sent: list[str] = []
    for h, status in enumerate(["fail", "fail", "error", "fail", "pass"]):
        ctx = RunContext("credit", "m", t0.isoformat(), t0.isoformat(), h + 1, None)
        checks = [CheckState("row_count >= 1000", "", status, 600.0, ">= 1000")]
        with transaction(sessions) as s:
            ids = apply_run(s, mid, checks, channels, ctx, renotify=7200, now=t0 + dt.timedelta(hours=h))
            sent += [s.get(AlertDelivery, i).event for i in ids]  # type: ignore[union-attr]
    assert sent == ["opened", "reminder", "resolved"]
    with sessions() as s:
        (incident,) = incidents(s, mid)
    assert (incident["state"], incident["failures"], incident["last_run_id"]) == ("resolved", 3, 5)
    engine.dispose()


def test_silences_and_severity_routing(db_url: str) -> None:
    """A silence until t+2h logs the opening alert as ``silenced`` (never sent) and lets the resolution at
    t+3h through; a channel for ``fail`` hears nothing of a ``warn`` check, one for ``warn`` does."""
    engine, sessions, _ = database(db_url)
    t0 = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    mid = monitored(sessions, anchor=t0)
    channels = [
        {"type": "webhook", "name": "pager", "url": "http://x", "severity": ["fail"]},
        {"type": "webhook", "name": "chat", "url": "http://y", "severity": ["warn"]},
    ]
    silences = [{"until": (t0 + dt.timedelta(hours=2)).isoformat(), "check": "psi", "reason": "migration"}]
    got: list[tuple[str, str, str, str]] = []
    outcomes = [("fail", "warn"), ("fail", "warn"), ("fail", "pass"), ("pass", "pass")]
    for h, (psi, rows) in enumerate(outcomes):
        ctx = RunContext("credit", "m", t0.isoformat(), t0.isoformat(), h + 1, None)
        checks = [CheckState("psi", "", psi, 0.3, "< 0.2"), CheckState("rows", "", rows, 10.0, ">= 100")]
        with transaction(sessions) as s:
            ids = apply_run(s, mid, checks, channels, ctx, silences=silences, now=t0 + dt.timedelta(hours=h))
            for i in ids:
                d = s.get(AlertDelivery, i)
                assert d is not None
                inc = s.get(Incident, d.incident_id)
                assert inc is not None
                got.append((inc.check_name, d.channel, d.event, d.state))
    assert got == [
        ("psi", "pager", "opened", "silenced"),
        ("rows", "chat", "opened", "pending"),
        ("rows", "chat", "resolved", "pending"),
        ("psi", "pager", "resolved", "pending"),
    ]
    engine.dispose()
