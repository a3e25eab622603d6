"""One alert per incident, end to end on SQLite and PostgreSQL: traffic with a drift injected for three
hours of twelve alerts once when it starts and once ("resolved") when it ends; thirty clean days alert
never; a receiver that is down leaves the deliveries retrying while monitoring goes on; they arrive once it
is up."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Container, Iterator

import pandas as pd
import pytest
from tests._fixtures import free_port
from tests._fixtures.http import SCHEMA, traffic
from tests.alerts.receiver import receiver

import loopwise as lw
from loopwise.alerts import AlertSettings, deliver_pending
from loopwise.alerts.deliver import MAX_ATTEMPTS
from loopwise.client.base import ModelHandle
from loopwise.detectors import ADWIN

T0 = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
SUITE = {
    "suite": "watch",
    "checks": [
        {"metric": "psi", "column": "income", "condition": {"lt": 0.2}},
        {"metric": "row_count", "condition": {"ge": 100}, "severity": "warn"},
    ],
}


@pytest.fixture
def client(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[lw.Client]:
    monkeypatch.setenv("LOOPWISE_ALERT_ALLOW", "127.0.0.1")
    c = lw.Client.local(db_url)
    yield c
    c.close()


def _model(
    c: lw.Client,
    hours: int,
    drifted: Container[int],
    rows: int = 1200,
    step: dt.timedelta | None = None,
    origin: dt.datetime = T0,
    labels: bool = False,
) -> ModelHandle:
    """The credit model with a reference and ``hours`` of traffic (``rows`` a period); in ``drifted`` periods
    incomes are 2.5 times larger."""
    step = step or dt.timedelta(hours=1)
    m = c.register("credit", SCHEMA)
    m.set_reference(traffic(5000, 1, "2026-11-01T00:00:00Z").drop(columns=["repaid"]))
    frames = []
    for h in range(hours):
        start = origin + h * step
        df = traffic(rows, 100 + h, start.isoformat())
        df["ts"] = start + (df["ts"] - df["ts"].iloc[0]) * (step / dt.timedelta(hours=1))
        if h in drifted:
            df["income"] = df["income"] * 2.5
        df["request_id"] = [f"{h}-{i}" for i in range(rows)]
        frames.append(df)
    df = pd.concat(frames)
    m.log(df.drop(columns=["repaid"]))
    if labels:
        m.log_feedback(df["request_id"], df["repaid"])
    return m


def _hourly(m: ModelHandle, port: int) -> None:
    """An hourly monitor from T0 whose channel is a webhook on ``port`` (listening or not)."""
    m.add_monitor(
        name="hourly",
        suite=SUITE,
        window="1h",
        step="1h",
        anchor=(T0 + dt.timedelta(hours=1)).isoformat(),
        channels=[{"type": "webhook", "url": f"http://127.0.0.1:{port}/hook"}],
    )


def test_a_drift_alerts_once_and_resolves_once(client: lw.Client) -> None:
    m = _model(client, 12, range(4, 7))
    with receiver() as rec:
        m.add_monitor(
            name="hourly",
            suite=SUITE,
            window="1h",
            step="1h",
            anchor=(T0 + dt.timedelta(hours=1)).isoformat(),
            channels=[{"type": "webhook", "name": "ops", "url": f"{rec.url}/hook"}],
        )
        runs = m.run_monitors("hourly")
        runs += m.run_monitors("hourly")  # nothing new is due: no second alert either
        bodies = [json.loads(g.body) for g in rec.got]
    done = [r for r in runs if r["state"] == "done"]
    assert len(done) == 12
    assert [r["status"] for r in done] == ["pass"] * 4 + ["fail"] * 3 + ["pass"] * 5
    assert [b["event"] for b in bodies] == ["incident.opened", "incident.resolved"]
    opened, resolved = bodies
    assert opened["window"] == {
        "start": (T0 + dt.timedelta(hours=4)).isoformat(),
        "end": (T0 + dt.timedelta(hours=5)).isoformat(),
    }
    assert opened["check"]["check"] == "psi[income] < 0.2" and opened["check"]["actual"] > 0.2
    assert opened["check"]["condition"] == "< 0.2" and opened["model"] == "credit"
    assert "psi[income] < 0.2 fails: value" in opened["text"] and "against < 0.2" in opened["text"]
    run = m.monitor_run("hourly", opened["run_id"])  # the evidence the message names
    assert run["window_end"] == opened["window"]["end"] and run["status"] == "fail"
    assert resolved["window"]["start"] == (T0 + dt.timedelta(hours=7)).isoformat()
    assert resolved["incident"]["failures"] == 3 and resolved["check"]["actual"] < 0.2
    # It names the window the failures began in (hour 4), not the wall-clock time this catch-up ran.
    first = (T0 + dt.timedelta(hours=4)).isoformat()
    assert f"after failing 3 windows from the window starting {first}." in resolved["text"]
    (incident,) = m.incidents("hourly")
    assert (incident["state"], incident["failures"]) == ("resolved", 3)
    log = m.deliveries("hourly")
    assert [(d["event"], d["state"], d["attempts"]) for d in log] == [
        ("resolved", "sent", 1),
        ("opened", "sent", 1),
    ]
    series = {(s["check"], s["segment"]): s["points"] for s in m.monitor_series("hourly")["checks"]}
    psi = series[("psi[income] < 0.2", "")]
    assert [p["status"] for p in psi] == [r["status"] for r in done]
    assert all(p["threshold"] == "< 0.2" for p in psi)


def test_thirty_clean_days_alert_never(client: lw.Client) -> None:
    """Thirty days of clean, labelled traffic (600 events a day): the daily suite never fails (PSI < 0.2 on
    600 rows: docs/monitors.md, "False alarms") and a stream detector with its defaults on every event's
    error (ADWIN, no false alarm in 18,000 clean values, as the same detector on NumPy's error stream
    confirms) never fires."""
    origin = T0 - dt.timedelta(days=31)  # thirty days in the past (times ahead of now are refused)
    m = _model(client, 30, range(0), rows=600, step=dt.timedelta(days=1), origin=origin, labels=True)
    with receiver() as rec:
        m.add_monitor(
            name="daily",
            suite=SUITE,
            window="1d",
            step="1d",
            anchor=(origin + dt.timedelta(days=1)).isoformat(),
            channels=[{"type": "webhook", "url": f"{rec.url}/hook"}],
            detectors=[{"name": "errors", "kind": "adwin", "stream": "error"}],
        )
        runs = [r for r in m.run_monitors("daily") if r["state"] == "done"]
        assert len(runs) == 30 and {r["status"] for r in runs} == {"pass"}
        assert rec.got == [] and m.incidents("daily") == [] and m.deliveries("daily") == []
    fed = [m.monitor_run("daily", r["id"])["result"]["detectors"]["errors"] for r in runs]
    assert sum(f["n"] for f in fed) == 30 * 600 and not any(f["detected"] for f in fed)
    frames = []
    for h in range(30):  # the same traffic, rebuilt as _model made it: the error stream in event order
        df = traffic(600, 100 + h)
        df["request_id"] = [f"{h}-{i}" for i in range(600)]
        df["ts"] = origin + h * dt.timedelta(days=1) + (df["ts"] - df["ts"].iloc[0]) * 24
        frames.append(df)
    raw = pd.concat(frames).sort_values(["ts", "request_id"])
    errors = (raw["approved"].astype(bool) != raw["repaid"].astype(bool)).to_numpy(float)
    assert len(ADWIN().update_many(errors)) == 0 and 0.05 < errors.mean() < 0.5
    assert [f["value"] for f in fed] == pytest.approx(errors.reshape(30, 600).mean(axis=1).tolist())


def test_a_receiver_that_is_down(client: lw.Client) -> None:
    m = _model(client, 3, range(0, 3))
    port = free_port()  # nothing listens there yet
    _hourly(m, port)
    runs = [r for r in m.run_monitors("hourly") if r["state"] == "done"]
    assert [r["status"] for r in runs] == ["fail"] * 3  # monitoring went on
    (d,) = m.deliveries("hourly")
    assert (d["event"], d["state"], d["attempts"]) == ("opened", "pending", 1)
    assert "ConnectError" in d["last_error"]
    sessions = client.transport.sessions  # type: ignore[attr-defined]
    settings = AlertSettings(allow=("127.0.0.1",))
    assert deliver_pending(sessions, settings) == {"sent": 0, "retrying": 0, "failed": 0}  # backing off
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    assert deliver_pending(sessions, settings, now=later) == {"sent": 0, "retrying": 1, "failed": 0}
    with receiver(port) as rec:
        later += dt.timedelta(hours=2)
        assert deliver_pending(sessions, settings, now=later) == {"sent": 1, "retrying": 0, "failed": 0}
        (got,) = rec.got
    assert json.loads(got.body)["event"] == "incident.opened"
    (d,) = m.deliveries("hourly")
    assert (d["state"], d["attempts"], d["last_error"]) == ("sent", 3, None)


def test_a_delivery_is_given_up_after_its_attempts(client: lw.Client) -> None:
    m = _model(client, 1, range(0, 1))
    _hourly(m, free_port())
    m.run_monitors("hourly")
    sessions = client.transport.sessions  # type: ignore[attr-defined]
    settings = AlertSettings(allow=("127.0.0.1",))
    later = dt.datetime.now(dt.UTC)
    outcomes = []
    for _ in range(MAX_ATTEMPTS + 2):
        later += dt.timedelta(hours=2)
        outcomes.append(deliver_pending(sessions, settings, now=later))
    assert sum(o["retrying"] for o in outcomes) == MAX_ATTEMPTS - 2  # the first attempt was the run's
    assert sum(o["failed"] for o in outcomes) == 1
    (d,) = m.deliveries("hourly")
    assert (d["state"], d["attempts"]) == ("failed", MAX_ATTEMPTS)


def test_a_resolution_waits_for_its_opening(client: lw.Client) -> None:
    """Drift in hours 0-1, none in hour 2: "opened" and "resolved" are queued in one pass while the receiver
    is down. The resolution is not tried while the opening is retrying; once the receiver is up both arrive,
    the opening first (on PostgreSQL, rows without an ORDER BY once came back resolved-first)."""
    m = _model(client, 3, range(0, 2))
    port = free_port()
    _hourly(m, port)
    runs = [r for r in m.run_monitors("hourly") if r["state"] == "done"]
    assert [r["status"] for r in runs] == ["fail", "fail", "pass"]
    log = {d["event"]: d for d in m.deliveries("hourly")}
    assert (log["opened"]["state"], log["opened"]["attempts"]) == ("pending", 1)
    assert (log["resolved"]["state"], log["resolved"]["attempts"]) == ("pending", 0)  # held behind it
    sessions = client.transport.sessions  # type: ignore[attr-defined]
    settings = AlertSettings(allow=("127.0.0.1",))
    with receiver(port) as rec:
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
        assert deliver_pending(sessions, settings, now=later) == {"sent": 2, "retrying": 0, "failed": 0}
        events = [json.loads(g.body)["event"] for g in rec.got]
    assert events == ["incident.opened", "incident.resolved"]


def test_two_incidents_of_one_check_arrive_in_the_order_they_happened(client: lw.Client) -> None:
    """Drift in hours 0-1 and 3-4: two incidents of one check, queued in one catch-up while the receiver is
    down. Once it is up they arrive as they happened: opened, resolved, opened, resolved (the later
    incident's "opened" overtook the earlier one's "resolved", which waited behind its own "opened")."""
    m = _model(client, 6, {0, 1, 3, 4})
    port = free_port()
    _hourly(m, port)
    runs = [r for r in m.run_monitors("hourly") if r["state"] == "done"]
    assert [r["status"] for r in runs] == ["fail", "fail", "pass", "fail", "fail", "pass"]
    sessions = client.transport.sessions  # type: ignore[attr-defined]
    settings = AlertSettings(allow=("127.0.0.1",))
    with receiver(port) as rec:
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
        assert deliver_pending(sessions, settings, now=later)["sent"] == 4
        got = [json.loads(g.body) for g in rec.got]
    first, second = sorted({b["incident"]["id"] for b in got})
    assert [(b["event"], b["incident"]["id"]) for b in got] == [
        ("incident.opened", first),
        ("incident.resolved", first),
        ("incident.opened", second),
        ("incident.resolved", second),
    ]
