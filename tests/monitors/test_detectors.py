"""Change detectors in a monitor: the watched check's value per window is fed in window order, the state is
kept between passes (to_bytes, no pickle), and the detection falls on the window where the same detector fed
the per-hour row counts (counted with pandas on the raw rows) detects; it alerts as ``detector:<name>``."""

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
from loopwise.detectors import PageHinkley
from loopwise.loop import run_pass

T0 = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
PARAMS = {"min_instances": 5, "delta": 10.0, "threshold": 1500.0}


def test_a_detector_on_a_check_s_values(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPWISE_ALERT_ALLOW", "127.0.0.1")
    rng = np.random.default_rng(3)
    sizes = [int(n) for n in np.r_[rng.normal(500, 20, 12), rng.normal(900, 20, 8)].round()]
    client = lw.Client.local(db_url)
    m = client.register("credit", SCHEMA)
    frames = []
    for h, n in enumerate(sizes):
        df = traffic(n, 60 + h, (T0 + dt.timedelta(hours=h)).isoformat()).drop(columns=["repaid"])
        df["request_id"] = [f"{h}-{i}" for i in range(n)]
        frames.append(df)
    raw = pd.concat(frames, ignore_index=True)
    m.log(raw)
    suite = {"suite": "s", "checks": [{"metric": "row_count", "condition": {"ge": 1}, "name": "rows"}]}
    with receiver() as rec:
        m.add_monitor(
            name="hourly",
            suite=suite,
            window="1h",
            step="1h",
            reference=None,
            anchor=(T0 + dt.timedelta(hours=1)).isoformat(),
            detectors=[{"name": "volume", "kind": "page_hinkley", "watch": "rows", "params": PARAMS}],
            channels=[{"type": "webhook", "url": f"{rec.url}/hook"}],
        )
        sessions = client.transport.sessions  # type: ignore[attr-defined]
        readers = client.transport.read_sessions  # type: ignore[attr-defined]
        settings = AlertSettings(allow=("127.0.0.1",))
        # Two passes, as two scheduler ticks ten hours apart: the detector's state crosses between them.
        run_pass(sessions, readers, settings, now=T0 + dt.timedelta(hours=10))
        run_pass(sessions, readers, settings, now=T0 + dt.timedelta(hours=20))
        events = [json.loads(g.body) for g in rec.got]

    counts = raw["ts"].dt.floor("h").value_counts().sort_index().to_numpy()
    oracle = PageHinkley(**PARAMS)
    detected = []
    for i, v in enumerate(counts):
        oracle.update(float(v))
        if oracle.drift_detected:
            detected.append(i)
    assert detected, "the oracle must detect the jump for this test to mean anything"
    history = sorted(m.monitor_history("hourly", limit=100), key=lambda r: r["window_end"])[:20]
    flagged = [i for i, r in enumerate(history) if any(f["check"] == "detector:volume" for f in r["failed"])]
    assert flagged == detected
    run = m.monitor_run("hourly", history[detected[0]]["id"])
    seen = run["result"]["detectors"]["volume"]
    assert seen["detected"] and seen["value"] == float(counts[detected[0]])
    change = oracle_change(counts, detected[0])
    assert seen["change_window_end"] == (T0 + dt.timedelta(hours=change + 1)).isoformat()
    opened = [e for e in events if e["check"]["check"] == "detector:volume"]
    assert opened[0]["event"] == "incident.opened"
    assert "the change began in the window ending" in opened[0]["text"]

    # The series charts the detector beside the checks (it left it out though the docs said "each check"):
    # per window the value it was fed, pandas' count of the hour's rows, and fail where it detected.
    (series,) = [c for c in m.monitor_series("hourly")["checks"] if c["check"] == "detector:volume"]
    points = series["points"][:20]
    assert [p["value"] for p in points] == [float(v) for v in counts]
    assert [i for i, p in enumerate(points) if p["status"] == "fail"] == detected
    assert {p["threshold"] for p in points} == {"page_hinkley on rows"}
    # Each incident says the windows it opened and resolved in, not only the run's id.
    first = history[detected[0]]
    (incident,) = [i for i in m.incidents("hourly") if i["opened_run_id"] == first["id"]]
    assert incident["check"] == "detector:volume"
    assert incident["opened_window"] == {"start": first["window_start"], "end": first["window_end"]}
    after = history[detected[0] + 1]  # the next window without a detection resolves it
    assert incident["state"] == "resolved" and detected[0] + 1 not in detected
    assert incident["resolved_window"] == {"start": after["window_start"], "end": after["window_end"]}
    client.close()


def oracle_change(counts: np.ndarray, at: int) -> int:
    det = PageHinkley(**PARAMS)
    for v in counts[: at + 1]:
        det.update(float(v))
    assert det.drift_detected and det.change_point is not None
    return det.change_point


def test_a_watch_detector_must_name_a_check_of_the_suite() -> None:
    """A ``watch`` naming no check of the suite never gets a value and never fires: refused when declared (a
    trial declared one with a typo and the monitor ran silently without it). A suite with presets is only
    known when it runs, so its watch names are taken as given."""
    from loopwise.monitors import MonitorSpec

    suite = {"suite": "s", "checks": [{"metric": "row_count", "condition": {"ge": 1}, "name": "rows"}]}
    base = {"name": "m", "suite": suite, "window": "1h", "step": "1h"}
    ok = MonitorSpec.from_dict({**base, "detectors": [{"name": "v", "kind": "adwin", "watch": "rows"}]})
    assert ok.detectors[0]["watch"] == "rows"
    with pytest.raises(
        lw.ParameterError, match=r"'detectors\[0\]\.watch' must be a check of the suite \('rows'\)"
    ):
        MonitorSpec.from_dict({**base, "detectors": [{"name": "v", "kind": "adwin", "watch": "rowz"}]})
    untitled = {"suite": "s", "checks": [{"metric": "psi", "column": "income", "condition": {"lt": 0.2}}]}
    spec = {
        **base,
        "suite": untitled,
        "detectors": [{"name": "v", "kind": "adwin", "watch": "psi[income] < 0.2"}],
    }
    assert MonitorSpec.from_dict(spec).detectors[0]["watch"] == "psi[income] < 0.2"  # its generated title
    # A monitor declared when titles read "lt(0.2)" still names its check (the same one, spelled as then).
    old = {**spec, "detectors": [{"name": "v", "kind": "adwin", "watch": "psi[income] lt(0.2)"}]}
    assert MonitorSpec.from_dict(old).detectors[0]["watch"] == "psi[income] lt(0.2)"
    preset = {"suite": "s", "presets": ["data_drift"]}
    spec = {**base, "suite": preset, "detectors": [{"name": "v", "kind": "adwin", "watch": "anything"}]}
    assert MonitorSpec.from_dict(spec).detectors[0]["watch"] == "anything"
