"""Classification performance without labels: confidence-based performance estimation (CBPE).

The labelled reference calibrates the model: for each predicted class and
confidence bin, the share of its predictions that were right. The current's
predictions (labels or not) fall into the same bins, which gives the expected
confusion matrix, hence expected accuracy, precision, recall and F1. The
interval comes from simulation: binomial draws of the correct predictions per
bin, with each bin's calibrated accuracy itself drawn from its Beta posterior.

This works under covariate shift (P(y | x) unchanged, the inputs move). It
cannot see concept shift (the same inputs now mean other outcomes): the
estimate then stays where the reference put it while the realized value moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from loopwise.errors import DataError, ParameterError
from loopwise.metrics.performance import compute, interval, positive_label
from loopwise.metrics.result import _clean
from loopwise.profiles import Profile
from loopwise.profiles.task import CAL_BINS, ClassificationProfile
from loopwise.schema import DataLike, Schema, to_table

ESTIMABLE = ("accuracy", "precision", "recall", "f1")
SIMULATIONS = 2000
#: Pseudo-rows a sparsely labelled calibration bin borrows from the pooled bin.
PRIOR = 10


@dataclass(frozen=True)
class Estimate:
    """An estimated metric with its interval, and the realized value where labels exist."""

    metric: str
    estimate: float
    ci_low: float
    ci_high: float
    realized: float | None
    realized_ci: tuple[float, float] | None
    label_coverage: float | None
    n: int
    method: str = "confidence-based performance estimation"

    @property
    def realized_within_interval(self) -> bool | None:
        return None if self.realized is None else self.ci_low <= self.realized <= self.ci_high

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _clean(
            {
                "metric": self.metric,
                "estimate": self.estimate,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "realized": self.realized,
                "realized_ci": list(self.realized_ci) if self.realized_ci else None,
                "label_coverage": self.label_coverage,
                "n": self.n,
                "method": self.method,
            }
        )
        return out


def _task(side: DataLike | Profile, schema: Schema | None, which: str) -> ClassificationProfile:
    from loopwise.profiles.profile import empty_task, update_task

    if isinstance(side, Profile):
        task = side.task
    else:
        table = to_table(side)
        sch = (schema or Schema.infer(table)).resolve(table)
        task = empty_task(sch)
        if task is not None:
            update_task(task, sch, table)
    if not isinstance(task, ClassificationProfile):
        raise DataError(f"the {which} has no classifier (prediction, target and score columns in its schema)")
    if not task.conf_all:
        raise DataError(f"the {which} has no score columns: estimation needs the model's probabilities")
    return task


def estimate_performance(
    reference: DataLike | Profile,
    current: DataLike | Profile,
    schema: Schema | None = None,
    *,
    metrics: Sequence[str] = ESTIMABLE,
    pos_label: Any = None,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Estimate]:
    """Estimate classification metrics of ``current`` from its scores, calibrated on a labelled ``reference``.

    Example:
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> def traffic(n, shift):
        ...     x = rng.normal(shift, 1, n); p = 1 / (1 + np.exp(-2 * x))
        ...     return pd.DataFrame({"p_yes": p, "prediction": p >= 0.5, "label": rng.random(n) < p})
        >>> est = estimate_performance(traffic(20_000, 0.0), traffic(5_000, 1.0).assign(label=None))
        >>> round(est["accuracy"].estimate, 2), est["accuracy"].realized
        (0.84, None)
    """
    for m in metrics:
        if m not in ESTIMABLE:
            raise ParameterError("metrics", m, ESTIMABLE)
    ref, cur = _task(reference, schema, "reference"), _task(current, schema, "current")
    if ref.n_labeled == 0:
        raise DataError("the reference has no labels to calibrate on")
    labels = sorted(set(ref.labels) | set(cur.labels))
    pos = (
        positive_label(cur.merge(ref), pos_label)
        if any(m in metrics for m in ("precision", "recall", "f1"))
        else None
    )
    rng = np.random.default_rng(seed)
    counts = {k: np.asarray(cur.conf_all.get(k, np.zeros(CAL_BINS)), dtype=np.int64) for k in labels}
    # Calibrated accuracy per (predicted class, bin): Beta posterior draws, pooled over classes where sparse.
    pooled_ok = sum((np.asarray(v, float) for v in ref.conf_correct.values()), np.zeros(CAL_BINS))
    pooled_n = sum((np.asarray(v, float) for v in ref.conf_labeled.values()), np.zeros(CAL_BINS))
    mid = (np.arange(CAL_BINS) + 0.5) / CAL_BINS
    sims_correct: dict[str, np.ndarray] = {}
    point_correct: dict[str, np.ndarray] = {}
    for k in labels:
        ok = np.asarray(ref.conf_correct.get(k, np.zeros(CAL_BINS)), float)
        nn = np.asarray(ref.conf_labeled.get(k, np.zeros(CAL_BINS)), float)
        # A bin with few labelled rows borrows PRIOR pseudo-rows at the bin's accuracy over all classes
        # (or, with none, at its confidence: a calibrated model is right as often as it is confident).
        sparse = nn < PRIOR
        prior = np.where(pooled_n > 0, pooled_ok / np.maximum(pooled_n, 1), mid)
        ok = np.where(sparse, ok + PRIOR * prior, ok)
        nn = np.where(sparse, nn + PRIOR, nn)
        acc = ok / nn
        point_correct[k] = counts[k] * acc
        draws = rng.beta(ok[None, :] + 0.5, (nn - ok)[None, :] + 0.5, size=(SIMULATIONS, CAL_BINS))
        sims_correct[k] = rng.binomial(np.broadcast_to(counts[k], draws.shape), draws).astype(np.float64)

    n = float(sum(c.sum() for c in counts.values()))
    if n == 0:
        raise DataError("the current has no scored predictions")

    def metric_values(correct: dict[str, Any]) -> dict[str, Any]:
        total_ok = sum(np.sum(v, axis=-1) for v in correct.values())
        out: dict[str, Any] = {"accuracy": total_ok / n}
        if pos is not None:
            tp = np.sum(correct[pos], axis=-1) if pos in correct else 0.0
            predicted_pos = float(counts[pos].sum()) if pos in counts else 0.0
            # A wrong prediction of another class in a binary problem is a missed positive.
            fn = sum(float(counts[k].sum()) - np.sum(correct[k], axis=-1) for k in labels if k != pos)
            with np.errstate(invalid="ignore", divide="ignore"):
                out["precision"] = np.where(predicted_pos > 0, tp / max(predicted_pos, 1.0), 0.0)
                out["recall"] = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1e-12), 0.0)
                out["f1"] = np.where(
                    predicted_pos + tp + fn > 0, 2 * tp / np.maximum(predicted_pos + tp + fn, 1e-12), 0.0
                )
        return out

    point, sims = metric_values(point_correct), metric_values(sims_correct)
    result: dict[str, Estimate] = {}
    for m in metrics:
        if m not in point:
            raise ParameterError("pos_label", pos_label, f"the positive class, needed for {m}")
        lo, hi = interval(sims[m], confidence)
        realized = realized_ci = None
        if cur.n_labeled:
            params = {"pos_label": pos} if m != "accuracy" else {}
            r = compute(m, cur, confidence=confidence, **params)
            realized = r.value
            realized_ci = (r.ci_low, r.ci_high) if r.ci_low is not None and r.ci_high is not None else None
        result[m] = Estimate(
            m, float(point[m]), float(lo), float(hi), realized, realized_ci, cur.label_coverage, int(n)
        )
    return result
