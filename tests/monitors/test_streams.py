"""Stream detectors in a monitor, on SQLite and PostgreSQL: an error rate that jumps from 10% to 40% at a
known time (5:20 into the traffic, labels joined) is detected, and the alert says the error rate rose from
about then (within five minutes); the detections and the change time are those of the same detector fed the
error stream computed with NumPy from the raw rows and labels, in event-time order, uninterrupted, though
the monitor ran in two passes of two clients (its state crossed a restart through the database). A feature's
mean per 10-minute sub-window is checked the same way against pandas' resample."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from tests._fixtures import Running, run_cli
from tests._fixtures.http import SCHEMA, client, register, sdk, traffic
from tests.alerts.receiver import receiver

import loopwise as lw
from loopwise.alerts import AlertSettings
from loopwise.detectors import ADWIN
from loopwise.loop import run_pass

T0 = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=14)
CHANGE = T0 + dt.timedelta(hours=5, minutes=20)
PER_HOUR = 600
SUITE = {"suite": "s", "checks": [{"metric": "row_count", "condition": {"ge": 1}, "name": "rows"}]}


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
    # A detector reports a change, not a state: its incident "resolves" in the next quiet window, and says so.
    assert "detector:errors found a change: " in opened[0]["text"]
    quiet = opened[1]["text"].splitlines()[1]
    assert (
        quiet.startswith("detector:errors: no further change in this window") and "passes again" not in quiet
    )
    assert "may persist" in quiet

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


def test_stream_detectors_are_declared_like_the_rest_of_a_monitor(server: Running, tmp_path: Path) -> None:
    """Over HTTP (the SDK) and from a YAML file (the CLI): stream detectors are stored as declared; one the
    model cannot give, or malformed, is refused naming the parameter, and the CLI says so in one line."""
    register(client(server))
    m = sdk(server).model("credit")
    base = {"name": "s", "suite": SUITE, "window": "1h", "step": "1h", "reference": None}
    good = [
        {"name": "e", "kind": "hddm_a", "stream": "error", "delay": "2h"},
        {"name": "p", "kind": "adwin", "stream": "score", "every": "10m"},
        {
            "name": "i",
            "kind": "page_hinkley",
            "stream": "feature",
            "column": "income",
            "params": {"delta": 5.0},
        },
    ]
    stored = m.add_monitor({**base, "detectors": good})
    assert stored["detectors"] == [
        {"name": "e", "kind": "hddm_a", "stream": "error", "delay": 7200, "params": {}},
        {"name": "p", "kind": "adwin", "stream": "score", "every": 600, "params": {}},
        {
            "name": "i",
            "kind": "page_hinkley",
            "stream": "feature",
            "column": "income",
            "params": {"delta": 5.0},
        },
    ]
    refused = [
        (
            {"name": "x", "kind": "adwin", "stream": "feature", "column": "purpose"},
            "numeric or boolean column",
        ),
        ({"name": "x", "kind": "adwin", "stream": "feature"}, "needs 'column'"),
        ({"name": "x", "kind": "adwin", "stream": "score", "column": "income"}, "p_approve"),
        ({"name": "x", "kind": "adwin", "stream": "errors"}, "'error', 'score', 'feature'"),
        ({"name": "x", "kind": "adwin", "stream": "error", "watch": "rows"}, "exactly one of 'watch'"),
        ({"name": "x", "kind": "adwin", "watch": "rows", "every": "5m"}, "keys of a 'stream' detector"),
        ({"name": "x", "kind": "adwin", "stream": "error", "every": "soon"}, "detectors\\[0\\]\\.every"),
        ({"name": "x", "kind": "adwin", "stream": "error", "params": {"nope": 1}}, "ADWIN's parameters"),
    ]
    for spec, said in refused:
        with pytest.raises(lw.LoopwiseError, match=said):
            m.add_monitor({**base, "name": "bad", "detectors": [spec]})
    assert [x["name"] for x in m.monitors()] == ["s"]

    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump({**base, "name": "from-file", "detectors": good[:1]}))
    auth = ["--url", server.url, "--api-key", server.admin_key]
    r = run_cli("monitors", "add", "credit", str(path), *auth)
    assert r.returncode == 0, r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**base, "name": "bad", "detectors": [refused[0][0]]}))
    r = run_cli("monitors", "add", "credit", str(bad), *auth)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "numeric or boolean column" in r.stderr


def test_a_score_stream_and_a_regressor_s_errors_with_a_delay(db_url: str) -> None:
    """The score stream is each event's score, in event order (NumPy on the raw rows); a regressor's error
    stream is the absolute error; ``delay`` shifts each run's slice back, so a window's events are fed by the
    run an hour later, with the labels that joined meanwhile."""
    from sqlalchemy import select

    from loopwise.monitors.streams import read_stream
    from loopwise.store.tables import Model

    raw = _traffic(3)
    c = lw.Client.local(db_url)
    m = c.register("credit", SCHEMA)
    m.log(raw.drop(columns=["repaid"]))
    m.add_monitor(
        name="scores",
        suite=SUITE,
        window="1h",
        step="1h",
        reference=None,
        anchor=(T0 + dt.timedelta(hours=1)).isoformat(),
        detectors=[
            {"name": "score", "kind": "adwin", "stream": "score"},
            {"name": "late", "kind": "adwin", "stream": "error", "delay": "1h"},
        ],
    )
    m.log_feedback(raw["request_id"], raw["repaid"])
    _pass(c, AlertSettings(), T0 + dt.timedelta(hours=3))  # the windows ending at 1:00, 2:00 and 3:00
    runs = sorted(m.monitor_history("scores"), key=lambda r: r["window_end"])
    seen = [m.monitor_run("scores", r["id"])["result"]["detectors"] for r in runs]
    ordered = raw.sort_values(["ts", "request_id"])
    scores = ordered["p_approve"].to_numpy(float).reshape(3, PER_HOUR)
    assert [s["score"]["value"] for s in seen] == pytest.approx(scores.mean(axis=1).tolist())
    assert [s["score"]["n"] for s in seen] == [PER_HOUR] * 3
    errors = (ordered["approved"].astype(bool) != ordered["repaid"].astype(bool)).to_numpy(float)
    # With a delay of an hour, the run ending at 1:00 feeds [-1:00, 0:00) (nothing), the next hour 0, ...
    assert "late" not in seen[0]
    assert [s["late"]["n"] for s in seen[1:]] == [PER_HOUR, PER_HOUR]
    assert [s["late"]["value"] for s in seen[1:]] == pytest.approx(
        errors.reshape(3, PER_HOUR)[:2].mean(axis=1)
    )
    schema = {
        "columns": {
            "id": {"role": "id"},
            "ts": {"role": "timestamp"},
            "x": {"kind": "numeric"},
            "y_hat": {"role": "prediction", "kind": "numeric"},
            "y": {"role": "target", "kind": "numeric"},
        }
    }
    rng = np.random.default_rng(4)
    reg = pd.DataFrame(
        {
            "id": [f"r{i:03d}" for i in range(200)],
            "ts": [T0 + dt.timedelta(seconds=10 * i) for i in range(200)],
            "x": rng.normal(size=200),
            "y_hat": rng.normal(size=200),
        }
    )
    y = reg["y_hat"] + rng.normal(size=200)
    r = c.register("prices", schema)
    r.log(reg)
    r.log_feedback(reg["id"][:150], y[:150])  # the last 50 have no label yet
    with c.transport.read_sessions() as s:  # type: ignore[attr-defined]
        model = s.scalars(select(Model).where(Model.name == "prices")).one()
        got = read_stream(s, model, {"stream": "error"}, T0, T0 + dt.timedelta(hours=1))
    assert got.what == "absolute error"
    assert np.allclose(got.values, np.abs(reg["y_hat"] - y)[:150].to_numpy())
    c.close()


def test_a_consensus_detector_on_a_feature_stream(db_url: str) -> None:
    """``kind: consensus`` in a monitor (decision 0050): on the income stream (doubled from 8:00), each run's
    detections and change index are those of a Consensus fed the raw incomes in event order, in one go,
    though the monitor ran in two passes of two clients (its state crossed a restart through the database)."""
    from loopwise.detectors import Consensus

    hours = 10
    raw = _traffic(hours)
    spec = {"name": "income", "kind": "consensus", "stream": "feature", "column": "income"}
    with lw.Client.local(db_url) as c:
        m = c.register("credit", SCHEMA)
        m.log(raw.drop(columns=["repaid"]))
        m.add_monitor(
            name="incomes",
            suite=SUITE,
            window="1h",
            step="1h",
            reference=None,
            anchor=(T0 + dt.timedelta(hours=1)).isoformat(),
            detectors=[spec],
        )
        _pass(c, AlertSettings(), T0 + dt.timedelta(hours=6))
    with lw.Client.local(db_url) as c:  # a restart: the detector's state comes back from the database
        _pass(c, AlertSettings(), T0 + dt.timedelta(hours=hours))
        m = c.model("credit")
        runs = sorted(m.monitor_history("incomes"), key=lambda r: r["window_end"])
        seen = [m.monitor_run("incomes", r["id"])["result"]["detectors"]["income"] for r in runs]
    ordered = raw.sort_values(["ts", "request_id"])
    known = ordered["income"].notna().to_numpy()  # a missing income is not in the stream
    values = ordered["income"].to_numpy(float)[known]
    ends = np.cumsum(known.reshape(hours, PER_HOUR).sum(axis=1))  # where each hour's values end
    hits, points = Consensus().update_many(values, with_change_points=True)
    assert len(hits) >= 1 and hits[0] >= ends[7]  # the doubling at 8:00, found after it happened
    for k, got in enumerate(seen):
        start = ends[k - 1] if k else 0
        mine = (hits >= start) & (hits < ends[k])
        assert got["n"] == ends[k] - start and got["detected"] == bool(mine.any())
        if mine.any():
            assert got["change_index"] == int(points[mine][-1])


def test_a_change_in_several_columns_is_one_detection_and_one_incident(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A detector over a group of columns (``columns``): income and loan amount both double at 8:00; two
    detectors of one column each would open two incidents, the group's detector (a ``MultiStream`` of
    them) opens one, names the column that placed the change, and fires where the same detector fed
    pandas' 10-minute means of both columns fires."""
    from loopwise.detectors import MultiStream

    monkeypatch.setenv("LOOPWISE_ALERT_ALLOW", "127.0.0.1")
    raw = _traffic(10)
    raw.loc[raw["ts"] >= T0 + dt.timedelta(hours=8), "loan_amount"] *= 2.0
    c = lw.Client.local(db_url)
    m = c.register("credit", SCHEMA)
    m.log(raw.drop(columns=["repaid"]))
    settings = AlertSettings(allow=("127.0.0.1",))
    group = ["income", "loan_amount"]
    with receiver() as rec:
        m.add_monitor(
            name="money",
            suite=SUITE,
            window="1h",
            step="1h",
            reference=None,
            anchor=(T0 + dt.timedelta(hours=1)).isoformat(),
            channels=[{"type": "webhook", "url": f"{rec.url}/hook"}],
            detectors=[
                {
                    "name": "both",
                    "kind": "adwin",
                    "stream": "feature",
                    "columns": group,
                    "every": "10m",
                    "params": {"clock": 1},
                },
                *(
                    {"name": col, "kind": "adwin", "stream": "feature", "column": col, "every": "10m"}
                    | {"params": {"clock": 1}}
                    for col in group
                ),
            ],
        )
        _pass(c, settings, T0 + dt.timedelta(hours=10))
        bodies = [json.loads(g.body) for g in rec.got]
    runs = sorted(m.monitor_history("money", limit=100), key=lambda r: r["window_end"])
    seen = [m.monitor_run("money", r["id"])["result"]["detectors"] for r in runs]

    ordered = raw.sort_values(["ts", "request_id"], kind="stable").reset_index(drop=True)
    means = ordered.set_index("ts")[group].resample("10min").mean().dropna()
    hits, points = MultiStream(member=ADWIN, params={"clock": 1}).update_many(
        means.to_numpy(), with_change_points=True
    )
    alone = [_oracle(means[col].to_numpy(), clock=1) for col in group]
    assert len(hits) == 1 and all(len(a[0]) == 1 for a in alone)  # one change, seen in both columns
    fed = [s["both"] for s in seen]
    assert sum(f["n"] for f in fed) == len(means)
    assert sum(f["detections"] for f in fed) == 1
    got = next(f for f in fed if f["detected"])
    assert got["change_at"] == means.index[int(points[0])].isoformat()
    assert means.index[int(points[0])] == pd.Timestamp(T0 + dt.timedelta(hours=8))
    assert got["column"] in group and got["values"].keys() == set(group)
    column = got["column"]
    assert f"the mean of {column} rose from about" in got["message"]
    before = means[column][means.index < T0 + dt.timedelta(hours=8)]
    assert got["before"] == pytest.approx(before.iloc[-256:].mean())

    def opened(check: str) -> list[dict[str, Any]]:
        return [b for b in bodies if b["check"]["check"] == check and b["event"] == "incident.opened"]

    assert len(opened("detector:both")) == 1  # one incident for the change
    assert len(opened("detector:income")) + len(opened("detector:loan_amount")) == 2  # one per column
    c.close()


def test_a_group_of_columns_is_declared_and_refused_like_a_column(db_url: str) -> None:
    c = lw.Client.local(db_url)
    m = c.register("credit", SCHEMA)
    base = {"name": "s", "suite": SUITE, "window": "1h", "step": "1h", "reference": None}
    spec = {"name": "g", "kind": "consensus", "stream": "feature", "columns": ["income", "age"]}
    stored = m.add_monitor({**base, "detectors": [spec]})
    assert stored["detectors"] == [{**spec, "params": {}}]
    refused = [
        (
            {**spec, "columns": ["income", "purpose"]},
            "'detectors\\[0\\].columns' must be a numeric or boolean",
        ),
        ({**spec, "columns": ["income"]}, "two or more distinct"),
        ({**spec, "columns": ["income", "income"]}, "two or more distinct"),
        ({**spec, "column": "age"}, "not both"),
        ({**spec, "stream": "error"}, "takes no 'columns'"),
        ({**spec, "stream": "score"}, "p_approve"),
        ({**spec, "kind": "multistream"}, "several 'columns'"),
        ({**spec, "params": {"nope": 1}}, "Consensus's parameters"),
        ({"name": "w", "kind": "adwin", "watch": "rows", "columns": ["a", "b"]}, "keys of a 'stream'"),
    ]
    for bad, said in refused:
        with pytest.raises(lw.LoopwiseError, match=said):
            m.add_monitor({**base, "name": "bad", "detectors": [bad]})
    c.close()
