"""What the shell says (trial of issue 17): ``loopwise monitors run`` that sent the alerts a earlier pass left
pending printed only "0 windows run"; ``monitors history`` of a monitor without runs printed nothing; and
``--limit 0`` drew typer's boxed error. A fresh process as a user runs it, a real webhook receiver on
loopback."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from tests._fixtures.http import SCHEMA, traffic
from tests.alerts.receiver import receiver

import loopwise as lw

T0 = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPWISE_")}
    return subprocess.run(
        [sys.executable, "-m", "loopwise.cli", *args],
        capture_output=True, text=True, timeout=180, check=False,
        env={**env, "COLUMNS": "400", "LOOPWISE_ALERT_ALLOW": "127.0.0.1"},
    )  # fmt: skip


def _two_hours(tmp_path: Path) -> str:
    """A database with model ``credit`` and two hours of traffic from T0, 300 events each."""
    db = str(tmp_path / "lw.db")
    c = lw.Client.local(db, create=True)
    m = c.register("credit", SCHEMA)
    for h in range(2):
        df = traffic(300, 70 + h, (T0 + dt.timedelta(hours=h)).isoformat()).drop(columns=["repaid"])
        df["request_id"] = [f"{h}-{i}" for i in range(len(df))]
        m.log(df)
    c.close()
    return db


def test_monitors_run_reports_the_alerts_it_sent_and_history_says_when_there_is_none(tmp_path: Path) -> None:
    db = _two_hours(tmp_path)
    with receiver() as rec:
        check = {"metric": "row_count", "condition": {"ge": 1000}, "name": "many"}
        spec = {
            "name": "hourly",
            "suite": {"suite": "s", "checks": [check]},
            "window": "1h",
            "step": "1h",
            "reference": None,
            "anchor": (T0 + dt.timedelta(hours=1)).isoformat(),
            "channels": [{"type": "webhook", "url": f"{rec.url}/hook"}],
        }  # fmt: skip
        (tmp_path / "m.yaml").write_text(yaml.safe_dump(spec))
        assert _cli("monitors", "add", "credit", str(tmp_path / "m.yaml"), "--local", db).returncode == 0

        r = _cli("monitors", "history", "credit", "hourly", "--local", db)
        assert (r.returncode, r.stdout, r.stderr) == (0, "", "no runs\n")  # it printed nothing at all
        r = _cli("monitors", "history", "credit", "hourly", "--before", T0.isoformat(), "--local", db)
        assert r.stderr == f"no runs with a window ending before {T0.isoformat()}\n"
        for limit in ("0", "1001"):
            r = _cli("monitors", "history", "credit", "hourly", "--limit", limit, "--local", db)
            assert r.returncode == 2 and r.stderr == (
                f"error: parameter '--limit' must be a number of runs from 1 to 1000; got {limit}\n"
            ), r.stderr

        r = _cli("monitors", "run", "--no-deliver", "--local", db)
        assert r.returncode == 1, r.stderr  # the windows' checks failed: the alert is queued, not sent
        lines = r.stderr.splitlines()
        assert lines[-1].endswith(" windows run"), r.stderr  # nothing was due to send: no word of alerts
        assert rec.got == []
        r = _cli("monitors", "run", "--local", db)
        assert r.returncode == 0, r.stderr
        assert r.stderr.splitlines()[-1] == "0 windows run; 1 alert sent, 0 to retry, 0 failed", r.stderr
        assert [json.loads(g.body)["event"] for g in rec.got] == ["incident.opened"]
        r = _cli("monitors", "history", "credit", "hourly", "--limit", "1000", "--local", db)
        assert r.returncode == 0 and "FAIL (300 rows)" in r.stdout and "no runs" not in r.stderr


def test_monitors_run_exits_1_when_a_window_cannot_run_or_an_alert_is_given_up(tmp_path: Path) -> None:
    """For cron: before, a pass whose only trouble was an alert given up on, or a window that could not be
    run, exited 0."""
    db = _two_hours(tmp_path)

    def add(name: str, check: dict[str, object], **extra: object) -> None:
        spec = {
            "name": name, "suite": {"suite": "s", "checks": [check]}, "window": "1h", "step": "1h",
            "reference": None, "anchor": (T0 + dt.timedelta(hours=1)).isoformat(), **extra,
        }  # fmt: skip
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(spec))
        r = _cli("monitors", "add", "credit", str(tmp_path / f"{name}.yaml"), "--local", db)
        assert r.returncode == 0, r.stderr

    # The checks fail; the incident's alert goes to a hook whose address is in a variable the server does
    # not have: given up at once (it cannot succeed until the operator sets it), not retried.
    hook = {"type": "webhook", "url_env": "LW_TEST_NO_SUCH_HOOK"}
    add("many", {"metric": "row_count", "condition": {"ge": 1000}, "name": "many"}, channels=[hook])
    assert _cli("monitors", "run", "--no-deliver", "--local", db).returncode == 1  # the checks
    r = _cli("monitors", "run", "--local", db)
    assert r.stderr.splitlines()[-1] == "0 windows run; 0 alerts sent, 0 to retry, 1 failed", r.stderr
    assert r.returncode == 1

    # Checks that would pass, on a reference that does not exist: the windows cannot be run.
    add("few", {"metric": "row_count", "condition": {"ge": 1}, "name": "few"}, reference="nope")
    r = _cli("monitors", "run", "--local", db)
    assert r.returncode == 1, r.stderr
    assert (
        "credit/few " in r.stdout
        and "could not run (model 'credit' has no reference named 'nope'" in r.stdout
    )
    # Nothing due: exit 0.
    r = _cli("monitors", "run", "--local", db)
    assert (r.returncode, r.stderr.splitlines()[-1]) == (0, "0 windows run"), r.stderr
