"""review_stats for a regressor (decision 0046): reviewed labels against predictions as the mean absolute
error and the RMSE, each row weighted by 1/π, checked against scikit-learn's weighted metrics on the same
rows, on SQLite and PostgreSQL; a classifier keeps accuracy."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import loopwise.review as rv
from loopwise.ingest import log_predictions, register_model
from loopwise.store import ensure_schema, make_engine, session_factory, transaction

T0 = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
SCHEMA = {
    "columns": {
        "id": {"role": "id"},
        "ts": {"role": "timestamp"},
        "x": {"kind": "numeric"},
        "lo": {"kind": "numeric"},
        "hi": {"kind": "numeric"},
        "price": {"role": "prediction", "kind": "numeric"},
        "sold_for": {"role": "target", "kind": "numeric"},
    }
}
POLICY = {
    "tasks": 60,
    # Wide intervals first: inclusion probabilities far from equal.
    "selectors": [
        {"kind": "uncertainty", "share": 0.7, "lower": "lo", "upper": "hi"},
        {"kind": "random", "share": 0.3},
    ],
}


@pytest.fixture
def db(db_url: str) -> Iterator[tuple[sessionmaker[Session], pd.DataFrame]]:
    engine: Engine = make_engine(db_url)
    ensure_schema(engine)
    sessions = session_factory(engine)
    rng = np.random.default_rng(3)
    n = 1200
    x = rng.uniform(0, 10, n)
    width = rng.gamma(2.0, 1.0, n) * (1 + x / 5)
    truth = 50 + 7 * x + rng.normal(0, 1, n) * width  # the error grows with the interval's width
    price = np.round(50 + 7 * x, 2)
    df = pd.DataFrame(
        {
            "id": [f"e{i}" for i in range(n)],
            "ts": pd.Timestamp(T0) + pd.to_timedelta(np.arange(n) * 30, unit="s"),
            "x": x,
            "lo": price - width,
            "hi": price + width,
            "price": price,
            "truth": np.round(truth, 2),
        }
    )
    with transaction(sessions) as s:
        register_model(s, "house", SCHEMA, "test")
    with transaction(sessions) as s:
        log_predictions(s, "house", pa.Table.from_pandas(df.drop(columns=["truth"]), preserve_index=False))
    yield sessions, df
    engine.dispose()


def test_a_regressors_estimate_is_weighted_mae_and_rmse_as_scikit_learn(
    db: tuple[sessionmaker[Session], pd.DataFrame],
) -> None:
    sessions, df = db
    truth = dict(zip(df["id"], df["truth"], strict=True))
    with transaction(sessions) as s:
        rv.set_policy(s, "house", POLICY, "admin")
        rv.fill(s, "house", T0, T0 + dt.timedelta(days=1), "admin", seed=4)
    for _ in range(45):
        with transaction(sessions) as s:
            t = rv.next_task(s, "house", "user:ana", np.random.default_rng(0))
            assert t is not None
            rv.submit(s, "house", "user:ana", t["task_id"], float(truth[t["event_id"]]), "user:ana")
    with sessions() as s:
        est = rv.review_stats(s, "house")["estimate"]
        tasks = [t for t in rv.list_tasks(s, "house", limit=1000) if t["state"] == "resolved"]
    assert len(tasks) == 45 and est["reviewed"] == 45 and est["metric"] == "mae"
    assert "mean absolute error" in est["definition"]
    y = np.array([t["label"] for t in tasks], dtype=float)
    p = np.array([t["prediction"] for t in tasks], dtype=float)
    w = 1 / np.array([t["inclusion_probability"] for t in tasks])
    # The widest intervals are certain (π = 1), the random slice's rows far from it: the weighting matters.
    assert len(set(np.round(w, 6))) >= 2
    assert est["combined"]["value"] == pytest.approx(mean_absolute_error(y, p, sample_weight=w))
    assert est["naive"] == pytest.approx(mean_absolute_error(y, p))
    assert est["combined"]["value"] != pytest.approx(est["naive"], rel=1e-3)
    rmse = est["rmse"]
    assert rmse["combined"]["value"] == pytest.approx(math.sqrt(mean_squared_error(y, p, sample_weight=w)))
    assert rmse["naive"] == pytest.approx(math.sqrt(mean_squared_error(y, p)))
    assert rmse["combined"]["ci_low"] <= rmse["combined"]["value"] <= rmse["combined"]["ci_high"]
    rand = [t for t in tasks if t["selector"] == "random"]
    if rand:  # the random slice alone, weighted by its own selector probabilities
        yr = np.array([t["label"] for t in rand], dtype=float)
        pr = np.array([t["prediction"] for t in rand], dtype=float)
        wr = 1 / np.array([t["selector_probability"] for t in rand])
        assert est["random"]["value"] == pytest.approx(mean_absolute_error(yr, pr, sample_weight=wr))
    # The old definition (a label equal to the prediction) would have said 0% right.
    assert not any(a == b for a, b in zip(y, p, strict=True))


def test_which_models_are_regressors() -> None:
    from loopwise.review.stats import regression
    from loopwise.schema import Schema

    open_kinds = Schema.from_dict({"columns": {"id": {"role": "id"}, "p": {"role": "prediction"}}})
    assert regression(open_kinds, [1.5, 2.25, 3.0], [1.0, 2.5, 2.0])  # numbers: errors
    assert not regression(open_kinds, [0, 1, 1, 0], [0, 1, 0, 0])  # a few integers: classes
    assert not regression(open_kinds, [True, False], [True, True])  # booleans: classes
    assert not regression(open_kinds, ["a", "b"], ["a", "a"])
    declared = Schema.from_dict({"task": "regression", "columns": {"p": {"role": "prediction"}}})
    assert regression(declared, [0, 1], [1, 1])  # the declared task decides
