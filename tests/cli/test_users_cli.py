"""``loopwise users`` over HTTP (decision 0046): a fresh process talking to a real server on loopback, on
SQLite and PostgreSQL, through ``/v1/users`` and the SDK; and refusing an ambiguous target."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select
from tests._fixtures import Running, run_cli
from tests._fixtures.http import client, register

from loopwise.store import make_engine, session_factory, sqlite_url
from loopwise.store.tables import AuditEntry


def _cli(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LOOPWISE_")}
    return subprocess.run(
        [sys.executable, "-m", "loopwise.cli", "users", *args],
        input=stdin, capture_output=True, text=True, timeout=180, check=False,
        env={**base, "COLUMNS": "400", **(env or {})},
    )  # fmt: skip


def test_users_over_http_with_url_and_key(server: Running) -> None:
    admin = client(server)
    register(admin, "credit")
    register(admin, "fraud")
    net = ("--url", server.url, "--api-key", server.admin_key)
    add = _cli("add", "ana", "--model", "credit", "--password-stdin", *net, stdin="a long enough password\n")
    assert add.returncode == 0, add.stderr
    assert add.stdout.strip() == "user ana (reviewer; models: credit)"
    # What the server holds, read over HTTP by the test, not through the CLI.
    assert admin.get("/v1/users/ana").json() == {
        "name": "ana", "role": "reviewer", "disabled": False, "models": ["credit"]
    }  # fmt: skip
    # LOOPWISE_URL and LOOPWISE_API_KEY in the environment do the same as the options.
    env = {"LOOPWISE_URL": server.url, "LOOPWISE_API_KEY": server.admin_key}
    assert _cli("grant", "ana", "--model", "fraud", env=env).stdout.strip() == "user ana: credit, fraud"
    assert _cli("revoke", "ana", "--model", "credit", env=env).stdout.strip() == "user ana: fraud"
    assert _cli("role", "ana", "maintainer", env=env).stdout.strip() == "user ana is now maintainer"
    assert _cli("disable", "ana", env=env).stdout.strip() == "user ana disabled"
    assert admin.get("/v1/users/ana").json()["disabled"] is True
    assert _cli("enable", "ana", env=env).stdout.strip() == "user ana enabled"
    assert _cli("list", env=env).stdout.split() == ["ana", "maintainer", "fraud"]
    assert _cli("show", "ana", env=env).stdout.split() == ["ana", "maintainer", "fraud"]
    # Each change is the server's, in its audit log under the key's actor (not "cli", the database's).
    engine = make_engine(server.db_url)
    with session_factory(engine)() as s:
        trail = s.execute(
            select(AuditEntry.action, AuditEntry.actor).where(AuditEntry.action.like("user.%"))
        ).all()
    engine.dispose()
    assert [a for a, _ in trail] == [
        "user.create", "user.grant", "user.revoke", "user.role", "user.disable", "user.enable"
    ]  # fmt: skip
    assert len({actor for _, actor in trail}) == 1 and trail[0][1].endswith(":test-admin")  # the server's key
    # The server's refusals, one line and exit code 2.
    missing = _cli("show", "nobody", env=env)
    assert missing.returncode == 2 and missing.stderr.strip() == "error: no user named 'nobody'"
    limited = _cli("list", "--url", server.url, "--api-key", server.key("admin", "credit"))
    assert limited.returncode == 2 and "limited to some models may not manage users" in limited.stderr
    viewer = _cli("list", "--url", server.url, "--api-key", server.key("viewer"))
    assert viewer.returncode == 2 and "may not list the users (GET /v1/users)" in viewer.stderr
    short = _cli("add", "ben", "--model", "credit", "--password-stdin", *net, stdin="short\n")
    assert short.returncode == 2 and "at least 10 characters" in short.stderr


def test_a_server_and_a_database_at_once_is_refused(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "lw.db")
    both = _cli("list", "--url", "http://127.0.0.1:9", "--api-key", "k", "--database-url", url)
    assert both.returncode == 2
    assert both.stderr.startswith("error: parameter '--url' must be left out with --local or --database-url")
    # Without --url the database is used, and it must exist (a mistyped path creates nothing).
    gone = run_cli("users", "list", "--database-url", url)
    assert gone.returncode == 2 and not (tmp_path / "lw.db").exists()
