"""Model performance from task profiles, with confidence intervals and label coverage.

Names follow scikit-learn's where one exists. Intervals are analytic where the
metric allows it (Wilson for proportions, Hanley-McNeil for ROC AUC, normal
approximations from stored moments for losses and errors) and otherwise a
multinomial bootstrap of the confusion counts (F1, balanced accuracy).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from loopwise.errors import ParameterError, UnknownNameError
from loopwise.metrics.result import _clean
from loopwise.metrics.stability import wilson
from loopwise.profiles.task import CAL_BINS, SCORE_BINS, ClassificationProfile, RegressionProfile
from loopwise.schema import Schema, Task

#: Bootstrap resamples of the confusion counts for metrics without an analytic interval.
BOOTSTRAP = 400
#: Fewer labelled rows than this and a result warns that its interval is wide.
FEW_LABELS = 100


@dataclass(frozen=True)
class MetricResult:
    """A performance or fairness number, its interval, and what it rests on."""

    metric: str
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    confidence: float = 0.95
    n: int = 0
    label_coverage: float | None = None
    exact: bool = True
    error_bound: float | None = None
    higher_is_better: bool = True
    method: str = "exact"
    details: dict[str, Any] = field(default_factory=dict)
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _clean(
            {
                "metric": self.metric,
                "value": self.value,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "confidence": self.confidence,
                "n": self.n,
                "label_coverage": self.label_coverage,
                "exact": self.exact,
                "error_bound": self.error_bound,
                "higher_is_better": self.higher_is_better,
                "method": self.method,
                "details": self.details,
                "warning": self.warning,
            }
        )
        return out


MetricFn = Callable[..., MetricResult]
_REGISTRY: dict[str, tuple[str, MetricFn]] = {}


def register(name: str, task: str) -> Callable[[MetricFn], MetricFn]:
    def deco(fn: MetricFn) -> MetricFn:
        _REGISTRY[name] = (task, fn)
        return fn

    return deco


def names(task: str | None = None) -> list[str]:
    return sorted(n for n, (t, _) in _REGISTRY.items() if task is None or t == task)


def get(name: str) -> tuple[str, MetricFn]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError("performance metric", name, _REGISTRY) from None


def compute(
    name: str,
    profile: ClassificationProfile | RegressionProfile,
    schema: Schema | None = None,
    **params: Any,
) -> MetricResult:
    """Compute a registered metric on a task profile.

    With the ``schema``, its task decides what precision, recall, F1 and ROC AUC average (binary on the
    positive class, or macro over the classes), whatever the labels look like; ``params`` still win.
    """
    task, fn = get(name)
    if task != profile.task:
        raise ParameterError("metric", name, f"a {profile.task} metric ({', '.join(names(profile.task))})")
    note = None
    if schema is not None and isinstance(profile, ClassificationProfile):
        implied, note = task_params(schema, profile)
        params = {**implied, **params}
    result = fn(profile, **params)
    if note and name in AVERAGED and result.warning is None:
        result = replace(result, warning=note)
    return result


#: Metrics whose meaning depends on an average (binary, macro, ...): the task decides it.
AVERAGED = ("precision", "recall", "f1", "roc_auc", "average_precision")


def task_params(schema: Schema, profile: ClassificationProfile) -> tuple[dict[str, Any], str | None]:
    """The averaging a schema's task implies, and a note when the task leaves it ambiguous."""
    if schema.task is Task.MULTICLASS:
        return {"average": "macro"}, None
    if schema.task is Task.BINARY or schema.positive is not None:
        # A declared positive class makes the task binary, whatever else is left open.
        if schema.positive is not None:
            if schema.positive in profile.labels:
                return {"pos_label": schema.positive}, None
            return {"average": "macro"}, (
                f"the positive class {schema.positive!r} is not among the labels seen; macro average"
            )
        if positive_label(profile) is None and profile.labels:
            return {"average": "macro"}, (
                "a binary task whose labels are not 0/1 or booleans, and no positive class: macro average "
                "(declare 'positive:' in the schema for the binary one)"
            )
    return {}, None


# -- helpers --------------------------------------------------------------------------------------
def _z(confidence: float) -> float:
    # The standard library's, not scipy.stats' (1.2-1.9 s to import, decision 0062).
    return statistics.NormalDist().inv_cdf(0.5 + confidence / 2)


def positive_label(profile: ClassificationProfile, pos_label: Any = None) -> str | None:
    """The positive class: as given, else ``true`` or ``1`` when the labels are boolean or 0/1."""
    labels = profile.labels
    if pos_label is not None:
        from loopwise.profiles.canonical import canonical

        key = canonical(pos_label)
        if key not in labels:
            raise ParameterError("pos_label", pos_label, f"one of the labels ({', '.join(labels)})")
        return key
    for a, b in (("false", "true"), ("0", "1")):
        if set(labels) <= {a, b}:
            return b
    return None


def _result(
    name: str,
    p: ClassificationProfile | RegressionProfile,
    value: float | None,
    lo: float | None,
    hi: float | None,
    confidence: float,
    **kw: Any,
) -> MetricResult:
    warning = kw.pop("warning", None)
    if warning is None and p.n_labeled < FEW_LABELS:
        warning = f"only {p.n_labeled} labelled rows: the interval is wide"
    if p.n_labeled == 0:
        warning = "no labelled rows"
    return MetricResult(name, value, lo, hi, confidence, p.n_labeled, p.label_coverage, warning=warning, **kw)


def _per_class(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per class: true positives, predicted totals, true totals, F1."""
    tp = np.diag(m).astype(np.float64)
    pred = m.sum(axis=0).astype(np.float64)
    true = m.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(pred + true > 0, 2 * tp / (pred + true), 0.0)
    return tp, pred, true, f1


def _prf(m: np.ndarray, labels: list[str], kind: str, average: str, label: str | None) -> float:
    tp, pred, true, f1 = _per_class(m)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(pred > 0, tp / pred, 0.0)
        recall = np.where(true > 0, tp / true, 0.0)
    per = {"precision": precision, "recall": recall, "f1": f1}[kind]
    if label is not None:
        return float(per[labels.index(label)]) if label in labels else 0.0
    if average == "micro":
        total_tp = tp.sum()
        return float(total_tp / m.sum()) if m.sum() else 0.0
    present = (true + pred) > 0 if kind != "recall" else true > 0
    if average == "weighted":
        return float(np.sum(per * true) / true.sum()) if true.sum() else 0.0
    return float(per[present].mean()) if present.any() else 0.0


def interval(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central ``confidence`` interval of bootstrap (or simulated) draws."""
    a = (1 - confidence) / 2
    return float(np.quantile(draws, a)), float(np.quantile(draws, 1 - a))


def _bootstrap(
    m: np.ndarray, fn: Callable[[np.ndarray], float], confidence: float, seed: int = 0
) -> tuple[float | None, float | None]:
    total = int(m.sum())
    if total == 0:
        return None, None
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(total, (m / total).ravel(), size=BOOTSTRAP).reshape(BOOTSTRAP, *m.shape)
    return interval(np.array([fn(d) for d in draws]), confidence)


# -- classification -------------------------------------------------------------------------------
@register("accuracy", "classification")
def accuracy(p: ClassificationProfile, confidence: float = 0.95, **_: Any) -> MetricResult:
    _labels, m = p.matrix()
    correct, total = int(np.trace(m)), int(m.sum())
    lo, hi = wilson(correct, total, confidence) if total else (None, None)
    return _result("accuracy", p, correct / total if total else None, lo, hi, confidence, method="wilson")


@register("balanced_accuracy", "classification")
def balanced_accuracy(p: ClassificationProfile, confidence: float = 0.95, **_: Any) -> MetricResult:
    _labels, m = p.matrix()

    def value(mm: np.ndarray) -> float:
        true = mm.sum(axis=1)
        present = true > 0
        return float(np.mean(np.diag(mm)[present] / true[present])) if present.any() else 0.0

    v = value(m) if m.sum() else None
    lo, hi = _bootstrap(m, value, confidence)
    return _result("balanced_accuracy", p, v, lo, hi, confidence, method="bootstrap")


def _prf_metric(kind: str) -> MetricFn:
    def fn(
        p: ClassificationProfile,
        average: str | None = None,
        label: Any = None,
        pos_label: Any = None,
        confidence: float = 0.95,
        **_: Any,
    ) -> MetricResult:
        labels, m = p.matrix()
        if average not in (None, "binary", "macro", "weighted", "micro"):
            raise ParameterError("average", average, "binary, macro, weighted or micro")
        pos = positive_label(p, pos_label)
        if label is not None:
            from loopwise.profiles.canonical import canonical

            target: str | None = canonical(label)
        elif average in (None, "binary") and pos is not None:
            target = pos
        elif average == "binary":
            raise ParameterError("pos_label", pos_label, f"one of {', '.join(labels)} for average='binary'")
        else:
            target = None
        avg = average or "macro"
        v = _prf(m, labels, kind, avg, target) if m.sum() else None
        details = {"average": "binary" if target is not None and label is None else avg, "label": target}
        if target is not None and kind in ("precision", "recall") and m.sum():
            i = labels.index(target) if target in labels else -1
            tp = int(m[i, i]) if i >= 0 else 0
            denom = int(m[:, i].sum() if kind == "precision" else m[i, :].sum()) if i >= 0 else 0
            lo, hi = wilson(tp, denom, confidence) if denom else (None, None)
            method = "wilson"
        else:
            lo, hi = _bootstrap(m, lambda mm: _prf(mm, labels, kind, avg, target), confidence)
            method = "bootstrap"
        return _result(kind, p, v, lo, hi, confidence, method=method, details=details)

    return fn


for _k in ("precision", "recall", "f1"):
    register(_k, "classification")(_prf_metric(_k))


def _auc_from_hist(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    """ROC AUC with ties inside a bin counted as half, and the bound: half the within-bin pair share."""
    n_pos, n_neg = pos.sum(), neg.sum()
    below = np.cumsum(neg) - neg
    pairs = float(n_pos) * float(n_neg)
    auc = float(np.dot(pos, below + 0.5 * neg)) / pairs
    bound = 0.5 * float(np.dot(pos, neg)) / pairs
    return auc, bound


def _hanley_mcneil(auc: float, n_pos: int, n_neg: int) -> float:
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / (n_pos * n_neg)
    return math.sqrt(max(var, 0.0))


@register("roc_auc", "classification")
def roc_auc(
    p: ClassificationProfile,
    pos_label: Any = None,
    average: str = "macro",
    confidence: float = 0.95,
    **_: Any,
) -> MetricResult:
    pos = positive_label(p, pos_label)
    classes = [pos] if pos is not None else sorted(p.pos_hist)
    if not classes or any(c not in p.pos_hist for c in classes):
        return _result("roc_auc", p, None, None, None, confidence, warning="no scores for the positive class")
    aucs, bounds, ses = [], [], []
    for c in classes:
        ph, nh = p.pos_hist[c], p.neg_hist[c]
        if ph.sum() == 0 or nh.sum() == 0:
            return _result(
                "roc_auc",
                p,
                None,
                None,
                None,
                confidence,
                warning=f"class {c!r} has no {'positive' if ph.sum() == 0 else 'negative'} labels",
            )
        a, b = _auc_from_hist(ph, nh)
        aucs.append(a)
        bounds.append(b)
        ses.append(_hanley_mcneil(a, int(ph.sum()), int(nh.sum())))
    auc, bound = float(np.mean(aucs)), float(np.mean(bounds))
    se = float(np.sqrt(np.mean(np.square(ses)) / len(ses)))
    z = _z(confidence)
    return _result(
        "roc_auc",
        p,
        auc,
        max(0.0, auc - z * se - bound),
        min(1.0, auc + z * se + bound),
        confidence,
        exact=False,
        error_bound=bound,
        method="hanley-mcneil",
        details={"average": "binary" if pos else f"{average} one-vs-rest", "score_bins": SCORE_BINS},
    )


def _ap_from_hist(pos: np.ndarray, neg: np.ndarray) -> float | None:
    ph, nh = pos[::-1], neg[::-1]
    tp, fp = np.cumsum(ph), np.cumsum(nh)
    keep = (ph + nh) > 0
    if tp[-1] == 0:
        return None
    precision = tp[keep] / (tp[keep] + fp[keep])
    recall = tp[keep] / tp[-1]
    return float(np.sum(np.diff(np.concatenate(([0.0], recall))) * precision))


@register("average_precision", "classification")
def average_precision(
    p: ClassificationProfile, pos_label: Any = None, confidence: float = 0.95, **_: Any
) -> MetricResult:
    pos = positive_label(p, pos_label)
    classes = [pos] if pos is not None else sorted(p.pos_hist)
    if not classes or any(c not in p.pos_hist for c in classes):
        return _result("average_precision", p, None, None, None, confidence, warning="no scores")
    aps = [_ap_from_hist(p.pos_hist[c], p.neg_hist[c]) for c in classes]
    if any(a is None for a in aps):
        return _result("average_precision", p, None, None, None, confidence, warning="no positives")
    v = float(np.mean(aps))  # type: ignore[arg-type]
    # Bootstrap: the histogram cells (positives and negatives per score bin) resampled as a multinomial.
    rng = np.random.default_rng(0)
    boot = []
    for c in classes:
        cells = np.concatenate((p.pos_hist[c], p.neg_hist[c])).astype(np.float64)
        draws = rng.multinomial(int(cells.sum()), cells / cells.sum(), size=BOOTSTRAP)
        boot.append([_ap_from_hist(d[:SCORE_BINS], d[SCORE_BINS:]) or 0.0 for d in draws])
    vals = np.mean(np.array(boot), axis=0)
    lo, hi = interval(vals, confidence)
    return _result(
        "average_precision",
        p,
        v,
        lo,
        hi,
        confidence,
        exact=False,
        method="score histogram; bootstrap",
        details={"score_bins": SCORE_BINS, "note": "exact for scores rounded down to 1/4096"},
    )


def _mean_ci(
    s: float, ss: float, n: int, confidence: float
) -> tuple[float | None, float | None, float | None]:
    if n == 0:
        return None, None, None
    mean = s / n
    var = max(ss / n - mean * mean, 0.0) * n / max(n - 1, 1)
    half = _z(confidence) * math.sqrt(var / n)
    return mean, mean - half, mean + half


def _loss_metric(name: str, total: str, squares: str) -> MetricFn:
    def fn(p: ClassificationProfile, confidence: float = 0.95, **_: Any) -> MetricResult:
        v, lo, hi = _mean_ci(getattr(p, total), getattr(p, squares), p.n_scored, confidence)
        warning = None if p.n_scored else "no scored, labelled rows"
        return _result(
            name, p, v, lo, hi, confidence, higher_is_better=False, method="normal", warning=warning
        )

    return fn


register("log_loss", "classification")(_loss_metric("log_loss", "log_loss_sum", "log_loss_sumsq"))
register("brier_score", "classification")(_loss_metric("brier_score", "brier_sum", "brier_sumsq"))


@register("expected_calibration_error", "classification")
def expected_calibration_error(p: ClassificationProfile, confidence: float = 0.95, **_: Any) -> MetricResult:
    """Top-label ECE: sum over confidence bins of |accuracy - mean confidence| weighted by the bin's share."""
    if not p.conf_labeled:
        return _result("expected_calibration_error", p, None, None, None, confidence, warning="no scores")
    counts = sum((np.asarray(a, np.float64) for a in p.conf_labeled.values()), np.zeros(CAL_BINS))
    correct = sum((np.asarray(a, np.float64) for a in p.conf_correct.values()), np.zeros(CAL_BINS))
    conf = sum((np.asarray(a, np.float64) for a in p.conf_sum.values()), np.zeros(CAL_BINS))
    n = counts.sum()
    if n == 0:
        return _result(
            "expected_calibration_error", p, None, None, None, confidence, warning="no labelled rows"
        )
    v = float(np.sum(np.abs(correct - conf)) / n)
    # Bootstrap: rows per bin resampled (multinomial), right answers per bin binomial at the bin's accuracy;
    # a bin's mean confidence is held fixed (its spread inside a 1/20-wide bin is small).
    rng = np.random.default_rng(0)
    sizes = rng.multinomial(int(n), counts / n, size=BOOTSTRAP)
    acc = np.divide(correct, counts, out=np.zeros(CAL_BINS), where=counts > 0)
    mean_conf = np.divide(conf, counts, out=np.zeros(CAL_BINS), where=counts > 0)
    hits = rng.binomial(sizes, acc)
    vals = np.sum(np.abs(hits - sizes * mean_conf), axis=1) / n
    lo, hi = interval(vals, confidence)
    return _result(
        "expected_calibration_error",
        p,
        v,
        lo,
        hi,
        confidence,
        higher_is_better=False,
        method="binned; bootstrap",
        details={"bins": CAL_BINS, "definition": "top-label confidence"},
    )


# -- regression -----------------------------------------------------------------------------------
def _moment_metric(name: str, attr: str, higher: bool = False) -> MetricFn:
    def fn(p: RegressionProfile, confidence: float = 0.95, **_: Any) -> MetricResult:
        m = getattr(p, attr)
        if m.count == 0:
            return _result(name, p, None, None, None, confidence, higher_is_better=higher)
        half = _z(confidence) * m.std / math.sqrt(m.count) if m.count > 1 else math.nan
        return _result(
            name,
            p,
            m.mean,
            m.mean - half,
            m.mean + half,
            confidence,
            higher_is_better=higher,
            method="normal",
        )

    return fn


register("mae", "regression")(_moment_metric("mae", "abs_error"))
register("mse", "regression")(_moment_metric("mse", "sq_error"))
register("mape", "regression")(_moment_metric("mape", "ape"))
register("mean_error", "regression")(_moment_metric("mean_error", "error"))


@register("rmse", "regression")
def rmse(p: RegressionProfile, confidence: float = 0.95, **_: Any) -> MetricResult:
    r = _moment_metric("mse", "sq_error")(p, confidence=confidence)
    if r.value is None:
        return _result("rmse", p, None, None, None, confidence, higher_is_better=False)
    lo = math.sqrt(max(r.ci_low or 0.0, 0.0)) if r.ci_low is not None else None
    hi = math.sqrt(r.ci_high) if r.ci_high is not None and not math.isnan(r.ci_high) else None
    return _result("rmse", p, math.sqrt(r.value), lo, hi, confidence, higher_is_better=False, method="normal")


@register("r2", "regression")
def r2(p: RegressionProfile, confidence: float = 0.95, **_: Any) -> MetricResult:
    if p.target.count < 2 or p.target.m2 == 0:
        return _result("r2", p, None, None, None, confidence, warning="needs at least two distinct targets")
    sse = p.sq_error.mean * p.sq_error.count
    # No interval: it would need the cross-moment of squared errors and squared deviations,
    # which the profile does not keep (docs/performance.md).
    return _result("r2", p, 1 - sse / p.target.m2, None, None, confidence, method="exact")


@register("error_quantile", "regression")
def error_quantile(p: RegressionProfile, q: float = 0.5, confidence: float = 0.95, **_: Any) -> MetricResult:
    if not 0 <= q <= 1:
        raise ParameterError("q", q, "a quantile in [0, 1]")
    if p.error.count == 0:
        return _result("error_quantile", p, None, None, None, confidence, higher_is_better=False)
    sk = p.error_sketch
    eps = float(sk.normalized_rank_error(False)) if sk.is_estimation_mode() else 0.0
    v = float(sk.get_quantile(q))
    lo, hi = float(sk.get_quantile(max(q - eps, 0.0))), float(sk.get_quantile(min(q + eps, 1.0)))
    return _result(
        "error_quantile",
        p,
        v,
        lo,
        hi,
        confidence,
        exact=eps == 0.0,
        error_bound=eps,
        higher_is_better=False,
        method="kll",
        details={"q": q, "interval": "rank error bound"},
    )
