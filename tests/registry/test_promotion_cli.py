"""Promotion from the shell, on a local database and against a server: listing gate results and pending
promotions, reading and setting the promotion policy (``--json`` as elsewhere), and a repeated ``promote``
that returns the request already waiting instead of making another (decision 0038)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from tests._fixtures import Running, run_cli
from tests._fixtures.registry import OPENED, SCHEMA, http_client
from tests.registry.test_gate import DAY, setup

import loopwise as lw
from loopwise.checks import Suite, non_inferior
from loopwise.client.base import ModelHandle

GATE = Suite("g", [non_inferior("accuracy", margin=0.01)])


@pytest.fixture(scope="module")
def weak(train: tuple[pd.DataFrame, pd.Series]) -> Pipeline:
    X, y = train
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X.assign(age=0.0), y)


def gated(model: ModelHandle, good: Pipeline, weak: Pipeline) -> tuple[int, int]:
    """v1 (weak) champion, v2 (good) replayed and labelled; a passing gate of v2 and a failing one of v1
    against v2. Returns their ids."""
    _X, y, ids = setup(model, good, weak)
    model.log_feedback(ids, y.to_numpy())
    passed = model.gate("v2", GATE, **DAY)
    failed = model.gate("v1", GATE, champion="v2", **DAY)
    assert (passed.status, failed.status) == ("pass", "fail")
    return passed.id, failed.id


def cli_json(*args: str, cwd: Path) -> object:
    r = run_cli(*args, "--json", cwd=cwd)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return json.loads(r.stdout)


def test_promotions_gate_results_and_the_policy_from_the_shell(
    tmp_path: Path, pipeline: Pipeline, weak: Pipeline
) -> None:
    db = tmp_path / "lw.db"
    client = lw.Client.local(db)
    OPENED.append(client)
    model = client.register("credit", SCHEMA)
    passed, failed = gated(model, pipeline, weak)
    where = ("--local", str(db))

    listed = cli_json("versions", "gate-results", "credit", *where, cwd=tmp_path)
    assert [(g["id"], g["version"], g["status"]) for g in listed] == [
        (failed, "v1", "fail"),
        (passed, "v2", "pass"),
    ]
    only = cli_json("versions", "gate-results", "credit", "v2", *where, cwd=tmp_path)
    assert [g["id"] for g in only] == [g.id for g in model.gate_results("v2")] == [passed]
    shown = run_cli("versions", "gate-results", "credit", *where, cwd=tmp_path)
    assert shown.returncode == 0 and "pass: 1 check passed" in shown.stdout

    assert cli_json("versions", "promotion-policy", "credit", *where, cwd=tmp_path) == {
        "model": "credit",
        "policy": "gate",
    }
    r = run_cli("versions", "promotion-policy", "credit", "gate+approval", *where, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "promotion policy of credit: gate+approval"
    assert model.promotion_policy() == "gate+approval"
    r = run_cli("versions", "promotion-policy", "credit", "sometimes", *where, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "error: parameter 'mode' must be 'gate', 'gate+approval', 'approval'; got 'sometimes'"
    ]

    # Asked twice: one request waits, and the second answer is that request.
    first = run_cli("versions", "promote", "credit", "v2", *where, cwd=tmp_path)
    again = run_cli("versions", "promote", "credit", "v2", *where, cwd=tmp_path)
    assert first.returncode == again.returncode == 0
    assert first.stdout == again.stdout and "is pending" in first.stdout
    pending = model.promotions("pending")
    assert len(pending) == 1 and f"promotion {pending[0].id} " in first.stdout
    assert [e["action"] for e in model.audit()].count("promotion.request") == 1

    waiting = cli_json("versions", "promotions", "credit", "--status", "pending", *where, cwd=tmp_path)
    assert [(p["id"], p["version"], p["alias"], p["requested_by"]) for p in waiting] == [
        (pending[0].id, "v2", "champion", "local")
    ]
    maria = lw.Client.local(db, actor="maria")
    OPENED.append(maria)
    maria.model("credit").approve(pending[0].id)
    assert cli_json("versions", "promotions", "credit", "--status", "pending", *where, cwd=tmp_path) == []
    every = cli_json("versions", "promotions", "credit", *where, cwd=tmp_path)
    assert [(p["status"], p["decided_by"]) for p in every] == [("approved", "maria")]
    # Once decided, a new request is a new one.
    model.promotion_policy("approval")
    later = model.promote("v1")
    assert later.status == "pending" and later.id != pending[0].id


def test_the_same_commands_against_a_server(
    server: Running, tmp_path: Path, pipeline: Pipeline, weak: Pipeline
) -> None:
    admin = http_client(server.url, server.admin_key)
    admin.register("credit", SCHEMA)
    passed, failed = gated(admin.model("credit"), pipeline, weak)
    maintainer = ("--url", server.url, "--api-key", server.key("maintainer"))
    viewer = ("--url", server.url, "--api-key", server.key("viewer"))
    listed = cli_json("versions", "gate-results", "credit", *viewer, cwd=tmp_path)
    assert [g["id"] for g in listed] == [failed, passed]

    r = run_cli("versions", "promotion-policy", "credit", "approval", *viewer, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "error: role 'viewer' may not set the promotion policy (PUT /v1/models/credit/promotion-policy): "
        "it needs the role admin"
    ]
    admin_key = ("--url", server.url, "--api-key", server.admin_key)
    assert cli_json("versions", "promotion-policy", "credit", "approval", *admin_key, cwd=tmp_path) == {
        "model": "credit",
        "policy": "approval",
    }
    first = run_cli("versions", "promote", "credit", "v2", *maintainer, cwd=tmp_path)
    # Another maintainer asking for the same promotion gets the same request; they did not make it, so they
    # may approve it.
    other = ("--url", server.url, "--api-key", server.key("maintainer"))
    again = run_cli("versions", "promote", "credit", "v2", *other, cwd=tmp_path)
    assert first.returncode == again.returncode == 0 and first.stdout == again.stdout
    waiting = cli_json("versions", "promotions", "credit", "--status", "pending", *viewer, cwd=tmp_path)
    assert len(waiting) == 1 and f"promotion {waiting[0]['id']} " in first.stdout
    done = run_cli("versions", "approve", "credit", str(waiting[0]["id"]), *other, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("champion: v2, approved by key:")
