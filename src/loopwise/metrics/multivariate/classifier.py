"""Domain classifier drift: can a gradient-boosting model tell the current's rows from the reference's?

A ``HistGradientBoostingClassifier`` (categorical columns as native categories,
missing values left to the trees) learns to separate the two sets of rows;
its ROC AUC, cross-validated over stratified folds (the mean of the folds'
AUCs), is 0.5 when it cannot, and grows towards 1 with any difference it can
find, in a column or between columns. Each side is subsampled to ``cap`` rows
(uniformly, seeded), which bounds the time whatever the sizes.

The AUC of identical distributions still spreads around 0.5, by the folds'
sampling noise and by the reference's own instability. The threshold is the
larger of two:

- calibrated: the same cross-validated AUC of ``n_chunks`` chunks of the
  reference (consecutive rows, each the size of the current) against the rest
  of the reference, through ``calibrate`` at the false-alarm rate: what "no
  change" looks like for this reference;
- null: 0.5 + z(1 - a) sd, sd^2 = (n1 + n2 + 1) / (12 n1 n2), the AUC's
  variance when the two samples come from one distribution (Mann-Whitney;
  Hanley and McNeil); it holds even when a handful of chunks says too little.

It needs raw rows on both sides: a classifier is trained on them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from threadpoolctl import threadpool_limits

from loopwise._lazy import lazy
from loopwise.errors import DataError, ParameterError
from loopwise.metrics.multivariate.reconstruction import chunk_bounds
from loopwise.metrics.multivariate.result import MultivariateDriftResult
from loopwise.metrics.thresholds import DEFAULT_FALSE_ALARM_RATE, CalibratedThreshold, calibrate
from loopwise.profiles.encoder import category_indices, numeric_values

if TYPE_CHECKING:
    from scipy import stats as sps
    from sklearn.ensemble import HistGradientBoostingClassifier
else:
    sps = lazy("scipy.stats")

#: Rows used from each side at most (subsampled uniformly above it).
DEFAULT_CAP = 10_000
DEFAULT_FOLDS = 5
#: Reference chunks set against the rest of the reference to calibrate the threshold.
DEFAULT_CHUNKS = 5
#: Categories a column keeps (by reference frequency); the rest share one code.
MAX_CATEGORIES = 250


def classifier(seed: int, categorical: np.ndarray) -> HistGradientBoostingClassifier:
    """The domain classifier: scikit-learn's defaults, early stopping on, a bounded number of trees."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=100,
        early_stopping=True,
        categorical_features=categorical if categorical.any() else None,
        random_state=seed,
    )


def cv_auc(x: np.ndarray, y: np.ndarray, categorical: np.ndarray, folds: int, seed: int) -> list[float]:
    """ROC AUC of each stratified fold (shuffled, seeded) of a classifier separating y = 1 from y = 0."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    out = []
    # One OpenMP thread: on shared, busy cores OpenMP's spinning threads made these small fits several
    # times slower (as for direct loss estimation, decision 0013); the folds are small and many.
    with threadpool_limits(limits=1, user_api="openmp"):
        for train, test in split.split(x, y):
            model = classifier(seed, categorical).fit(x[train], y[train])
            out.append(float(roc_auc_score(y[test], model.predict_proba(x[test])[:, 1])))
    return out


def null_bound(n1: int, n2: int, false_alarm_rate: float) -> float:
    """The (1 - rate) quantile of the AUC when both samples come from one distribution (normal limit)."""
    sd = math.sqrt((n1 + n2 + 1) / (12 * n1 * n2))
    return float(0.5 + sps.norm.ppf(1 - false_alarm_rate) * sd)


class ClassifierDrift:
    """A domain-classifier drift test holding the reference's rows; calibrations are kept per current size.

    Example:
        >>> import numpy as np, pyarrow as pa
        >>> rng = np.random.default_rng(0)
        >>> a = rng.normal(size=6000); ref = pa.table({"a": a, "b": a + rng.normal(size=6000)})
        >>> test = ClassifierDrift.fit(ref, ["a", "b"], ["numeric", "numeric"], cap=2000, folds=3)
        >>> c = rng.normal(size=1000); broken = pa.table({"a": c, "b": -c + rng.normal(size=1000)})
        >>> test.compare(broken).drift_detected
        True
    """

    def __init__(
        self,
        reference: np.ndarray,
        columns: list[str],
        kinds: list[str],
        categories: dict[str, list[str]],
        *,
        cap: int = DEFAULT_CAP,
        folds: int = DEFAULT_FOLDS,
        n_chunks: int = DEFAULT_CHUNKS,
        false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE,
        seed: int = 0,
    ) -> None:
        if cap < 2 * folds:
            raise ParameterError("cap", cap, f"at least {2 * folds} rows (two per fold)")
        if not 2 <= folds <= 20:
            raise ParameterError("folds", folds, "an integer from 2 to 20")
        if n_chunks < 3:
            raise ParameterError("n_chunks", n_chunks, "at least 3 reference chunks")
        if not 0 < false_alarm_rate < 1:
            raise ParameterError("false_alarm_rate", false_alarm_rate, "a number between 0 and 1 (exclusive)")
        self.reference = reference
        self.columns, self.kinds, self.categories = columns, kinds, categories
        self.cap, self.folds, self.n_chunks = cap, folds, n_chunks
        self.false_alarm_rate, self.seed = false_alarm_rate, seed
        self.categorical = np.array([k == "categorical" for k in kinds])
        self._calibrations: dict[int, tuple[CalibratedThreshold, list[float]]] = {}

    @classmethod
    def fit(cls, table: pa.Table, columns: list[str], kinds: list[str], **options: Any) -> ClassifierDrift:
        categories: dict[str, list[str]] = {}
        for name, kind in zip(columns, kinds, strict=True):
            if kind == "categorical":
                idx, keys = category_indices(table.column(name))
                counts = np.bincount(idx[idx >= 0], minlength=len(keys))
                order = np.argsort(-counts, kind="stable")[:MAX_CATEGORIES]
                categories[name] = [str(keys[i]) for i in order]
        test = cls(np.empty((0, len(columns))), columns, kinds, categories, **options)
        test.reference = test.encode(table)
        if len(test.reference) < 2 * test.folds:
            raise DataError(f"the reference has {len(test.reference)} rows; the classifier needs more")
        return test

    def encode(self, table: pa.Table) -> np.ndarray:
        """Rows as trees take them: numbers as they are, categories as codes, NaN for missing."""
        missing = [c for c in self.columns if c not in table.column_names]
        if missing:
            raise DataError(f"the data lacks column(s) of the reference: {', '.join(missing)}")
        out = np.empty((table.num_rows, len(self.columns)), dtype=np.float64)
        for j, (name, kind) in enumerate(zip(self.columns, self.kinds, strict=True)):
            if kind == "categorical":
                idx, keys = category_indices(table.column(name))
                code = {k: float(i) for i, k in enumerate(self.categories[name])}
                other = float(len(self.categories[name]))
                out[:, j] = np.array([code.get(str(k), other) for k in keys] + [np.nan])[idx]
            else:
                out[:, j] = numeric_values(table.column(name))
        return out

    def _sample(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return x if len(x) <= self.cap else x[np.sort(rng.choice(len(x), self.cap, replace=False))]

    def _auc(self, a: np.ndarray, b: np.ndarray) -> list[float]:
        x = np.concatenate([a, b])
        y = np.concatenate([np.zeros(len(a), dtype=np.int8), np.ones(len(b), dtype=np.int8)])
        return cv_auc(x, y, self.categorical, self.folds, self.seed)

    def calibration(self, n_current: int) -> tuple[CalibratedThreshold, list[float]]:
        """The threshold from reference chunks of ``n_current`` rows against the rest of the reference."""
        n_ref = len(self.reference)
        size = max(2 * self.folds, min(n_current, n_ref // (self.n_chunks + 1)))
        if size not in self._calibrations:
            bounds = chunk_bounds(n_ref, size)
            picks = np.unique(np.linspace(0, len(bounds) - 1, self.n_chunks).round().astype(int))
            rng = np.random.default_rng(self.seed)
            stats = []
            for i in picks:
                a, b = bounds[i]
                rest = np.concatenate([self.reference[:a], self.reference[b:]])
                stats.append(
                    float(np.mean(self._auc(self._sample(rest, rng), self._sample(self.reference[a:b], rng))))
                )
            self._calibrations[size] = (calibrate(stats, self.false_alarm_rate), stats)
        return self._calibrations[size]

    def compare(self, current: pa.Table) -> MultivariateDriftResult:
        """Whether ``current`` (rows) drifted from the reference."""
        rng = np.random.default_rng(self.seed + 1)
        cur = self.encode(current)
        if len(cur) < 2 * self.folds:
            raise DataError(f"the current has {len(cur)} rows; {self.folds}-fold cross-validation needs more")
        ref_s, cur_s = self._sample(self.reference, rng), self._sample(cur, rng)
        aucs = self._auc(ref_s, cur_s)
        auc = float(np.mean(aucs))
        cal, stats = self.calibration(len(cur_s))
        null = null_bound(len(ref_s), len(cur_s), self.false_alarm_rate)
        threshold = max(cal.value, null)
        warnings = []
        if len(cur) > self.cap or len(self.reference) > self.cap:
            warnings.append(f"subsampled to {self.cap:,} rows a side (cap) for the classifier")
        return MultivariateDriftResult(
            method="classifier",
            statistic_name="cross-validated ROC AUC of a domain classifier",
            statistic=auc,
            threshold=threshold,
            threshold_rule=(
                f"the larger of calibrated ({cal.value:.4f}; {cal.rule}; reference chunks against the rest) "
                f"and null ({null:.4f}: 0.5 + z({1 - self.false_alarm_rate:g}) x the AUC's standard error "
                f"with no difference, n = {len(ref_s)} and {len(cur_s)})"
            ),
            drift_detected=bool(auc > threshold),
            n_reference=len(self.reference),
            n_current=len(cur),
            columns=list(self.columns),
            chunk_size=max(2 * self.folds, min(len(cur_s), len(self.reference) // (self.n_chunks + 1))),
            reference_chunks=stats,
            exact=len(cur) <= self.cap and len(self.reference) <= self.cap,
            needs_rows=True,
            details={
                "folds": self.folds,
                "fold_aucs": aucs,
                "cap": self.cap,
                "rows_used": {"reference": len(ref_s), "current": len(cur_s)},
                "calibrated_threshold": cal.value,
                "null_threshold": null,
                "calibration": cal.to_dict(),
                "classifier": "sklearn HistGradientBoostingClassifier(max_iter=100, early_stopping=True)",
            },
            warnings=warnings,
        )


__all__ = ["DEFAULT_CAP", "DEFAULT_CHUNKS", "DEFAULT_FOLDS", "ClassifierDrift", "cv_auc", "null_bound"]
