"""The registry's error messages read as text: times as ISO 8601 (not ``datetime.datetime(...)``), a name's
rule in words (not a lowercased regular expression), choices listed, the same sentence from both clients,
one line with exit code 2 from the CLI (the trial's wording list)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sklearn.pipeline import Pipeline
from tests._fixtures import Running, run_cli
from tests._fixtures.registry import OPENED, SCHEMA, applicants, http_client

import loopwise as lw
from loopwise.client.base import ModelHandle
from loopwise.errors import LoopwiseError

RULE = "1-200 ASCII letters, digits, '-', '_' or '.', the first a letter or digit"
DAY = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
WINDOW = (
    "parameter 'end' must be a time after start (2026-01-02T00:00:00+00:00); got 2026-01-01T00:00:00+00:00"
)


def _mistakes(m: ModelHandle) -> dict[str, Callable[[], Any]]:
    return {
        "alias in a path": lambda: m.set_alias("bad name", "v1"),
        "alias in a body": lambda: m.promote("v1", alias="Bad/Name"),
        "policy": lambda: m.promotion_policy("sometimes"),
        "status": lambda: m.promotions("waiting"),
        "window": lambda: m.served(DAY, DAY - dt.timedelta(days=1)),
        "evaluation window": lambda: m.evaluate_version("v1", start=DAY, end=DAY - dt.timedelta(days=1)),
        "scores": lambda: m.log_shadow("v1", ["a"], [True], [DAY]),
    }


def _messages(m: ModelHandle) -> dict[str, str]:
    out = {}
    for what, call in _mistakes(m).items():
        with pytest.raises(LoopwiseError) as caught:
            call()
        out[what] = str(caught.value)
    return out


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_both_clients_say_the_same_plain_sentences(
    server: Running, tmp_path: Path, pipeline: Pipeline
) -> None:
    X, _ = applicants(50, 1)
    remote = http_client(server.url, server.admin_key)
    local = lw.Client.local(tmp_path / "lw.db")
    OPENED.append(local)
    said = []
    for client in (remote, local):
        m = client.register("credit", SCHEMA)
        # A training window of dates is read as days (it was refused with a date's repr).
        v = m.register_version(
            "v1", pipeline, sample=X, lineage={"training_window": (dt.date(2026, 1, 1), DAY)}
        )
        assert v.lineage["training_window"] == ["2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00"]
        said.append(_messages(m))
    assert said[0] == said[1]
    got = said[0]
    assert got["alias in a path"] == f"parameter 'alias' must be {RULE}; got 'bad name'"
    assert got["alias in a body"] == f"parameter 'alias' must be {RULE}; got 'Bad/Name'"
    assert got["policy"] == "parameter 'mode' must be 'gate', 'gate+approval', 'approval'; got 'sometimes'"
    assert got["window"] == WINDOW
    assert got["evaluation window"] == got["window"]
    assert got["scores"] == (
        "parameter 'scores[0]' must be a probability, or a {class: probability} dict; "
        "got 2026-01-02T00:00:00+00:00"
    )
    for text in got.values():
        assert "datetime.datetime(" not in text and "a-za-z" not in text and "\n" not in text


def test_the_cli_prints_one_plain_line(tmp_path: Path, pipeline: Pipeline) -> None:
    X, _ = applicants(50, 1)
    with lw.Client.local(tmp_path / "lw.db") as client:
        client.register("credit", SCHEMA).register_version("v1", pipeline, sample=X)
    where = ("--local", "lw.db")
    r = run_cli(
        "versions",
        "evaluate",
        "credit",
        "v1",
        "--start",
        "2026-01-02",
        "--end",
        "2026-01-01",
        *where,
        cwd=tmp_path,
    )
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [f"error: {WINDOW}"]
    r = run_cli("versions", "promote", "credit", "v1", "--alias", "a b", *where, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"error: parameter 'alias' must be {RULE}; got 'a b'"
    ]
    shown = run_cli("history", "--help", cwd=tmp_path)
    line = next(x for x in shown.stdout.splitlines() if "--alias" in x)
    assert "The alias to look up" in line and "to move" not in line


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_bad_version_name_is_parameter_version_from_both_clients(
    server: Running, tmp_path: Path, pipeline: Pipeline
) -> None:
    import base64
    import io

    import httpx
    from skops.io import dumps

    X, _ = applicants(50, 1)
    remote = http_client(server.url, server.admin_key)
    local = lw.Client.local(tmp_path / "lw.db")
    OPENED.append(local)
    said: list[str] = []
    for client in (remote, local):
        m = client.register("credit", SCHEMA)
        # With a sample (JSON body over HTTP) and without (the raw upload, the name in the query).
        for artifact, sample in ((pipeline, X), (io.BytesIO(dumps(pipeline)), None)):
            with pytest.raises(LoopwiseError) as caught:
                m.register_version("../x", artifact, sample=sample)
            said.append(str(caught.value))
    assert said == [f"parameter 'version' must be {RULE}; got '../x'"] * 4
    # A body or query with the former key ``name`` is still read (and a bad one named ``version`` too).
    auth = {"Authorization": f"Bearer {server.admin_key}"}
    url = f"{server.url}/v1/models/credit/versions"
    body = {"flavor": "sklearn", "artifact": base64.b64encode(dumps(pipeline)).decode()}
    rows = X.head(5).to_dict(orient="records")
    r = httpx.post(url, json={"name": "v-old", **body, "sample": rows}, headers=auth)
    assert r.status_code == 201 and r.json()["name"] == "v-old"
    r = httpx.post(url, json={"name": "a b", **body}, headers=auth)
    assert r.status_code == 422 and r.json()["error"] == f"parameter 'version' must be {RULE}; got 'a b'"
    r = httpx.post(url, json={"version": "v-new", **body, "sample": rows}, headers=auth)
    assert r.status_code == 201 and r.json()["name"] == "v-new"
    raw = {**auth, "Content-Type": "application/octet-stream"}
    r = httpx.post(url, params={"name": "a/b"}, content=dumps(pipeline), headers=raw)
    assert r.status_code == 422 and r.json()["error"] == f"parameter 'version' must be {RULE}; got 'a/b'"
    assert [v.name for v in remote.model("credit").versions()] == ["v-old", "v-new"]
