"""A server or a database, never both silently (decision 0047, second round): a target typed on the command
line wins over one from the environment; two at the same level are one line and exit code 2. Each command
runs in a fresh process, against a real SQLite file and a closed port on loopback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from loopwise.datasets import CREDIT_SCHEMA_YAML

CLOSED = "http://127.0.0.1:1"  # nothing listens there: a command that went to the server says so


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LOOPWISE_")}
    return subprocess.run(
        [sys.executable, "-m", "loopwise.cli", *args],
        capture_output=True, text=True, timeout=180, check=False,
        env={**base, "COLUMNS": "400", **(env or {})},
    )  # fmt: skip


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = tmp_path_factory.mktemp("targets")
    (d / "schema.yaml").write_text(CREDIT_SCHEMA_YAML)
    path = str(d / "lw.db")
    r = _cli("models", "register", "credit", "--schema", str(d / "schema.yaml"), "--local", path, "--create")
    assert r.returncode == 0, r.stderr
    return path


def _refused(r: subprocess.CompletedProcess[str]) -> None:
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: parameter '--url' must be left out with --local")
    assert "not both" in lines[0] and "LOOPWISE_URL" not in lines[0] and r.stdout == ""


@pytest.mark.parametrize(
    "command",
    [["models", "list"], ["monitors", "list", "credit"], ["versions", "list", "credit"], ["users", "list"]],
)
def test_local_and_url_both_typed_is_refused(db: str, command: list[str]) -> None:
    _refused(_cli(*command, "--local", db, "--url", CLOSED, "--api-key", "lw_a_b"))


def test_typed_local_wins_over_an_environment_url(db: str) -> None:
    env = {"LOOPWISE_URL": CLOSED, "LOOPWISE_API_KEY": "lw_a_b"}
    r = _cli("models", "list", "--local", db, env=env)
    assert r.returncode == 0 and r.stdout.split() == ["credit"], r.stderr
    r = _cli("versions", "list", "credit", "--local", db, env=env)
    assert r.returncode == 0, r.stderr
    r = _cli("users", "list", "--local", db, env=env)
    assert r.returncode == 0 and r.stdout == "", r.stderr


def test_a_typed_url_wins_over_an_environment_database(db: str) -> None:
    from loopwise.store import sqlite_url

    database = {"LOOPWISE_DATABASE_URL": sqlite_url(db)}
    r = _cli("users", "list", "--url", CLOSED, "--api-key", "lw_a_b", env=database)
    assert r.returncode == 2 and "cannot reach the server at http://127.0.0.1:1" in r.stderr, r.stderr
    # Both from the environment: which was meant cannot be guessed.
    env = {"LOOPWISE_URL": CLOSED, "LOOPWISE_API_KEY": "lw_a_b", "LOOPWISE_DATABASE_URL": sqlite_url(db)}
    r = _cli("users", "list", env=env)
    assert r.returncode == 2 and "LOOPWISE_URL and LOOPWISE_DATABASE_URL are both set" in r.stderr, r.stderr
