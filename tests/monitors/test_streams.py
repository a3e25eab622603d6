"""Stream detectors in a monitor, on SQLite and PostgreSQL: an error rate that jumps from 10% to 40% at a
known time (5:20 into the traffic, labels joined) is detected, and the alert says the error rate rose from
about then (within five minutes); the detections and the change time are those of the same detector fed the
error stream computed with NumPy from the raw rows and labels, in event-time order, uninterrupted, though
the monitor ran in two passes of two clients (its state crossed a restart through the database). A feature's
mean per 10-minute sub-window is checked the same way against pandas' resample."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from tests._fixtures.http import SCHEMA, traffic
from tests.alerts.receiver import receiver

import loopwise as lw
from loopwise.alerts import AlertSettings
from loopwise.detectors import ADWIN
from loopwise.loop import run_pass

T0 = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=14)
CHANGE = T0 + dt.timedelta(hours=5, minutes=20)
PER_HOUR = 600


def _traffic(hours: int, seed: int = 7) -> pd.DataFrame:
    """``hours`` of traffic, an event every 6 s; labels wrong 10% of the time before CHANGE, 40% after;
    incomes doubled from 8:00 on."""
    rng = np.random.default_rng(seed)
    frames = []
    for h in range(hours):
        df = traffic(PER_HOUR, 200 + h)
        df["ts"] = [T0 + dt.timedelta(hours=h, seconds=6 * i) for i in range(PER_HOUR)]
        df["request_id"] = [f"{h:02d}-{i:04d}" for i in range(PER_HOUR)]
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    rate = np.where(df["ts"] >= CHANGE, 0.4, 0.1)
    wrong = rng.random(len(df)) < rate
    df["repaid"] = np.where(wrong, ~df["approved"].astype(bool), df["approved"].astype(bool))
    df.loc[df["ts"] >= T0 + dt.timedelta(hours=8), "income"] *= 2.0
    return df


def _pass(c: lw.Client, settings: AlertSettings, now: dt.datetime) -> None:
    transport = c.transport
    run_pass(transport.sessions, transport.read_sessions, settings, now=now)  # type: ignore[attr-defined]


def _oracle(values: np.ndarray, **params: int) -> tuple[np.ndarray, np.ndarray]:
    return ADWIN(**params).update_many(values, with_change_points=True)


def test_an_error_rate_jump_is_detected_where_it_began(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPWISE_ALERT_ALLOW", "127.0.0.1")
    raw = _traffic(10)
    c = lw.Client.local(db_url)
    m = c.register("credit", SCHEMA)
    m.log(raw.drop(columns=["repaid"]))
    m.log_feedback(raw["request_id"], raw["repaid"])
    settings = AlertSettings(allow=("127.0.0.1",))
    with receiver() as rec:
        m.add_monitor(
            name="hourly",
            suite={"suite": "s", "checks": [{"metric": "row_count", "condition": {"ge": 1}}]},
            window="1h",
            step="1h",
            reference=None,
            anchor=(T0 + dt.timedelta(hours=1)).isoformat(),
            channels=[{"type": "webhook", "url": f"{rec.url}/hook"}],
            detectors=[
                {"name": "errors", "kind": "adwin", "stream": "error"},
                {
                    "name": "incomes",
                    "kind": "adwin",
                    "stream": "feature",
                    "column": "income",
                    "every": "10m",
                    "params": {"clock": 1},  # six values an hour: check at each
                },
            ],
        )
        # Five windows, then a "restart": a new client (engine, sessions) runs the rest.
        _pass(c, settings, T0 + dt.timedelta(hours=5))
        state = m.monitors()[0]
        c.close()
        c = lw.Client.local(db_url)
        m = c.model("credit")
        _pass(c, settings, T0 + dt.timedelta(hours=10))
        bodies = [json.loads(g.body) for g in rec.got]
    assert state["runs"] == 5
    runs = sorted(m.monitor_history("hourly", limit=100), key=lambda r: r["window_end"])
    assert len(runs) == 10
    seen = [m.monitor_run("hourly", r["id"])["result"]["detectors"] for r in runs]

    # The oracle: the same detector on the error stream NumPy computes, in event-time order, in one go.
    ordered = raw.sort_values(["ts", "request_id"], kind="stable").reset_index(drop=True)
    errors = (ordered["approved"].astype(bool) != ordered["repaid"].astype(bool)).to_numpy(float)
    hits, points = _oracle(errors)
    assert len(hits) >= 1, "the oracle must detect the jump for this test to mean anything"
    hour_of = ((ordered["ts"] - T0) // pd.Timedelta(hours=1)).to_numpy()
    per_window = np.bincount(hour_of[hits], minlength=10).tolist()
    assert [s["errors"]["detections"] for s in seen] == per_window
    assert [s["errors"]["n"] for s in seen] == [PER_HOUR] * 10
    first = next(i for i, s in enumerate(seen) if s["errors"]["detected"])
    got = seen[first]["errors"]
    assert got["change_index"] == int(points[0])
    truth = ordered["ts"].iloc[int(points[0])]
    assert got["change_at"] == truth.isoformat()
    assert abs(truth - CHANGE) < dt.timedelta(minutes=5)
    assert got["before"] < 0.2 < got["after"]

    opened = [b for b in bodies if b["check"]["check"] == "detector:errors"]
    assert [b["event"] for b in opened[:2]] == ["incident.opened", "incident.resolved"]
    said = f"the error rate rose from about {truth.strftime('%Y-%m-%d %H:%M')} UTC"
    assert said in opened[0]["text"], opened[0]["text"]
    assert opened[0]["window"]["end"] == runs[first]["window_end"]

    # The feature's mean per 10-minute sub-window: pandas' resample, fed to the same detector.
    means = ordered.set_index("ts")["income"].resample("10min").mean().dropna()
    f_hits, f_points = _oracle(means.to_numpy(), clock=1)
    fed = [s["incomes"] for s in seen]
    assert sum(f["n"] for f in fed) == len(means)
    assert sum(f["detections"] for f in fed) == len(f_hits) >= 1
    f_first = next(f for f in fed if f["detected"])
    assert f_first["change_at"] == means.index[int(f_points[0])].isoformat()
    assert means.index[int(f_points[0])] == pd.Timestamp(T0 + dt.timedelta(hours=8))
    c.close()
