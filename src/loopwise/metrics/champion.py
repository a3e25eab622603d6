"""Champion vs challenger on the same labelled rows: the difference, its interval, and a fitting test.

- accuracy: McNemar's test (exact binomial when there are at most 25 discordant pairs);
- roc_auc: DeLong's test for two correlated AUCs (fast midrank algorithm);
- other classification metrics: a paired bootstrap; the rows are resampled through
  the joint counts of (label, champion's prediction, challenger's prediction), which is
  equivalent to resampling rows and costs nothing per row;
- regression errors (mae, mse, rmse): a paired t-test on the per-row losses.

Non-inferiority: the challenger is not worse by more than ``margin`` when the
one-sided (1 - alpha) bound of the difference clears ``-margin``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopwise._lazy import lazy
from loopwise.errors import DataError, ParameterError
from loopwise.metrics.performance import interval
from loopwise.metrics.result import _clean
from loopwise.profiles.canonical import canonical, canonical_array
from loopwise.profiles.task import ClassificationProfile, encode_labels

# The normal distribution from the standard library (``statistics.NormalDist``, ``math.erfc``), other
# distributions from scipy.special when a test needs them, never scipy.stats' objects: scipy.stats took
# 1.2-1.9 s to import and scipy.special 0.4 s, most of a gate's first run in a fresh process (``loopwise
# versions gate``), where a classification gate of any size needs the normal distribution alone.
if TYPE_CHECKING:
    from scipy import special
else:
    special = lazy("scipy.special")
NORMAL = statistics.NormalDist()

#: Paired bootstrap resamples.
BOOTSTRAP = 2000
#: Power at which the minimum detectable effect is stated.
POWER = 0.8
MCNEMAR_EXACT_MAX = 25
CLASSIFICATION = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc")
REGRESSION = ("mae", "mse", "rmse")


@dataclass(frozen=True)
class ModelComparison:
    """How a challenger compares with the champion on one metric (difference = challenger - champion)."""

    metric: str
    champion: float
    challenger: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str
    alpha: float
    n: int
    higher_is_better: bool
    minimum_detectable_effect: float | None
    margin: float | None = None
    non_inferior: bool | None = None
    deltas: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    @property
    def verdict(self) -> str:
        if not self.significant:
            return "no significant difference"
        better = (self.difference > 0) == self.higher_is_better
        return "challenger better" if better else "challenger worse"

    def _repr_html_(self) -> str:
        from loopwise._display import block, fields, interval, status

        good = None if not self.significant else self.verdict == "challenger better"
        return block(
            f"Challenger vs champion: {self.metric}",
            fields(
                [
                    ("verdict", status(self.verdict, good)),
                    ("champion", self.champion),
                    ("challenger", self.challenger),
                    (
                        f"difference (challenger - champion), {1 - self.alpha:.0%} CI",
                        interval(self.difference, self.ci_low, self.ci_high),
                    ),
                    (f"p-value ({self.test})", self.p_value),
                    (
                        "non-inferior" + (f" (margin {self.margin:g})" if self.margin is not None else ""),
                        self.non_inferior,
                    ),
                    ("minimum detectable effect", self.minimum_detectable_effect),
                    ("rows", self.n),
                ]
            ),
            notes=self.warnings,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _clean(
            {
                "metric": self.metric,
                "champion": self.champion,
                "challenger": self.challenger,
                "difference": self.difference,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "p_value": self.p_value,
                "test": self.test,
                "alpha": self.alpha,
                "significant": self.significant,
                "verdict": self.verdict,
                "n": self.n,
                "higher_is_better": self.higher_is_better,
                "minimum_detectable_effect": self.minimum_detectable_effect,
                "margin": self.margin,
                "non_inferior": self.non_inferior,
                "deltas": self.deltas,
            }
        )
        return out


def _array(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x.to_numpy() if hasattr(x, "to_numpy") else x)
    if arr.ndim != 1:
        raise DataError(f"{name} must be one column; got shape {arr.shape}")
    return arr


def compare_models(
    champion: Any,
    challenger: Any,
    labels: Any,
    *,
    metric: str = "accuracy",
    champion_scores: Any = None,
    challenger_scores: Any = None,
    pos_label: Any = None,
    margin: float | None = None,
    alpha: float = 0.05,
    segment: Any = None,
    seed: int = 0,
    deltas: bool = True,
) -> ModelComparison:
    """Compare two models' predictions of the same labelled rows with a significance test.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> y = rng.random(2000) < 0.5
        >>> a = np.where(rng.random(2000) < 0.80, y, ~y)
        >>> b = np.where(rng.random(2000) < 0.86, y, ~y)
        >>> r = compare_models(a, b, y)
        >>> r.test, r.verdict
        ('mcnemar (chi-square, continuity-corrected)', 'challenger better')
    """
    if not 0 < alpha < 1:
        raise ParameterError("alpha", alpha, "a number between 0 and 1")
    if margin is not None and margin < 0:
        raise ParameterError("margin", margin, "a non-negative number")
    if metric not in CLASSIFICATION + REGRESSION:
        raise ParameterError("metric", metric, CLASSIFICATION + REGRESSION)
    a, b, y = _array(champion, "champion"), _array(challenger, "challenger"), _array(labels, "labels")
    if not a.size == b.size == y.size:
        raise DataError(
            f"champion has {a.size} rows, challenger {b.size}, labels {y.size}: "
            "they must be predictions of the same rows"
        )
    if y.size == 0:
        raise DataError("no rows to compare")
    if metric in REGRESSION:
        return _regression(metric, a.astype(float), b.astype(float), y.astype(float), alpha, margin)
    codes, classes = _joint_codes(a, b, y)
    ya, yb, yy = codes
    if len(np.unique(yy)) < 2 and metric in ("roc_auc", "balanced_accuracy"):
        raise DataError(f"{metric} needs at least two classes in the labels; found only {classes[yy[0]]!r}")
    pos = _positive(classes, pos_label)
    if metric == "accuracy":
        result = _mcnemar(ya == yy, yb == yy, alpha)
    elif metric == "roc_auc":
        if champion_scores is None or challenger_scores is None:
            raise ParameterError("champion_scores", None, "both models' scores for roc_auc")
        sa = _array(champion_scores, "champion_scores").astype(float)
        sb = _array(challenger_scores, "challenger_scores").astype(float)
        if pos is None:
            raise ParameterError("pos_label", pos_label, f"the positive class among {', '.join(classes)}")
        result = _delong(sa, sb, yy == classes.index(pos), alpha)
    else:
        result = _paired_bootstrap(metric, ya, yb, yy, len(classes), classes, pos, alpha, seed)
    non_inf = None
    if margin is not None:
        # One-sided bound at level alpha: the (1 - 2 alpha) two-sided interval's lower end.
        se = (result["ci_high"] - result["ci_low"]) / (2 * NORMAL.inv_cdf(1 - alpha / 2))
        bound = result["difference"] - NORMAL.inv_cdf(1 - alpha) * se
        non_inf = bool(bound > -margin)
    found = _deltas(a, b, y, segment, champion_scores, challenger_scores, pos) if deltas else {}
    k = len(classes)
    predicted = (np.bincount(ya, minlength=k) + np.bincount(yb, minlength=k)) > 0
    never = [classes[i] for i in np.flatnonzero(np.bincount(yy, minlength=k)) if not predicted[i]]
    warnings = [f"label class(es) never predicted by either model: {', '.join(never)}"] if never else []
    return ModelComparison(
        metric=metric,
        alpha=alpha,
        n=int(y.size),
        higher_is_better=True,
        margin=margin,
        non_inferior=non_inf,
        deltas=found,
        warnings=warnings,
        **result,
    )


def _joint_codes(a: np.ndarray, b: np.ndarray, y: np.ndarray) -> tuple[tuple[np.ndarray, ...], list[str]]:
    ca, la, ma = encode_labels(a)
    cb, lb, mb = encode_labels(b)
    cy, ly, my = encode_labels(y)
    for name, miss in (("champion", ma), ("challenger", mb), ("labels", my)):
        if miss.any():
            raise DataError(f"{name} has missing values, first at row {int(np.flatnonzero(miss)[0])}")
    classes = sorted(set(la) | set(lb) | set(ly))
    maps = [np.array([classes.index(x) for x in lab]) for lab in (la, lb, ly)]
    unseen = sorted(set(ly) - set(la) - set(lb))
    if unseen and len(unseen) == len(set(ly)):
        raise DataError(f"no label class is ever predicted (labels: {', '.join(ly[:5])}); check the columns")
    return (maps[0][ca], maps[1][cb], maps[2][cy]), classes


def _positive(classes: list[str], pos_label: Any) -> str | None:
    if pos_label is not None:
        key = canonical(pos_label)
        if key not in classes:
            raise ParameterError("pos_label", pos_label, f"one of {', '.join(classes)}")
        return key
    for lo, hi in (("false", "true"), ("0", "1")):
        if set(classes) <= {lo, hi}:
            return hi
    return None


def _mde(se: float, alpha: float) -> float:
    return float((NORMAL.inv_cdf(1 - alpha / 2) + NORMAL.inv_cdf(POWER)) * se)


def _binomial_two_sided(k: int, n: int) -> float:
    """The exact two-sided binomial test's p-value of ``k`` of ``n`` at p = 1/2 with ``k <= n / 2``, as
    ``scipy.stats.binomtest`` gives it: both tails, the distribution being symmetric."""
    return 1.0 if 2 * k >= n else min(1.0, float(2 * special.bdtr(k, n, 0.5)))


def _mcnemar(ok_a: np.ndarray, ok_b: np.ndarray, alpha: float) -> dict[str, Any]:
    n = ok_a.size
    b = int(np.sum(ok_a & ~ok_b))  # champion right, challenger wrong
    c = int(np.sum(~ok_a & ok_b))  # champion wrong, challenger right
    if b + c == 0:
        p, test = 1.0, "mcnemar (no discordant pairs)"
    elif b + c <= MCNEMAR_EXACT_MAX:
        p, test = _binomial_two_sided(min(b, c), b + c), "mcnemar (exact binomial)"
    else:
        chi2 = (abs(b - c) - 1) ** 2 / (b + c)
        # The chi-square's tail at one degree of freedom: the normal's two tails at its square root.
        p, test = math.erfc(math.sqrt(chi2 / 2)), "mcnemar (chi-square, continuity-corrected)"
    diff = (c - b) / n
    se = math.sqrt(max(b + c - (c - b) ** 2 / n, 0.0)) / n
    z = NORMAL.inv_cdf(1 - alpha / 2)
    return {
        "champion": float(ok_a.mean()),
        "challenger": float(ok_b.mean()),
        "difference": diff,
        "ci_low": diff - z * se,
        "ci_high": diff + z * se,
        "p_value": min(p, 1.0),
        "test": test,
        "minimum_detectable_effect": _mde(se if se > 0 else 1 / n, alpha),
    }


def _placements(s: np.ndarray, positive: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and DeLong's structural components (in row order) from one sort of the scores.

    Midranks are taken per run of tied scores: over all rows, and within the
    positives and the negatives, from running counts along the sorted order, so
    the sort need not be stable.
    """
    m, n = int(positive.sum()), int((~positive).sum())
    order = np.argsort(s)
    v, pos = s[order], positive[order]
    starts = np.flatnonzero(np.r_[True, v[1:] != v[:-1]])
    sizes = np.diff(np.r_[starts, v.size])
    run = np.repeat(np.arange(starts.size), sizes)
    p_in = np.add.reduceat(pos.astype(np.int64), starts)
    pos_before = np.r_[0, np.cumsum(pos)][starts]
    all_mid = (starts + (sizes + 1) / 2.0)[run]
    pos_mid = (pos_before + (p_in + 1) / 2.0)[run]
    neg_mid = ((starts - pos_before) + (sizes - p_in + 1) / 2.0)[run]
    # Scatter back to row order among the positives (and the negatives), without another sort.
    rank_in_class = np.where(positive, np.cumsum(positive) - 1, np.cumsum(~positive) - 1)[order]
    v10, v01 = np.empty(m), np.empty(n)
    v10[rank_in_class[pos]] = (all_mid[pos] - pos_mid[pos]) / n
    v01[rank_in_class[~pos]] = 1 - (all_mid[~pos] - neg_mid[~pos]) / m
    auc = (all_mid[pos].sum() - m * (m + 1) / 2) / (m * n)
    return float(auc), v10, v01


def _delong(sa: np.ndarray, sb: np.ndarray, positive: np.ndarray, alpha: float) -> dict[str, Any]:
    """DeLong's test (Sun and Xu's O(n log n) algorithm) for two AUCs on the same rows."""
    m, n = int(positive.sum()), int((~positive).sum())
    if m == 0 or n == 0:
        raise DataError("roc_auc needs both positive and negative labels")
    aucs, v10, v01 = [], [], []
    # Both models' components must follow the same row order: sort each, then restore row order.
    for s in (sa, sb):
        auc, c10, c01 = _placements(s, positive)
        aucs.append(auc)
        v10.append(c10)
        v01.append(c01)
    s10, s01 = np.cov(np.vstack(v10)), np.cov(np.vstack(v01))
    cov = s10 / m + s01 / n
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    diff = float(aucs[1] - aucs[0])
    se = math.sqrt(max(var, 0.0))
    p = math.erfc(abs(diff) / se / math.sqrt(2)) if se > 0 else (1.0 if diff == 0 else 0.0)
    z = NORMAL.inv_cdf(1 - alpha / 2)
    return {
        "champion": float(aucs[0]),
        "challenger": float(aucs[1]),
        "difference": diff,
        "ci_low": diff - z * se,
        "ci_high": diff + z * se,
        "p_value": p,
        "test": "delong",
        "minimum_detectable_effect": _mde(se, alpha) if se > 0 else None,
    }


def _metric_from_confusion(metric: str, m: np.ndarray, classes: list[str], pos: str | None) -> float:
    from loopwise.metrics.performance import _prf

    if metric == "balanced_accuracy":
        true = m.sum(axis=1)
        present = true > 0
        return float(np.mean(np.diag(m)[present] / true[present]))
    return _prf(m, classes, metric, "macro", pos)


def _paired_bootstrap(
    metric: str,
    ya: np.ndarray,
    yb: np.ndarray,
    yy: np.ndarray,
    k: int,
    classes: list[str],
    pos: str | None,
    alpha: float,
    seed: int,
) -> dict[str, Any]:
    cells = np.bincount((yy * k + ya) * k + yb, minlength=k**3).astype(np.int64)
    n = int(cells.sum())

    def both(c: np.ndarray) -> tuple[float, float]:
        t = c.reshape(k, k, k)
        return (
            _metric_from_confusion(metric, t.sum(axis=2), classes, pos),
            _metric_from_confusion(metric, t.sum(axis=1), classes, pos),
        )

    va, vb = both(cells)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, cells / n, size=BOOTSTRAP)
    diffs = np.array([d[1] - d[0] for d in map(both, draws)])
    lo, hi = interval(diffs, 1 - alpha)
    # Two-sided bootstrap p-value: how often the resampled difference falls on the other side of 0.
    share = float(min(np.mean(diffs <= 0), np.mean(diffs >= 0)))
    p = float(min(1.0, 2 * max(share, 1 / BOOTSTRAP)))
    return {
        "champion": va,
        "challenger": vb,
        "difference": vb - va,
        "ci_low": float(lo),
        "ci_high": float(hi),
        "p_value": p,
        "test": f"paired bootstrap ({BOOTSTRAP} resamples)",
        "minimum_detectable_effect": _mde(float(np.std(diffs, ddof=1)), alpha),
    }


def _regression(
    metric: str, a: np.ndarray, b: np.ndarray, y: np.ndarray, alpha: float, margin: float | None
) -> ModelComparison:
    ok = np.isfinite(a) & np.isfinite(b) & np.isfinite(y)
    if not ok.all():
        raise DataError(
            f"non-finite values in {int((~ok).sum())} row(s), first at row {int(np.flatnonzero(~ok)[0])}"
        )
    loss: Callable[[np.ndarray], np.ndarray] = (lambda e: np.abs(e)) if metric == "mae" else (lambda e: e * e)
    la, lb = loss(a - y), loss(b - y)
    d = lb - la
    n = d.size
    se = float(np.std(d, ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    t = float(d.mean() / se) if se > 0 else 0.0
    p = float(2 * special.stdtr(n - 1, -abs(t))) if se > 0 else 1.0
    q = special.stdtrit(n - 1, 1 - alpha / 2)
    va, vb = float(la.mean()), float(lb.mean())
    diff, lo, hi = vb - va, float(d.mean() - q * se), float(d.mean() + q * se)
    if metric == "rmse":
        va, vb = math.sqrt(va), math.sqrt(vb)
        # The test is on the squared errors; the interval is carried through the square root.
        diff = vb - va
        lo = math.sqrt(max(la.mean() + lo, 0)) - va
        hi = math.sqrt(max(la.mean() + hi, 0)) - va
    non_inf = None
    if margin is not None:
        bound = float(d.mean() + special.stdtrit(n - 1, 1 - alpha) * se)
        non_inf = bool(bound < margin)  # lower is better: not worse than champion + margin
    return ModelComparison(
        metric,
        va,
        vb,
        diff,
        lo,
        hi,
        p,
        "paired t-test on per-row losses",
        alpha,
        n,
        higher_is_better=False,
        minimum_detectable_effect=_mde(se, alpha),
        margin=margin,
        non_inferior=non_inf,
    )


def _deltas(
    a: np.ndarray, b: np.ndarray, y: np.ndarray, segment: Any, sa: Any, sb: Any, pos: str | None
) -> dict[str, Any]:
    """Fairness, ranking of the positive class (average precision) and calibration of each model, and
    the change (challenger - champion)."""
    out: dict[str, Any] = {}
    if segment is not None:
        import pandas as pd

        from loopwise.metrics.fairness import fairness

        seg = _array(segment, "segment")
        if seg.size != y.size:
            raise DataError(f"segment has {seg.size} rows, labels {y.size}")
        # Once per model: both differences come from one result (it was computed for each).
        ra = fairness(pd.DataFrame({"prediction": a, "target": y, "g": seg}), "g", pos_label=pos)
        rb = fairness(pd.DataFrame({"prediction": b, "target": y, "g": seg}), "g", pos_label=pos)
        for name in ("demographic_parity_difference", "equalized_odds_difference"):
            fa, fb = ra[name].value, rb[name].value
            out[name] = {
                "champion": fa,
                "challenger": fb,
                "change": None if fa is None or fb is None else fb - fa,
            }
    if sa is not None and sb is not None and pos is not None:
        from loopwise.metrics.performance import expected_calibration_error

        keys = canonical_array(y.tolist())
        positive = pc.fill_null(pc.equal(keys, pa.scalar(pos)), False).to_numpy(zero_copy_only=False)
        aps = [_average_precision(positive, _array(s, "scores").astype(float)) for s in (sa, sb)]
        out["average_precision"] = {
            "champion": aps[0],
            "challenger": aps[1],
            "change": None if aps[0] is None or aps[1] is None else aps[1] - aps[0],
        }
        eces = []
        for pred, s in ((a, sa), (b, sb)):
            prof = ClassificationProfile()
            prof.update(y, pred, {pos: _array(s, "scores").astype(float)})
            eces.append(expected_calibration_error(prof).value)
        out["expected_calibration_error"] = {
            "champion": eces[0],
            "challenger": eces[1],
            "change": None if eces[0] is None or eces[1] is None else eces[1] - eces[0],
        }
    return out


def _average_precision(positive: np.ndarray, s: np.ndarray) -> float | None:
    """Average precision (the area under the precision-recall curve as a step function, PR AUC) of
    ``s`` for the rows where ``positive``, exactly, with tied scores as one threshold; None without
    positives."""
    if not positive.any():
        return None
    order = np.argsort(-s, kind="mergesort")
    ranked, hits = s[order], positive[order]
    last = np.r_[np.flatnonzero(ranked[1:] != ranked[:-1]), ranked.size - 1]  # each threshold's last row
    tp = np.cumsum(hits)[last].astype(np.float64)
    precision = tp / (last + 1)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
