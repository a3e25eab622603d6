"""Regression metrics without labels: direct loss estimation (DLE), as NannyML does it.

On the labelled reference, a gradient-boosting model (scikit-learn's
HistGradientBoostingRegressor, categorical features natively) learns each row's
expected loss from its features and prediction: |y - y_hat| for MAE, (y - y_hat)^2
for MSE (RMSE is the square root of the estimated MSE), |y - y_hat| / |y| for MAPE
and (log1p y - log1p y_hat)^2 for MSLE / RMSLE. A current's estimate is the mean
of the predicted losses over its rows.

The estimating model is fitted on the whole reference. Besides it, two halves of
the reference each train a lighter model that predicts the other half (cross-fitting,
out-of-fold). From the out-of-fold residuals come the interval's two parts: the current's sampling error
(a second model of the squared residual, per row, summed over the current's rows),
and the model's own error (on the reference's consecutive chunks, the spread of
realized minus estimated beyond what sampling explains), added in quadrature with
the error of the correction for the shift (``SHIFT_ERROR`` times how far the estimate
moved from the reference's own, as for classification).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from threadpoolctl import threadpool_limits

from loopwise._lazy import lazy
from loopwise.errors import DataError
from loopwise.metrics.estimation.cbpe import SHIFT_ERROR
from loopwise.metrics.estimation.result import DLE, Estimate
from loopwise.profiles.task import RegressionProfile
from loopwise.schema import Kind, Role, Schema

if TYPE_CHECKING:
    from scipy import stats
    from sklearn.ensemble import HistGradientBoostingRegressor
else:
    stats = lazy("scipy.stats")

REGRESSION = ("mae", "mse", "rmse", "mape", "msle", "rmsle")
#: The loss each metric is the mean of (RMSE and RMSLE: the square root of that mean).
LOSS = {"mae": "abs", "mse": "sq", "rmse": "sq", "mape": "ape", "msle": "sle", "rmsle": "sle"}
#: Consecutive reference chunks on which the model's own error is measured.
CHUNKS = 20
#: Categories beyond this many (the most frequent kept) are treated as missing by the loss model.
MAX_CATEGORIES = 250
WARN_SHARE = 0.05
#: Fewest reference rows in a leaf of a loss model.
LEAF = 100


def _loss(kind: str, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "abs":
            out = np.abs(y - p)
        elif kind == "sq":
            out = (y - p) ** 2
        elif kind == "ape":
            out = np.where(y != 0, np.abs(y - p) / np.abs(y), np.nan)
        else:
            out = (np.log1p(y) - np.log1p(p)) ** 2
    return np.asarray(out, dtype=np.float64)


def _numbers(arr: Any) -> np.ndarray:
    a = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    if pa.types.is_boolean(a.type):
        a = pc.cast(a, pa.float64())
    return np.asarray(a.to_numpy(zero_copy_only=False), dtype=np.float64)


class _Encoder:
    """Features and prediction as a float matrix: numbers as they are, categories as reference codes."""

    def __init__(self, table: pa.Table, schema: Schema) -> None:
        feats = [
            c
            for c in schema.by_role(Role.FEATURE)
            if c.kind in (Kind.NUMERIC, Kind.BOOLEAN, Kind.CATEGORICAL)
        ]
        self.pred = schema.by_role(Role.PREDICTION)[0].name
        self.target = schema.by_role(Role.TARGET)[0].name
        self.columns = [c.name for c in feats]
        self.categories: dict[str, dict[str, int]] = {}
        self.ranges: dict[str, tuple[float, float]] = {}
        for c in feats:
            if c.kind is Kind.CATEGORICAL:
                vc = pc.value_counts(pc.cast(table.column(c.name), pa.string())).to_pylist()
                top = sorted((v for v in vc if v["values"] is not None), key=lambda v: -v["counts"])
                self.categories[c.name] = {v["values"]: i for i, v in enumerate(top[:MAX_CATEGORIES])}
            else:
                x = _numbers(table.column(c.name))
                x = x[np.isfinite(x)]
                self.ranges[c.name] = (float(x.min()), float(x.max())) if x.size else (math.nan, math.nan)
        self.categorical = np.array([c in self.categories for c in self.columns] + [False])

    def matrix(self, table: pa.Table) -> tuple[np.ndarray, float]:
        """The model's inputs, and the share of rows outside the reference (range or category)."""
        cols, outside = [], np.zeros(table.num_rows, dtype=bool)
        for name in self.columns:
            if name not in table.column_names:
                raise DataError(f"the current has no column {name!r}, a feature of the reference")
            if name in self.categories:
                codes = self.categories[name]
                raw = pc.cast(table.column(name), pa.string()).to_pylist()
                x = np.array(
                    [codes.get(v, np.nan) if v is not None else np.nan for v in raw], dtype=np.float64
                )
                outside |= np.array([v is not None and v not in codes for v in raw])
            else:
                x = _numbers(table.column(name))
                lo, hi = self.ranges[name]
                outside |= (x < lo) | (x > hi)
            cols.append(x)
        cols.append(_numbers(table.column(self.pred)))
        share = float(outside.mean()) if table.num_rows else 0.0
        return np.column_stack(cols), share


def _model(categorical: np.ndarray, seed: int, iterations: int = 100) -> HistGradientBoostingRegressor:
    # 100 trees of 31 leaves as NannyML's LightGBM, no early stopping (it would hold a tenth of the reference
    # out), but leaves of at least 100 rows: one row's loss is a noisy target (|e| has a coefficient of
    # variation near 1), and 20-row leaves chase that noise (docs/decisions/0013: car-price MAE 11.8 vs 9.2).
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(
        max_iter=iterations,
        min_samples_leaf=LEAF,
        early_stopping=False,
        categorical_features=categorical if categorical.any() else None,
        random_state=seed,
    )


class LossModels:
    """The fitted loss models of a reference, one per loss the wanted metrics need."""

    def __init__(self, metrics: Sequence[str], seed: int = 0) -> None:
        self.metrics = tuple(metrics)
        self.seed = seed

    def fit(self, table: pa.Table, schema: Schema) -> LossModels:
        self.schema = schema
        self.encoder = _Encoder(table, schema)
        X, _ = self.encoder.matrix(table)
        y, p = _numbers(table.column(self.encoder.target)), X[:, -1]
        self.models: dict[str, HistGradientBoostingRegressor] = {}
        self.spread: dict[str, HistGradientBoostingRegressor] = {}
        self.model_error: dict[str, float] = {}
        self.at_reference: dict[str, float] = {}
        half = np.random.default_rng(self.seed).random(len(y)) < 0.5
        kinds = sorted({LOSS[m] for m in self.metrics})
        losses = {kind: _loss(kind, y, p) for kind in kinds}
        for loss in losses.values():
            if np.isfinite(loss).sum() < 100:
                raise DataError(
                    f"direct loss estimation needs at least 100 labelled reference rows, got "
                    f"{int(np.isfinite(loss).sum())}"
                )
        # One OpenMP thread per fit, the loss kinds side by side in threads (the fits release the GIL): on 2
        # shared, busy cores OpenMP's own threads inside each fit made the six metrics on 100,000 rows slower
        # than one thread (12-17 s against 8.3 s when quiet); the kinds in parallel gained a little more under
        # load (11.6-16.1 s against 15.2-20.3 s, alternated). Results do not depend on the threads.
        workers = max(1, min(len(kinds), os.cpu_count() or 1))
        with threadpool_limits(limits=1, user_api="openmp"), ThreadPoolExecutor(workers) as pool:
            fitted = list(pool.map(lambda kind: self._fit_kind(X, losses[kind], half), kinds))
        for kind, (model, at_reference, spread, error) in zip(kinds, fitted, strict=True):
            self.models[kind], self.at_reference[kind] = model, at_reference
            self.spread[kind], self.model_error[kind] = spread, error
        return self

    def _fit_kind(
        self, X: np.ndarray, loss: np.ndarray, half: np.ndarray
    ) -> tuple[HistGradientBoostingRegressor, float, HistGradientBoostingRegressor, float]:
        """One loss's model, its mean on the reference, the model of its squared residual, its own error."""
        ok = np.isfinite(loss)
        model = _model(self.encoder.categorical, self.seed).fit(X[ok], loss[ok])
        at_reference = float(np.maximum(model.predict(X[ok]), 0.0).mean())
        # Out-of-fold predictions (lighter models: they only size the interval) for the residuals.
        oof = np.full(len(loss), np.nan)
        for side in (half, ~half):
            m = _model(self.encoder.categorical, self.seed, 50).fit(X[ok & side], loss[ok & side])
            oof[~side] = m.predict(X[~side])
        resid2 = (loss - oof) ** 2
        spread = _model(self.encoder.categorical, self.seed, 50).fit(X[ok], resid2[ok])
        # The model's own error: realized minus estimated on reference chunks, beyond sampling.
        var_row = np.maximum(spread.predict(X), 0.0)
        diffs, sampling = [], []
        for idx in np.array_split(np.flatnonzero(ok), CHUNKS):
            diffs.append(float(np.mean(loss[idx]) - np.mean(oof[idx])))
            sampling.append(float(np.sum(var_row[idx])) / idx.size**2)
        error = max(0.0, float(np.mean(np.square(diffs)) - np.mean(sampling)))
        return model, at_reference, spread, error

    def estimate(
        self, table: pa.Table, schema: Schema, task: RegressionProfile, confidence: float = 0.95
    ) -> dict[str, Estimate]:
        X, outside = self.encoder.matrix(table)
        n = X.shape[0]
        if n == 0:
            raise DataError("the current has no rows")
        target = self.encoder.target
        y = _numbers(table.column(target)) if target in table.column_names else np.full(n, np.nan)
        z = float(stats.norm.ppf(0.5 + confidence / 2))
        warnings = []
        if outside > WARN_SHARE:
            warnings.append(
                f"{outside:.1%} of the current's rows have a feature outside the reference's range or an "
                "unseen category: the loss model extrapolates there"
            )
        out: dict[str, Estimate] = {}
        # Predictions on one OpenMP thread too: on busy shared cores a 5,000-row estimate took 6.1 s with
        # OpenMP's threads and 0.37 s without (a user's trial).
        with threadpool_limits(limits=1, user_api="openmp"):
            loss_pred = {k: np.maximum(m.predict(X), 0.0) for k, m in self.models.items()}
            var_pred = {k: np.maximum(m.predict(X), 0.0) for k, m in self.spread.items()}
        for name in self.metrics:
            kind = LOSS[name]
            pred = loss_pred[kind]
            value = float(pred.mean())
            # Sampling, the model's error on the reference, and the error of its correction for the shift.
            shift = SHIFT_ERROR * (value - self.at_reference[kind])
            sampling = float(var_pred[kind].sum()) / n**2
            se = math.sqrt(sampling + self.model_error[kind] + shift**2)
            lo, hi = max(0.0, value - z * se), value + z * se
            loss = _loss(kind, y, X[:, -1])
            seen = np.isfinite(loss)
            realized = float(loss[seen].mean()) if seen.any() else None
            if name in ("rmse", "rmsle"):
                value, lo, hi = math.sqrt(value), math.sqrt(lo), math.sqrt(hi)
                realized = math.sqrt(realized) if realized is not None else None
            out[name] = Estimate(
                name,
                value,
                lo,
                hi,
                realized,
                None,
                task.label_coverage,
                n,
                method=DLE,
                confidence=confidence,
                details={
                    "loss_model": "HistGradientBoostingRegressor",
                    "model_error_sd": math.sqrt(self.model_error[kind]),
                },
                warnings=tuple(warnings),
            )
        return out
