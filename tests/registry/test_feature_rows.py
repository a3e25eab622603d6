"""The replay's reader of float features (decision 0065): the rows it reads equal the logged frame's own
values (NumPy on the raw data) and Arrow's conversion of the same blobs, NaN and row subsets included; its
array is reused from one read to the next; a feature of another type sends the replay the general way, with
the estimator's own outputs; a batch no longer stored is named. Both databases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.pipeline import Pipeline
from tests._fixtures.registry import applicants, open_model, stored_outputs

from loopwise.client.base import ModelHandle
from loopwise.errors import DataError
from loopwise.registry.feature_rows import FeatureRows
from loopwise.registry.replay import read_stored
from loopwise.store import make_engine
from loopwise.store.tables import Batch

START, END = "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z"
T0 = pd.Timestamp("2026-12-01 09:00", tz="UTC")
SIZES = [700, 40, 1_300, 99, 3]
FEATURES = ["income", "age"]


def _log(
    model: ModelHandle, pipeline: Pipeline, *, missing: bool = True, int_age_in: int | None = None
) -> pd.DataFrame:
    """The batches of SIZES (``missing``: some incomes missing); ``int_age_in``: that batch logs age as
    integers."""
    frames, first = [], 0
    for k, n in enumerate(SIZES):
        X, _ = applicants(n, 10 + k)
        scores = pipeline.predict_proba(X)[:, 1]
        if missing and k % 2 == 0:
            X.loc[X.index % 7 == 3, "income"] = np.nan
        frame = X.assign(
            id=[f"e{first + i}" for i in range(n)],
            ts=T0 + pd.to_timedelta((first + np.arange(n)) * 7, unit="s"),
            approved=scores > 0.5,
            p_approved=scores,
        )
        if k == int_age_in:
            frame["age"] = frame["age"].astype(np.int64)
        model.log(frame, version="served")
        frames.append(frame)
        first += n
    return pd.concat(frames, ignore_index=True)


def _stored(url: str) -> list[tuple[int, int]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        found = [
            (int(i), int(n)) for i, n in conn.execute(sa.select(Batch.id, Batch.n_rows).order_by(Batch.id))
        ]
    engine.dispose()
    return [(int(i), int(n)) for i, n in found]


def _positions(stored: list[tuple[int, int]], every: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(batch id, row) of every ``every``-th row of odd batches and all rows of even ones, and each one's
    position in the logged frame (batches hold the logged calls in order)."""
    batch_ids, rows, at, first = [], [], [], 0
    for k, (batch, n) in enumerate(stored):
        picked = np.arange(n) if k % 2 == 0 else np.arange(1, n, every)
        batch_ids.append(np.full(len(picked), batch))
        rows.append(picked)
        at.append(first + picked)
        first += n
    return np.concatenate(batch_ids), np.concatenate(rows), np.concatenate(at)


def test_the_rows_read_equal_the_logged_values_and_arrows_conversion(
    db_url: str, tmp_path: Path, pipeline: Pipeline
) -> None:
    model = open_model(db_url, tmp_path / "artifacts")
    logged = _log(model, pipeline)
    stored = _stored(db_url)
    assert [n for _, n in stored] == SIZES
    batch_ids, rows, at = _positions(stored, every=3)
    reader = FeatureRows(FEATURES, "id")
    with model.transport.read_sessions() as s:  # type: ignore[attr-defined]
        got = reader.read(s, batch_ids, rows)
        assert got is not None
        frame, keys = got
        arrow = read_stored(s, batch_ids, rows, [*FEATURES, "id"]).to_pandas()
        # Copied out now: the next read fills the same array.
        first = frame.copy()
        array = frame.to_numpy()
        again = reader.read(s, batch_ids[:500], rows[:500])
    assert keys is not None and keys.to_pylist() == logged.id.iloc[at].tolist()
    expected = logged[FEATURES].iloc[at].reset_index(drop=True)
    assert first.isna().to_numpy().sum() > 0  # the missing incomes are there, as NaN
    pd.testing.assert_frame_equal(first, expected)
    pd.testing.assert_frame_equal(first, arrow[FEATURES])
    # Each feature's values are contiguous, as Arrow's conversion lays them out; the next read reuses them.
    assert array.strides[0] == 8 == arrow[FEATURES].to_numpy().strides[0]
    assert again is not None
    assert np.shares_memory(again[0].to_numpy(), array)
    pd.testing.assert_frame_equal(again[0], expected.iloc[:500])
    assert reader.usable


def test_a_feature_of_another_type_reads_the_general_way_with_the_estimators_outputs(
    db_url: str, tmp_path: Path, pipeline: Pipeline
) -> None:
    model = open_model(db_url, tmp_path / "artifacts")
    model.register_version("v1", pipeline, sample=applicants(50, 0)[0])
    logged = _log(model, pipeline, missing=False, int_age_in=2)
    stored = _stored(db_url)
    reader = FeatureRows(FEATURES, "id")
    batch_ids, rows, _ = _positions(stored, every=1)
    with model.transport.read_sessions() as s:  # type: ignore[attr-defined]
        assert reader.read(s, batch_ids, rows) is None
    assert not reader.usable

    run = model.evaluate_version("v1", start=START, end=END, batch_rows=600)
    assert run.evaluated == len(logged)
    got = stored_outputs(db_url, logged.id)
    proba = np.concatenate(
        [pipeline.predict_proba(logged[FEATURES].iloc[a : a + 600]) for a in range(0, len(logged), 600)]
    )
    np.testing.assert_array_equal(got.prediction.to_numpy(bool), pipeline.predict(logged[FEATURES]))
    np.testing.assert_array_equal(got["score:true"].to_numpy(), proba[:, 1])


def test_a_batch_no_longer_stored_is_named(db_url: str, tmp_path: Path, pipeline: Pipeline) -> None:
    model = open_model(db_url, tmp_path / "artifacts")
    _log(model, pipeline)
    missing = max(i for i, _ in _stored(db_url)) + 1
    reader = FeatureRows(FEATURES)
    with (
        model.transport.read_sessions() as s,  # type: ignore[attr-defined]
        pytest.raises(DataError, match=f"logged batch {missing} is no longer stored"),
    ):
        reader.read(s, np.array([missing, missing]), np.array([0, 1]))
