"""Estimates of a whole window's mean (accuracy, an error rate, a gap between two segments' rates) from a
sample whose inclusion probabilities are known, such as the rows a review Policy chose.

Row i of the window was sampled with probability π_i; only sampled rows have a value y_i (a reviewer's
verdict: 1 if the model was right). Weighting each by 1/π_i undoes the selection:

- **Horvitz–Thompson**: ŷ = (1/N) Σ y_i/π_i, with N the window's size (known). Unbiased whenever every
  row of the window had π_i > 0 (which the random slice of a Policy guarantees).
- **Hájek**: ŷ = Σ (y_i/π_i) / Σ (1/π_i), the weighted mean. Consistent rather than unbiased (its
  bias is of order 1/n), but usually of smaller variance, it is invariant to adding a constant to y, and
  it needs no N, so it also estimates a segment's rate without the segment's size. The default.

Variances (``variance=``):

- ``"poisson"`` (default): the design a review Policy draws is Poisson sampling (each row included
  independently with its own π_i), for which V̂(HT total) = Σ (1 - π_i) y_i²/π_i² is exactly unbiased,
  and the Hájek estimator's linearised (Taylor) variance is Σ (1 - π_i) (y_i - ŷ)²/π_i² / N̂², with
  N̂ = Σ 1/π_i. Rows with π_i = 1 add no variance: they were certain to be seen.
- ``"with_replacement"``: the Hansen–Hurwitz approximation, n/(n-1) Σ (z_i - z̄)² with z_i = y_i/π_i
  (HT) or z_i = (y_i - ŷ)/π_i (Hájek), over N² or N̂². It is unbiased for n draws with replacement
  (π_i = n p_i) and a common approximation for other designs of unknown joint inclusion probabilities.
  It ignores the finite-population correction, so for the Hájek estimator under Poisson sampling it is
  conservative; it also treats n as fixed, so for Horvitz–Thompson under Poisson sampling (where n is
  random) it can understate the variance: keep ``"poisson"`` for a Policy's samples.

Intervals (``interval=``): ``"normal"`` is the Wald interval, estimate ± z·SE. ``"auto"`` (default) uses it
for any mean, but for a proportion (every y in {0, 1}) it builds the interval on the logit scale and maps
it back (SE/(p(1-p)) there, as R's ``survey::svyciprop(method="logit")`` does): an accuracy near 1 has a
skewed sampling distribution, and with weighted samples the symmetric interval misses high estimates
more often than low ones (docs/review.md compares the two in the review simulation). At an estimate of
exactly 0 or 1 it is the Wilson interval at Kish's effective sample size (Σw)²/Σw², so it never
collapses to a point. A Horvitz–Thompson estimate of a proportion can fall outside [0, 1], and then gets
the normal interval, clipped to [0, 1]. Two segments are disjoint
sets of rows, so under Poisson sampling their Hájek rates are independent and the variance of their
difference is the sum of the two variances.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from loopwise._lazy import lazy
from loopwise.errors import DataError, EmptyDataError, NotComputableError, ParameterError

if TYPE_CHECKING:
    from scipy import special, stats
else:
    special = lazy("scipy.special")
    stats = lazy("scipy.stats")

Variance = Literal["poisson", "with_replacement"]
VARIANCES = ("poisson", "with_replacement")
Interval = Literal["auto", "normal"]
INTERVALS = ("auto", "normal")


@dataclass(frozen=True)
class SampledEstimate:
    """An estimate of a window's mean from a weighted sample, with its standard error and interval.

    ``n`` counts the sampled rows used; ``population`` is the window's size N (Horvitz–Thompson, given)
    or its estimate N̂ = Σ 1/π_i (Hájek).
    """

    method: str
    value: float
    std_error: float
    ci_low: float
    ci_high: float
    confidence: float
    n: int
    population: float
    variance: str
    interval: str = "normal"

    def __float__(self) -> float:
        return self.value

    def covers(self, truth: float) -> bool:
        """Whether the interval holds ``truth``."""
        return self.ci_low <= truth <= self.ci_high

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "method": self.method,
            "value": self.value,
            "std_error": self.std_error,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "confidence": self.confidence,
            "n": self.n,
            "population": self.population,
            "variance": self.variance,
            "interval": self.interval,
        }


def _inputs(values: Any, probabilities: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(values, dtype=np.float64).ravel()
    pi = np.asarray(probabilities, dtype=np.float64).ravel()
    if y.size != pi.size:
        raise DataError(f"{y.size} values but {pi.size} inclusion probabilities; give one per sampled row")
    if y.size == 0:
        raise EmptyDataError("no sampled rows to estimate from")
    if not np.all(np.isfinite(y)):
        row = int(np.flatnonzero(~np.isfinite(y))[0])
        raise DataError(f"values must be finite numbers; row {row} is not")
    bad = ~((pi > 0) & (pi <= 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"inclusion probabilities must be in (0, 1]; row {i} has {float(pi[i])!r}")
    return y, pi


def _check(variance: str, confidence: float, interval: str = "normal") -> float:
    if variance not in VARIANCES:
        raise ParameterError("variance", variance, VARIANCES)
    if interval not in INTERVALS:
        raise ParameterError("interval", interval, INTERVALS)
    if not 0 < confidence < 1:
        raise ParameterError("confidence", confidence, "a number between 0 and 1")
    return float(stats.norm.ppf(0.5 + confidence / 2))


def _result(
    method: str,
    value: float,
    var: float,
    y: np.ndarray,
    pi: np.ndarray,
    population: float,
    variance: str,
    confidence: float,
    interval: str,
) -> SampledEstimate:
    z = _check(variance, confidence, interval)
    se = float(np.sqrt(max(var, 0.0)))
    proportion = bool(np.all((y == 0) | (y == 1)))
    if interval == "auto" and proportion and 0.0 < value < 1.0:
        kind = "logit"
        centre, half = np.log(value / (1.0 - value)), z * se / (value * (1.0 - value))
        lo, hi = special.expit(centre - half), special.expit(centre + half)
    elif interval == "auto" and proportion and value in (0.0, 1.0):
        kind = "wilson_effective_n"
        w = 1.0 / pi
        n = float(w.sum() ** 2 / np.sum(w**2))
        mid = (value + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(value * (1 - value) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        lo, hi = (0.0, mid + half) if value == 0.0 else (mid - half, 1.0)
    else:
        kind = "normal"
        lo, hi = value - z * se, value + z * se
        if proportion:
            lo, hi = max(lo, 0.0), min(hi, 1.0)
    return SampledEstimate(
        method, value, se, float(lo), float(hi), confidence, int(y.size), population, variance, kind
    )


def _spread(z: np.ndarray, pi: np.ndarray, variance: str) -> float:
    """The variance of a total Σ z_i/π_i: Poisson-exact, or the with-replacement approximation."""
    if variance == "poisson":
        return float(np.sum((1.0 - pi) * (z / pi) ** 2))
    n = z.size
    if n < 2:
        raise NotComputableError("the with-replacement variance needs at least two sampled rows")
    t = z / pi
    return float(n / (n - 1) * np.sum((t - t.mean()) ** 2))


def horvitz_thompson(
    values: Any,
    probabilities: Any,
    population: float,
    *,
    variance: Variance = "poisson",
    confidence: float = 0.95,
    interval: Interval = "auto",
) -> SampledEstimate:
    """The Horvitz–Thompson estimate of the mean of a window of ``population`` rows.

    ``values``: one per sampled row (e.g. 1 where the reviewer found the model right);
    ``probabilities``: each row's inclusion probability. See the module docstring for the variances and
    intervals.

    Example:
        >>> e = horvitz_thompson([1, 0, 1, 1], [0.5, 0.5, 0.25, 1.0], population=10)
        >>> e.value
        0.7
    """
    y, pi = _inputs(values, probabilities)
    _check(variance, confidence, interval)
    if not population > 0:
        raise ParameterError("population", population, "a positive number of rows")
    value = float(np.sum(y / pi) / population)
    var = _spread(y, pi, variance) / population**2
    return _result("horvitz_thompson", value, var, y, pi, float(population), variance, confidence, interval)


def hajek(
    values: Any,
    probabilities: Any,
    *,
    variance: Variance = "poisson",
    confidence: float = 0.95,
    interval: Interval = "auto",
) -> SampledEstimate:
    """The Hájek (weighted-mean) estimate of a window's mean, with its linearised variance.

    With equal probabilities it is the plain mean of the sample.

    Example:
        >>> e = hajek([1, 0, 1, 1], [0.5, 0.5, 0.25, 1.0])
        >>> round(e.value, 4), e.population
        (0.7778, 9.0)
    """
    y, pi = _inputs(values, probabilities)
    _check(variance, confidence, interval)
    population = float(np.sum(1.0 / pi))
    value = float(np.sum(y / pi) / population)
    var = _spread(y - value, pi, variance) / population**2
    return _result("hajek", value, var, y, pi, population, variance, confidence, interval)


def by_segment(
    values: Any,
    probabilities: Any,
    segments: Sequence[Hashable] | np.ndarray,
    *,
    variance: Variance = "poisson",
    confidence: float = 0.95,
    interval: Interval = "auto",
) -> dict[Hashable, SampledEstimate]:
    """The Hájek estimate of each segment's mean (e.g. its error rate), keyed by segment value.

    ``segments``: each sampled row's segment. A segment's estimate uses its own rows only: under Poisson
    sampling that is exactly the Hájek estimator of the domain.
    """
    y, pi = _inputs(values, probabilities)
    seg = np.asarray(segments, dtype=object).ravel()
    if seg.size != y.size:
        raise DataError(f"{y.size} values but {seg.size} segments; give one per sampled row")
    out: dict[Hashable, SampledEstimate] = {}
    for key in dict.fromkeys(seg.tolist()):
        mask = seg == key
        out[key] = hajek(y[mask], pi[mask], variance=variance, confidence=confidence, interval=interval)
    return out


def rate_gap(
    values: Any,
    probabilities: Any,
    segments: Sequence[Hashable] | np.ndarray,
    a: Hashable,
    b: Hashable,
    *,
    variance: Variance = "poisson",
    confidence: float = 0.95,
) -> SampledEstimate:
    """Segment ``a``'s mean minus segment ``b``'s (a fairness gap in error or selection rates).

    The two Hájek estimates are independent under Poisson sampling (disjoint rows, independent draws), so
    the gap's variance is the sum of theirs.
    """
    parts = by_segment(values, probabilities, segments, variance=variance, confidence=confidence)
    for name, key in (("a", a), ("b", b)):
        if key not in parts:
            raise DataError(f"segment {name}={key!r} has no sampled rows; segments sampled: {list(parts)}")
    ea, eb = parts[a], parts[b]
    z = _check(variance, confidence)
    value = ea.value - eb.value
    se = float(np.hypot(ea.std_error, eb.std_error))
    return SampledEstimate(
        "hajek_difference",
        value,
        se,
        value - z * se,
        value + z * se,
        confidence,
        ea.n + eb.n,
        ea.population + eb.population,
        variance,
        "normal",
    )
