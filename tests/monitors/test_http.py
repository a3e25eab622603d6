"""Monitors over real HTTP on SQLite and PostgreSQL: declared, refused, run and read through the SDK's HTTP
client and the CLI; what a run counts is checked against the raw rows of its window (pandas)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml
from tests._fixtures import Running, run_cli
from tests._fixtures.http import client, register, sdk, traffic

import loopwise as lw
from loopwise.errors import ForbiddenError

T0 = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
SUITE = {
    "suite": "watch",
    "checks": [
        {"metric": "row_count", "condition": {"ge": 1000}},
        {"metric": "psi", "column": "income", "condition": {"lt": 0.2}},
    ],
}


def _traffic(hours: int) -> pd.DataFrame:
    frames = []
    for h in range(hours):
        # 1,200 rows in hour 0, 900 in hour 1, 1,200 in hour 2: hour 1 fails ``row_count >= 1000``.
        df = traffic(900 if h == 1 else 1200, 10 + h, (T0 + dt.timedelta(hours=h)).isoformat())
        df["request_id"] = [f"{h}-{i}" for i in range(len(df))]
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def _monitor(**extra: object) -> dict[str, object]:
    return {
        "name": "hourly",
        "suite": SUITE,
        "window": "1h",
        "step": "1h",
        "segments": ["race"],
        "anchor": (T0 + dt.timedelta(hours=1)).isoformat(),
        **extra,
    }


def test_monitors_over_http(server: Running) -> None:
    register(client(server))
    m = sdk(server).model("credit")
    df = _traffic(3)
    m.log(df.drop(columns=["repaid"]))
    m.set_reference(traffic(4000, 1, "2026-11-01T00:00:00Z").drop(columns=["repaid"]))
    stored = m.add_monitor(_monitor())
    assert (stored["window"], stored["step"], stored["runs"], stored["reference"]) == (
        "1h",
        "1h",
        0,
        "default",
    )
    with pytest.raises(lw.ConflictError, match="already has a monitor named 'hourly'"):
        m.add_monitor(_monitor())
    with pytest.raises(lw.ParameterError, match="parameter 'window'"):
        m.add_monitor(_monitor(name="bad", window="an hour"))
    with pytest.raises(lw.SchemaError, match=r"unknown key.*'password'"):
        m.add_monitor(_monitor(name="bad", channels=[{"type": "email", "password": "x"}]))
    with pytest.raises(lw.ParameterError, match="loopback, private, link-local"):
        m.add_monitor(_monitor(name="bad", channels=[{"type": "webhook", "url": "http://10.0.0.1/hook"}]))
    with pytest.raises(lw.NotFoundError, match="no monitor named 'nope'; its monitors: hourly"):
        m.monitor_history("nope")

    runs = [r for r in m.run_monitors() if r["state"] == "done"]
    assert [r["window_end"] for r in runs] == [(T0 + dt.timedelta(hours=h)).isoformat() for h in (1, 2, 3)]
    hours = df["ts"].dt.floor("h")
    for r in runs:
        start = pd.Timestamp(r["window_start"])
        assert r["n"] == int((hours == start).sum())  # the window's rows, counted on the raw frame
    assert [r["status"] for r in runs][1] == "fail"
    detail = m.monitor_run("hourly", runs[1]["id"])
    by_race = df[hours == pd.Timestamp(runs[1]["window_start"])].groupby("race").size()
    seg = detail["result"]["segments"]
    assert {k: v["checks"][0]["actual"] for k, v in seg.items()} == {
        f"race={k}": float(v) for k, v in by_race.items()
    }
    assert detail["result"]["all"]["checks"][0]["actual"] == 900.0

    _check_metrics(server)
    first = m.monitor_history("hourly", limit=1000)
    again = m.run_monitors()  # nothing new is due (unless an hour ended meanwhile): no window runs twice
    assert not {r["window_end"] for r in again} & {r["window_end"] for r in first}
    history = m.monitor_history("hourly", limit=1000)
    done = [r for r in history if r["state"] == "done"]
    assert [r["id"] for r in done] == [r["id"] for r in reversed(runs)] and {
        r["attempts"] for r in history
    } == {1}
    series = {(c["check"], c["segment"]): c["points"] for c in m.monitor_series("hourly")["checks"]}
    assert [p["value"] for p in series[("row_count >= 1000", "")]] == [1200.0, 900.0, 1200.0]

    incidents = m.incidents("hourly")
    whole = [i for i in incidents if i["segment"] == ""]
    assert [(i["check"], i["state"], i["failures"]) for i in whole] == [("row_count >= 1000", "resolved", 1)]

    changed = m.add_monitor(_monitor(step="2h", window="2h"), replace=True)
    assert (changed["step"], changed["runs"]) == ("2h", len(history))

    viewer = sdk(server, server.key("viewer")).model("credit")
    assert [x["name"] for x in viewer.monitors()] == ["hourly"]
    with pytest.raises(ForbiddenError):
        viewer.add_monitor(_monitor(name="other"))
    with pytest.raises(ForbiddenError):
        viewer.run_monitors("hourly")
    m.delete_monitor("hourly")
    assert m.monitors() == []


def test_the_cli(server: Running, tmp_path: Path) -> None:
    register(client(server))
    m = sdk(server).model("credit")
    m.log(_traffic(3).drop(columns=["repaid"]))
    m.set_reference(traffic(4000, 1, "2026-11-01T00:00:00Z").drop(columns=["repaid"]))
    spec = tmp_path / "monitor.yaml"
    spec.write_text(yaml.safe_dump(_monitor(segments=[])))
    auth = ["--url", server.url, "--api-key", server.admin_key]

    r = run_cli("monitors", "add", "credit", str(spec), *auth)
    assert r.returncode == 0, r.stderr
    assert "monitor 'hourly' of model 'credit': windows of 1h every 1h" in r.stderr
    r = run_cli("monitors", "add", "credit", str(spec), *auth)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "already has a monitor" in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_monitor(name="bad", step="often")))
    r = run_cli("monitors", "add", "credit", str(bad), *auth)
    assert r.returncode == 2 and r.stderr.startswith("error: parameter 'step'") and r.stderr.count("\n") == 1
    r = run_cli("monitors", "add", "credit", str(tmp_path / "none.yaml"), *auth)
    assert r.returncode == 2 and "no monitor file" in r.stderr

    r = run_cli("monitors", "list", "credit", *auth)
    assert r.returncode == 0 and "hourly" in r.stdout

    r = run_cli("monitors", "run", "credit", "--name", "hourly", *auth)
    assert r.returncode == 1, r.stderr  # the second hour's row count fails
    lines = r.stdout.splitlines()
    assert any(
        "2026-11-20T01:00:00+00:00 .. 2026-11-20T02:00:00+00:00: FAIL (900 rows): row_count >= 1000 900"
        " against >= 1000" in x
        for x in lines
    ), r.stdout
    # The hours after the traffic up to now are empty: one line for the stretch, not one per hour.
    empty = [x for x in lines if "no traffic" in x]
    assert len(empty) == 1, r.stdout
    _, start, _, end = empty[0].split(": ")[0].split(" ")
    assert start == "2026-11-20T03:00:00+00:00"
    hours = (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)) // dt.timedelta(hours=1)
    assert empty[0].endswith(f"no traffic ({hours} windows)") and f"{3 + hours} windows run" in r.stderr
    r = run_cli("monitors", "run", *auth)
    assert r.returncode == 0 and "0 windows run" in r.stderr  # nothing is due twice
    r = run_cli("monitors", "history", "credit", "hourly", "--limit", "1000", *auth)
    assert r.returncode == 0 and "PASS (1,200 rows)" in r.stdout and "FAIL (900 rows)" in r.stdout
    assert sum("no traffic" in x for x in r.stdout.splitlines()) == 1, r.stdout
    # A short listing says how to page back; the next page holds the older windows, the traffic's among them.
    r = run_cli("monitors", "history", "credit", "hourly", "--limit", "2", *auth)
    assert r.returncode == 0 and "rows)" not in r.stdout  # the two newest windows had no traffic
    (hint,) = [x for x in r.stderr.splitlines() if x.startswith("older windows: --before ")]
    before = hint.rsplit(" ", 1)[1]
    assert before == (dt.datetime.fromisoformat(end) - dt.timedelta(hours=1)).isoformat()
    r = run_cli("monitors", "history", "credit", "hourly", "--before", before, "--limit", "1000", *auth)
    assert r.returncode == 0 and "PASS (1,200 rows)" in r.stdout and "FAIL (900 rows)" in r.stdout
    assert "older windows" not in r.stderr
    r = run_cli("monitors", "history", "credit", "nope", *auth)
    assert r.returncode == 2 and "no monitor named 'nope'" in r.stderr
    _incidents_from_the_shell(server, auth)

    # A run whose status is ``error`` says which check could not be computed, and why (no labels here).
    labels = tmp_path / "labels.yaml"
    suite = {"suite": "quality", "checks": [{"metric": "accuracy", "condition": {"ge": 0.7}}]}
    labels.write_text(yaml.safe_dump(_monitor(name="labels", suite=suite, segments=[])))
    assert run_cli("monitors", "add", "credit", str(labels), *auth).returncode == 0
    r = run_cli("monitors", "run", "credit", "--name", "labels", *auth)
    assert r.returncode == 0, r.stderr  # an error is not a failure
    assert (
        "2026-11-20T00:00:00+00:00 .. 2026-11-20T01:00:00+00:00: ERROR (1,200 rows): accuracy >= 0.7 not "
        "computable (no labelled rows)" in r.stdout
    ), r.stdout
    runs = sdk(server).model("credit").monitor_history("labels", 1000)
    assert {(e["check"], e["reason"]) for r in runs for e in r.get("errors") or []} == {
        ("accuracy >= 0.7", "no labelled rows")
    }


def _incidents_from_the_shell(server: Running, auth: list[str]) -> None:
    """Every listing takes --json and prints what the SDK answers; incidents and deliveries are listed."""
    model = sdk(server).model("credit")
    for args, expected in (
        (("history", "credit", "hourly", "--limit", "1000"), model.monitor_history("hourly", 1000)),
        (("list", "credit"), model.monitors()),
        (("incidents", "credit", "hourly"), model.incidents("hourly")),
        (("deliveries", "credit", "hourly"), model.deliveries("hourly")),
    ):
        r = run_cli("monitors", *args, "--json", *auth)
        assert r.returncode == 0 and json.loads(r.stdout) == expected, (args, r.stderr)
    (incident,) = model.incidents("hourly")  # the second hour's row count
    r = run_cli("monitors", "incidents", "credit", "hourly", *auth)
    assert r.returncode == 0 and incident["check"] in r.stdout and incident["state"] in r.stdout, r.stdout
    r = run_cli("monitors", "incidents", "credit", "hourly", "--state", "shut", *auth)
    assert r.returncode == 2 and r.stderr.startswith("error: parameter '--state' must be 'open', 'resolved'")


def _check_metrics(server: Running) -> None:
    """/metrics: each check of the latest window that ran (the third hour: 1,200 rows, every check passes)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(server.url + "/metrics", timeout=30).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name.startswith(("loopwise_monitor", "loopwise_alert"))
    }
    key = (("check", "row_count >= 1000"), ("model", "credit"), ("monitor", "hourly"), ("segment", ""))
    assert samples[("loopwise_monitor_check_status", key)] == 0
    assert samples[("loopwise_monitor_check_value", key)] == 1200
    end = samples[("loopwise_monitor_window_end_seconds", (("model", "credit"), ("monitor", "hourly")))]
    assert end == (T0 + dt.timedelta(hours=3)).timestamp()
    assert samples[("loopwise_alert_deliveries", (("state", "failed"),))] == 0
