"""The registry over real HTTP on loopback: the same answers and errors as the local client, and each
route's role policy (registering and moving aliases: maintainer or admin; a trusted pickle: admin only)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.pipeline import Pipeline
from tests._fixtures import Running
from tests._fixtures.registry import SCHEMA, applicants, http_client, stored_files
from tests.registry.test_aliases import served_frame

from loopwise.errors import ConflictError, DataError, ParameterError, ServerError, UntrustedArtifactError
from loopwise.registry import RegistrySettings


@pytest.fixture
def artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "served-artifacts"
    monkeypatch.setenv("LOOPWISE_ARTIFACT_DIR", str(directory))
    return directory


@pytest.fixture
def trusting(
    artifacts: Path, monkeypatch: pytest.MonkeyPatch, db_url: str, request: pytest.FixtureRequest
) -> Running:
    monkeypatch.setenv("LOOPWISE_TRUST_PICKLE", "1")  # read when the server's Settings are made, next
    running: Running = request.getfixturevalue("server")
    return running


def test_register_load_and_move_aliases_over_http(
    artifacts: Path, server: Running, pipeline: Pipeline
) -> None:
    admin = http_client(server.url, server.admin_key)
    admin.register("credit", SCHEMA)
    maintainer = http_client(server.url, server.key("maintainer")).model("credit")
    viewer = http_client(server.url, server.key("viewer")).model("credit")
    X, y = applicants(300, 30)
    v = maintainer.register_version(
        "v1", pipeline, sample=X, lineage={"reference": X.assign(approved=y), "code_version": "abc"}
    )
    assert (v.flavor, v.format, v.lineage["reference"]) == ("sklearn", "skops", "version:v1")
    assert [p.name for p in stored_files(artifacts)] == [v.sha256]
    loaded = viewer.load_version("v1")
    assert np.array_equal(loaded.predict_proba(X), pipeline.predict_proba(X))

    with pytest.raises(ServerError) as refused:
        viewer.register_version("v2", pipeline, sample=X)
    assert refused.value.status == 403
    with pytest.raises(ServerError) as refused:
        viewer.set_alias("champion", "v1")
    assert refused.value.status == 403

    before = dt.datetime.now(dt.UTC)
    maintainer.set_alias("champion", "v1", evidence={"note": "first"})
    after = dt.datetime.now(dt.UTC)
    (move,) = viewer.alias_history("champion")
    assert (move.to_version, move.evidence) == ("v1", {"note": "first"})
    assert move.actor.endswith("test-maintainer")
    assert before <= move.at <= after
    assert viewer.version_at("champion", before) is None
    assert viewer.version_at("champion", after) == "v1"
    assert viewer.aliases() == {"champion": "v1"}
    with pytest.raises(ConflictError, match="held by 'v1': move it with promote"):
        maintainer.set_alias("champion", None)  # the served alias moves only through promotion
    assert viewer.aliases() == {"champion": "v1"}

    with pytest.raises(DataError, match="the sample has no column 'age'"):
        maintainer.register_version("v3", pipeline, sample=X.drop(columns="age"))
    with pytest.raises(UntrustedArtifactError, match="pickle or joblib"):
        maintainer.register_version("v3", joblib_bytes(pipeline, artifacts.parent), sample=X)
    for bad in ("../../x", "a/b", ".."):  # a name cannot choose where anything is written
        with pytest.raises(ParameterError, match="parameter 'version'"):
            maintainer.register_version(bad, pipeline, sample=X)
    assert [x.name for x in viewer.versions()] == ["v1"]
    assert [p.name for p in stored_files(artifacts)] == [v.sha256]

    # What served: the events' own versions, counted by the server as pandas counts them here.
    frame = served_frame(pipeline)
    maintainer.log(frame)
    inside = frame[(frame.ts >= "2026-12-01 10:30Z") & (frame.ts < "2026-12-01 11:10Z")]
    expected = inside.model_version.value_counts().to_dict()
    assert viewer.served("2026-12-01T10:30:00Z", "2026-12-01T11:10:00Z") == expected


def joblib_bytes(pipeline: Pipeline, folder: Path) -> bytes:
    joblib.dump(pipeline, folder / "m.joblib")
    return (folder / "m.joblib").read_bytes()


def test_a_trusted_pickle_needs_an_admin_key(
    trusting: Running, pipeline: Pipeline, artifacts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = http_client(trusting.url, trusting.admin_key)
    admin.register("credit", SCHEMA)
    maintainer = http_client(trusting.url, trusting.key("maintainer")).model("credit")
    X, _ = applicants(100, 31)
    data = joblib_bytes(pipeline, artifacts.parent)
    with pytest.raises(UntrustedArtifactError, match="from admins only"):
        maintainer.register_version("v1", data, sample=X)
    assert stored_files(artifacts) == []
    v = admin.model("credit").register_version("v1", data, sample=X)
    assert v.format == "pickle"
    # The client loads what it downloads under its own rules (its environment's, read when it loads; here
    # the server's process, so the variable is taken away): by default it trusts no pickle either.
    monkeypatch.delenv("LOOPWISE_TRUST_PICKLE")
    with pytest.raises(UntrustedArtifactError, match="pickle or joblib"):
        maintainer.load_version("v1")
    trusting_client = http_client(
        trusting.url, trusting.key("viewer"), registry=RegistrySettings(trust_pickle=True)
    )
    loaded = trusting_client.model("credit").load_version("v1")
    assert np.array_equal(loaded.predict(X), pipeline.predict(X))


def test_a_time_that_is_not_one_is_worded_as_the_cli_words_it(server: Running, tmp_path: Path) -> None:
    """``?at=garbage`` answered pydantic's "input is too short"; the route, the clients and the CLI now
    share one wording (the trial)."""
    import httpx
    from tests._fixtures import run_cli
    from tests._fixtures.http import client as http

    from loopwise.errors import ISO_TIME

    admin = http_client(server.url, server.admin_key)
    admin.register("credit", SCHEMA)
    expected = f"parameter 'at' must be {ISO_TIME}; got 'garbage'"
    viewer = http(server, server.key("viewer"))
    for at in ("garbage", "2026-13-01"):
        r: httpx.Response = viewer.get("/v1/models/credit/history", params={"at": at})
        assert r.status_code == 422
        assert r.json()["error"] == expected.replace("garbage", at)
        assert r.json()["type"] == "ParameterError"
    served = viewer.get("/v1/models/credit/served", params={"start": "nope", "end": "2026-12-02"})
    assert (served.status_code, served.json()["error"]) == (
        422,
        f"parameter 'start' must be {ISO_TIME}; got 'nope'",
    )
    with pytest.raises(ParameterError) as err:
        http_client(server.url, server.key("viewer")).model("credit").history("garbage")
    assert str(err.value) == expected
    cli = run_cli("history", "credit", "--at", "garbage", "--url", server.url, "--api-key", server.admin_key)
    assert cli.returncode == 2 and cli.stderr.strip() == f"error: {expected}"
