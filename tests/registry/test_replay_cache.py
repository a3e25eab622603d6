"""A version loaded for one evaluation is kept for the next (decision 0044): in the local client and in the
server, where ``predict`` and the evaluations share the application's loaded versions. Counted by the
artifact loads themselves; the replayed outputs still equal the estimator's own answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from tests._fixtures import Running
from tests._fixtures.registry import SCHEMA, http_client, open_model
from tests.registry.test_replay import END, START, stored, traffic

from loopwise.registry import flavors


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The versions whose artifact was loaded from its file, in order."""
    seen: list[str] = []
    original = flavors.load

    def counted(path: Path, fmt: str, flavor: str, version: str, *a: Any, **k: Any) -> Any:
        seen.append(version)
        return original(path, fmt, flavor, version, *a, **k)

    monkeypatch.setattr(flavors, "load", counted)
    monkeypatch.setattr("loopwise.registry.versions.load", counted)
    return seen


def _check(model: Any, frame: pd.DataFrame, estimator: Pipeline) -> None:
    got = stored(model, "v2").loc[frame.id]
    features = frame[["income", "age"]]
    np.testing.assert_array_equal(got.prediction.to_numpy(bool), estimator.predict(features))
    proba = estimator.predict_proba(features)[:, 1]
    np.testing.assert_allclose([s["true"] for s in got.scores], proba, rtol=1e-12)


def test_the_local_client_loads_a_version_once(
    db_url: str, tmp_path: Path, pipeline: Pipeline, train: tuple[pd.DataFrame, pd.Series], loads: list[str]
) -> None:
    model = open_model(db_url, tmp_path / "artifacts")
    sample = train[0].head(50)
    model.register_version("v1", pipeline, sample=sample)
    model.register_version("v2", pipeline, sample=sample)
    first, _ = traffic(200, 2, 0, pipeline)
    model.log(first, version="v1")
    del loads[:]  # registration's dry runs
    assert model.evaluate_version("v2", start=START, end=END).evaluated == 200
    later, _ = traffic(100, 3, 200, pipeline)
    model.log(later, version="v1")
    assert model.evaluate_version("v2", start=START, end=END).evaluated == 100
    assert loads == ["v2"]
    _check(model, pd.concat([first, later]), pipeline)


def test_a_version_the_local_client_loaded_is_the_one_its_evaluations_run(
    db_url: str, tmp_path: Path, pipeline: Pipeline, train: tuple[pd.DataFrame, pd.Series], loads: list[str]
) -> None:
    model = open_model(db_url, tmp_path / "artifacts")
    model.register_version("v1", pipeline, sample=train[0].head(50))
    model.register_version("v2", pipeline, sample=train[0].head(50))
    frame, _ = traffic(120, 6, 0, pipeline)
    model.log(frame, version="v1")
    del loads[:]
    loaded = model.load_version("v2")
    assert model.load_version("v2") is loaded
    assert model.evaluate_version("v2", start=START, end=END).evaluated == 120
    assert loads == ["v2"]  # loaded once: by load_version, not again by the evaluation
    _check(model, frame, pipeline)


def test_the_server_keeps_a_version_loaded_across_evaluations_and_predict(
    server: Running,
    tmp_path: Path,
    pipeline: Pipeline,
    train: tuple[pd.DataFrame, pd.Series],
    loads: list[str],
) -> None:
    http_client(server.url, server.admin_key).register("credit", SCHEMA)
    m = http_client(server.url, server.key("maintainer")).model("credit")
    sample = train[0].head(50)
    m.register_version("v1", pipeline, sample=sample)
    m.register_version("v2", pipeline, sample=sample)
    first, _ = traffic(150, 4, 0, pipeline)
    m.log(first, version="v1")
    del loads[:]
    assert m.evaluate_version("v2", start=START, end=END).evaluated == 150
    later, _ = traffic(50, 5, 150, pipeline)
    m.log(later, version="v1")
    done = m.start_evaluation("v2", start=START, end=END).wait()  # a job in a thread of the server
    assert (done.evaluated, done.already) == (50, 150)
    m.set_alias("champion", "v2")
    served = m.predict(train[0].head(5))
    np.testing.assert_allclose(
        [s["true"] for s in served.scores], pipeline.predict_proba(train[0].head(5))[:, 1], rtol=1e-12
    )
    assert loads == ["v2"]
    _check(open_model(server.db_url, tmp_path / "unused"), pd.concat([first, later]), pipeline)
