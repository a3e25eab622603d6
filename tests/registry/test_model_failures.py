"""A version whose own code fails on logged rows (a pipeline without an imputer meeting missing values): the
evaluation, the dry run and `predict` say so in one line as a DataError (422 over HTTP, no retried 500),
and what was stored before the failure is exactly the estimator's own answers on those rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from tests._fixtures import Running
from tests._fixtures.registry import SCHEMA, applicants, http_client, open_model
from tests.registry.test_replay import END, START, stored, traffic

from loopwise.client.base import ModelHandle
from loopwise.errors import DataError

#: The pipeline takes no missing values; rows 150 on of the logged traffic have no income.
GAP = 150


def _with_gaps(served_by: Pipeline) -> pd.DataFrame:
    frame, _ = traffic(300, 9, 0, served_by)
    frame.loc[GAP:, "income"] = np.nan
    return frame


def _expected_failure(stored_before: int, total: int, a: int, z: int) -> str:
    return (
        r"version 'v2' failed in predict_proba on \d+ rows \(missing values in 'income'\): "
        r"ValueError: Input X contains NaN\.; "
        rf"it stopped at pending events {a}-{z} of {total}, and the {stored_before} before them are stored"
    )


def test_a_version_failing_on_the_window_stops_with_one_line_and_keeps_what_it_answered(
    db_url: str, tmp_path: Path, pipeline: Pipeline, train: tuple[pd.DataFrame, pd.Series]
) -> None:
    model = open_model(db_url, tmp_path / "artifacts")
    sample = train[0].head(50)
    challenger = make_pipeline(StandardScaler(), LogisticRegression()).fit(*train)
    model.register_version("v1", pipeline, sample=sample)
    model.register_version("v2", challenger, sample=sample)
    frame = _with_gaps(pipeline)
    model.log(frame, version="v1")

    with pytest.raises(DataError, match=_expected_failure(100, 300, 101, 200)) as failed:
        model.evaluate_version("v2", start=START, end=END, batch_rows=100)
    assert isinstance(failed.value.__cause__, DataError)
    got = stored(model, "v2")
    # The first batch (rows 0-99, all with an income) is stored, and equals the estimator's own answers.
    assert sorted(got.index) == sorted(frame.id[:100])
    features = frame.set_index("id").loc[got.index, ["income", "age"]]
    np.testing.assert_array_equal(got.prediction.to_numpy(bool), challenger.predict(features))

    # Evaluating again goes on from there (200 pending), and stops in its first batch.
    with pytest.raises(DataError, match=_expected_failure(0, 200, 1, 100)):
        model.evaluate_version("v2", start=START, end=END, batch_rows=100)
    assert len(stored(model, "v2")) == 100


def test_a_dry_run_on_a_sample_with_gaps_names_the_column(
    db_url: str, tmp_path: Path, train: tuple[pd.DataFrame, pd.Series]
) -> None:
    model = open_model(db_url, tmp_path / "artifacts")
    estimator = make_pipeline(StandardScaler(), LogisticRegression()).fit(*train)
    sample = train[0].head(20).assign(income=np.nan)
    with pytest.raises(
        DataError,
        match=r"^the dry prediction on the sample failed: version 'v1' failed in predict on 20 rows "
        r"\(missing values in 'income'\): ValueError: Input X contains NaN\.$",
    ):
        model.register_version("v1", estimator, sample=sample)
    assert model.versions() == []


def test_over_http_the_failure_is_a_422_with_the_models_message_for_evaluate_and_predict(
    server: Running, pipeline: Pipeline, train: tuple[pd.DataFrame, pd.Series]
) -> None:
    http_client(server.url, server.admin_key).register("credit", SCHEMA)
    maintainer = http_client(server.url, server.key("maintainer")).model("credit")
    ingest = ModelHandle("credit", http_client(server.url, server.key("ingest")).transport, "id")
    sample = train[0].head(50)
    maintainer.register_version("v1", pipeline, sample=sample)
    maintainer.register_version("v2", pipeline, sample=sample)
    ingest.log(_with_gaps(pipeline), version="v1")

    with pytest.raises(DataError, match=_expected_failure(100, 300, 101, 200)) as failed:
        maintainer.evaluate_version("v2", start=START, end=END, batch_rows=100)
    assert failed.value.status == 422  # type: ignore[attr-defined]

    maintainer.set_alias("champion", "v1")
    X, _ = applicants(5, 3)
    rows = X.assign(id=[f"p{i}" for i in range(5)], ts=pd.Timestamp("2026-12-01 10:00", tz="UTC"))
    rows.loc[2, "income"] = np.nan
    with pytest.raises(
        DataError, match=r"version 'v1' failed in predict_proba on 5 rows \(missing values in 'income'\)"
    ) as refused:
        ingest.predict(rows)
    assert refused.value.status == 422  # type: ignore[attr-defined]
    assert maintainer.served(START, END) == {"v1": 300}  # the refused batch logged nothing
