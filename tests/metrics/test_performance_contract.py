"""The contract every registered performance metric keeps, from data to profile to number.

Parametrised over the registry (``loopwise.metrics.performance.names()``), as scikit-learn's
``sklearn/metrics/tests/test_common.py`` is over its metrics, so a newly registered metric is held to it with
no new test: finite (inside its own interval) on valid data; a loopwise error, in one line, on empty or
invalid data; no value and a reason without labels; the same answer whatever the row order and whether the
rows come as pandas, Polars or Arrow; and the number scikit-learn or NumPy computes on the raw rows.

A new metric must say how to compute it independently (``INDEPENDENT``);
``test_every_metric_has_an_independent_answer`` fails, naming it, until it does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from sklearn import metrics as skm

import loopwise as lw
from loopwise.metrics import MetricResult
from loopwise.metrics import performance as perf

N = 3000
#: Share of rows whose label has not arrived: metrics rest on the labelled rows only.
UNLABELLED = 0.1

SCHEMAS = {
    "classification": lw.Schema.from_yaml(
        "columns:\n"
        "  y: {role: target, kind: boolean}\n"
        "  pred: {role: prediction, kind: boolean}\n"
        "  score: {role: score, kind: numeric, label: true}\n"
    ),
    "regression": lw.Schema.from_yaml(
        "columns:\n  y: {role: target, kind: numeric}\n  pred: {role: prediction, kind: numeric}\n"
    ),
}


def _frame(task: str, seed: int = 0, n: int = N) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    unlabelled = rng.random(n) < UNLABELLED
    if task == "classification":
        y = rng.random(n) < 0.3
        s = np.clip(0.3 + 0.4 * (y - 0.3) + rng.normal(0, 0.2, n), 0, 1)
        target = pd.Series(y, dtype="boolean")
        target[unlabelled] = pd.NA
        return pd.DataFrame({"y": target, "pred": s >= 0.5, "score": s})
    y = rng.lognormal(1.0, 0.5, n)
    target = pd.Series(y)
    target[unlabelled] = np.nan
    return pd.DataFrame({"y": target, "pred": y * rng.normal(1.0, 0.2, n) + rng.normal(0, 0.3, n)})


def _compute(name: str, data: Any) -> MetricResult:
    task, _fn = perf.get(name)
    schema = SCHEMAS[task]
    profile = lw.profile(data, schema)
    assert profile.task is not None
    return perf.compute(name, profile.task, schema)


# -- independent answers on the raw rows ---------------------------------------------------------------
@dataclass
class Raw:
    """The labelled rows, as NumPy arrays."""

    y: np.ndarray
    pred: np.ndarray
    score: np.ndarray | None

    @classmethod
    def of(cls, df: pd.DataFrame) -> Raw:
        lab = df["y"].notna().to_numpy()
        if "score" in df:
            y = df["y"][lab].astype(bool).to_numpy()
            return cls(y, df["pred"][lab].to_numpy(), df["score"][lab].to_numpy())
        return cls(df["y"][lab].to_numpy(float), df["pred"][lab].to_numpy(float), None)


def _equal(fn: Callable[[Raw], float]) -> Callable[[MetricResult, Raw], None]:
    def check(r: MetricResult, raw: Raw) -> None:
        assert r.value == pytest.approx(fn(raw), rel=1e-9, abs=1e-12)

    return check


def _roc_auc(r: MetricResult, raw: Raw) -> None:
    # From 4,096-bin score histograms: within the stated bound of scikit-learn's value on the raw scores.
    assert r.error_bound is not None and r.value is not None
    assert abs(r.value - skm.roc_auc_score(raw.y, raw.score)) <= r.error_bound


def _average_precision(r: MetricResult, raw: Raw) -> None:
    # Exact on the scores as the histogram sees them: rounded down to 1/4096.
    assert raw.score is not None
    quantized = np.minimum(np.floor(raw.score * 4096), 4095) / 4096
    assert r.value == pytest.approx(skm.average_precision_score(raw.y, quantized), rel=1e-9)


def _ece(raw: Raw) -> float:
    # Top-label: the confidence is the predicted class's probability; 20 equal-width bins over [0, 1].
    assert raw.score is not None
    conf = np.where(raw.pred, raw.score, 1 - raw.score)
    bins = np.minimum((conf * 20).astype(int), 19)
    correct = (raw.pred == raw.y).astype(float)
    gaps = np.bincount(bins, weights=correct, minlength=20) - np.bincount(bins, weights=conf, minlength=20)
    return float(np.abs(gaps).sum() / raw.y.size)


def _error_quantile(r: MetricResult, raw: Raw) -> None:
    # KLL: the value's rank among the raw errors is within the stated rank error of the median.
    errors = np.sort(raw.pred - raw.y)
    assert r.value is not None and r.error_bound is not None
    lo = np.searchsorted(errors, r.value, side="left") / errors.size
    hi = np.searchsorted(errors, r.value, side="right") / errors.size
    assert lo - r.error_bound - 1 / errors.size <= 0.5 <= hi + r.error_bound + 1 / errors.size


INDEPENDENT: dict[str, Callable[[MetricResult, Raw], None]] = {
    "accuracy": _equal(lambda d: skm.accuracy_score(d.y, d.pred)),
    "balanced_accuracy": _equal(lambda d: skm.balanced_accuracy_score(d.y, d.pred)),
    "precision": _equal(lambda d: skm.precision_score(d.y, d.pred)),
    "recall": _equal(lambda d: skm.recall_score(d.y, d.pred)),
    "f1": _equal(lambda d: skm.f1_score(d.y, d.pred)),
    "log_loss": _equal(lambda d: skm.log_loss(d.y, d.score)),
    "brier_score": _equal(lambda d: skm.brier_score_loss(d.y, d.score)),
    "roc_auc": _roc_auc,
    "average_precision": _average_precision,
    "expected_calibration_error": _equal(_ece),
    "mae": _equal(lambda d: skm.mean_absolute_error(d.y, d.pred)),
    "mse": _equal(lambda d: skm.mean_squared_error(d.y, d.pred)),
    "rmse": _equal(lambda d: math.sqrt(skm.mean_squared_error(d.y, d.pred))),
    "mape": _equal(lambda d: skm.mean_absolute_percentage_error(d.y, d.pred)),
    "mean_error": _equal(lambda d: float(np.mean(d.pred - d.y))),
    "r2": _equal(lambda d: skm.r2_score(d.y, d.pred)),
    "error_quantile": _error_quantile,
}

NAMES = perf.names()


def _frame_for(name: str) -> pd.DataFrame:
    return _frame(perf.get(name)[0])


@pytest.mark.parametrize("name", NAMES)
def test_the_value_is_finite_and_inside_its_interval_on_valid_data(name: str) -> None:
    df = _frame_for(name)
    r = _compute(name, df)
    assert r.metric == name
    assert r.value is not None and math.isfinite(r.value), r.warning
    assert r.label_coverage == pytest.approx(df["y"].notna().mean(), rel=1e-12)
    if r.ci_low is not None and r.ci_high is not None:
        assert r.ci_low <= r.value <= r.ci_high


@pytest.mark.parametrize("name", NAMES)
def test_the_value_is_what_sklearn_or_numpy_computes_on_the_raw_rows(name: str) -> None:
    df = _frame_for(name)
    INDEPENDENT[name](_compute(name, df), Raw.of(df))


@pytest.mark.parametrize("name", NAMES)
def test_the_row_order_does_not_change_the_answer(name: str) -> None:
    df = _frame_for(name)
    shuffled = df.sample(frac=1.0, random_state=7).reset_index(drop=True)
    a, b = _compute(name, df), _compute(name, shuffled)
    if a.exact and b.exact:
        for x, y in ((a.value, b.value), (a.ci_low, b.ci_low), (a.ci_high, b.ci_high)):
            assert y == (x if x is None else pytest.approx(x, rel=1e-12, abs=1e-12))
    else:  # a sketch depends on the order it saw: each answer is within its bound of the raw one
        INDEPENDENT[name](b, Raw.of(shuffled))
    INDEPENDENT[name](a, Raw.of(df))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("library", ["polars", "arrow"])
def test_pandas_polars_and_arrow_give_the_same_answer(name: str, library: str) -> None:
    df = _frame_for(name)
    other = pl.from_pandas(df) if library == "polars" else pa.Table.from_pandas(df, preserve_index=False)
    a, b = _compute(name, df), _compute(name, other)
    if a.exact:
        assert b.to_dict() == a.to_dict()
    else:  # a KLL sketch is randomised: each answer is within its bound of the raw one
        INDEPENDENT[name](b, Raw.of(df))
        assert {k: v for k, v in b.to_dict().items() if not k.startswith(("value", "ci_"))} == {
            k: v for k, v in a.to_dict().items() if not k.startswith(("value", "ci_"))
        }


@pytest.mark.parametrize("name", NAMES)
def test_empty_data_is_a_loopwise_error(name: str) -> None:
    with pytest.raises(lw.EmptyDataError, match="no rows"):
        _compute(name, _frame_for(name).iloc[:0])


@pytest.mark.parametrize("name", NAMES)
def test_text_in_the_prediction_column_is_a_data_error_naming_it(name: str) -> None:
    df = _frame_for(name).astype({"pred": str})
    df.loc[3, "pred"] = "forty"
    with pytest.raises(lw.DataError, match=r"column 'pred'.* 'forty' \(row 3\)"):
        _compute(name, df)


@pytest.mark.parametrize("name", NAMES)
def test_without_labels_there_is_no_value_and_the_result_says_why(name: str) -> None:
    df = _frame_for(name).assign(y=None)
    r = _compute(name, df)
    assert r.value is None
    assert r.warning == "no labelled rows"


@pytest.mark.parametrize("name", [n for n in NAMES if perf.get(n)[0] == "classification"])
def test_a_score_that_is_not_a_probability_is_a_data_error(name: str) -> None:
    df = _frame_for(name)
    df.loc[5, "score"] = 1.5
    with pytest.raises(lw.DataError, match=r"probability in \[0, 1\]; row 5 holds 1.5"):
        _compute(name, df)


def test_an_unknown_metric_or_one_of_another_task_is_a_loopwise_error() -> None:
    with pytest.raises(lw.UnknownNameError, match="f2"):
        perf.get("f2")
    profile = lw.profile(_frame("regression"), SCHEMAS["regression"])
    assert profile.task is not None
    with pytest.raises(lw.ParameterError, match="a regression metric"):
        perf.compute("accuracy", profile.task)


def test_every_metric_has_an_independent_answer() -> None:
    missing = set(NAMES) - set(INDEPENDENT)
    assert not missing, f"add how to compute {sorted(missing)} without loopwise to INDEPENDENT"


@pytest.mark.parametrize("name", [n for n in NAMES if perf.get(n)[0] == "regression"])
def test_a_prediction_that_is_not_finite_is_a_data_error(name: str) -> None:
    df = _frame_for(name)
    df.loc[4, "pred"] = np.inf
    with pytest.raises(
        lw.DataError, match=r"predictions must be finite numbers; row 4 holds inf \(1 such rows\)"
    ):
        _compute(name, df)
