"""A channel naming an environment variable that is not set (decision 0047, second round): each alert on it
fails once, recorded with the reason, instead of being retried like an outage for 40 minutes; and
``loopwise monitors add`` warns (without refusing) when the variable is not set where it runs. A real
webhook receiver on loopback, the delivery log on SQLite and PostgreSQL, the CLI in a fresh process."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.alerts.receiver import receiver
from tests.alerts.test_incidents import SUITE, T0, _model, client  # noqa: F401 (the fixture)

import loopwise as lw
from loopwise.alerts import AlertSettings, deliver_pending
from loopwise.datasets import CREDIT_SCHEMA_YAML


@pytest.mark.parametrize("key", ["secret_env", "url_env"])
def test_an_unset_variable_fails_the_delivery_once(
    client: lw.Client,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    key: str,
) -> None:
    monkeypatch.delenv("LW_TEST_UNSET", raising=False)
    m = _model(client, 1, range(0, 1))
    with receiver() as rec:
        channel = {"type": "webhook", "name": "ops", "url": f"{rec.url}/hook", "secret_env": "LW_TEST_UNSET"}
        if key == "url_env":
            channel = {"type": "webhook", "name": "ops", "url_env": "LW_TEST_UNSET"}
        m.add_monitor(
            name="hourly",
            suite=SUITE,
            window="1h",
            step="1h",
            anchor=(T0 + dt.timedelta(hours=1)).isoformat(),
            channels=[channel],
        )
        runs = [r for r in m.run_monitors("hourly") if r["state"] == "done"]
        assert [r["status"] for r in runs] == ["fail"]  # monitoring went on
        (d,) = m.deliveries("hourly")
        assert (d["state"], d["attempts"]) == ("failed", 1), d
        assert f"ops.{key}" in d["last_error"] and "'LW_TEST_UNSET'" in d["last_error"]
        assert "not set" in d["last_error"] and "not retried" in d["last_error"]
        # Nothing is due later: the old code had it pending, retried for hours (8 attempts).
        sessions = client.transport.sessions  # type: ignore[attr-defined]
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
        assert deliver_pending(sessions, AlertSettings(allow=("127.0.0.1",)), now=later) == {
            "sent": 0, "retrying": 0, "failed": 0
        }  # fmt: skip
        assert rec.got == []


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LOOPWISE_") and k != "LW_TEST_HOOK"}
    return subprocess.run(
        [sys.executable, "-m", "loopwise.cli", *args],
        capture_output=True, text=True, timeout=180, check=False, env={**base, "COLUMNS": "400", **env},
    )  # fmt: skip


def test_monitors_add_warns_of_an_unset_variable(tmp_path: Path) -> None:
    (tmp_path / "schema.yaml").write_text(CREDIT_SCHEMA_YAML)
    db = str(tmp_path / "lw.db")
    schema = str(tmp_path / "schema.yaml")
    r = _cli("models", "register", "credit", "--schema", schema, "--local", db, "--create", env={})
    assert r.returncode == 0, r.stderr
    spec = {
        "name": "hourly",
        "suite": {"suite": "s", "checks": [{"metric": "row_count", "condition": {"ge": 1}}]},
        "window": "1h",
        "step": "1h",
        "channels": [{"type": "slack", "name": "team", "url_env": "LW_TEST_HOOK"}],
    }
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(spec))
    r = _cli("monitors", "add", "credit", str(tmp_path / "m.yaml"), "--local", db, env={})
    assert r.returncode == 0, r.stderr  # declared all the same: the server may have the variable
    lines = r.stderr.strip().splitlines()
    assert lines[0].endswith("1 channel"), lines
    assert lines[1:] == [
        "warning: channel 'team': url_env LW_TEST_HOOK is not set here; the process that sends the alerts "
        "(the server) needs it, else each alert on this channel fails"
    ]
    r = _cli("monitors", "add", "credit", str(tmp_path / "m.yaml"), "--replace", "--local", db,
             env={"LW_TEST_HOOK": "https://hooks.example.com/x"})  # fmt: skip
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
