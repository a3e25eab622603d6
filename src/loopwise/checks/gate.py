"""A gate's checks: a challenger against the champion on the same labelled rows (decision 0027).

Each factory returns an ordinary Check, so a gate is an ordinary Suite (Python or YAML) and may hold any
other check beside these (data drift and quality on the window, a performance floor):

- ``non_inferior(metric, margin, alpha)``: the one-sided (1 - alpha) lower bound of the improvement
  (challenger - champion, positive = better) is above ``-margin``;
- ``superior(metric, alpha)``: that bound is above 0 (better, at level alpha);
- ``fairness_budget(segment, budget)``: no group of the segment loses more than ``budget`` of accuracy
  (mae for a regressor) with the challenger;
- ``latency_budget(ms, stat)``: the challenger's own p99 (or p50, mean) time per prediction, measured while
  it replayed the window, is at most ``ms``.

Example:
    >>> from loopwise.checks import Suite
    >>> from loopwise.checks.gate import non_inferior, latency_budget
    >>> gate = Suite("gate", [non_inferior("accuracy", margin=0.01), latency_budget(50)])
    >>> for c in gate.checks:
    ...     print(c.title)
    accuracy: challenger not worse by more than 0.01 (a difference in accuracy; alpha 0.05)
    challenger p99 latency <= 50 ms
"""

from __future__ import annotations

from loopwise.checks.check import Check
from loopwise.checks.conditions import ge, gt, le
from loopwise.errors import ParameterError

#: The metric of the gate's checks that test the difference between the versions.
TESTED = ("challenger_difference_lower", "challenger_difference", "challenger_p_value")


def _alpha(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ParameterError("alpha", alpha, "a number between 0 and 1")
    return float(alpha)


def non_inferior_title(metric: str, margin: float, alpha: float | None = None) -> str:
    """How every non-inferiority check states its margin, whatever the metric: as a difference in the
    metric's own units (0.005 of accuracy is half a percentage point; 0.005 of ROC AUC, of log loss, in
    their units), never in "points" for one metric and bare for another."""
    at = "" if alpha is None else f"; alpha {alpha:g}"
    return f"{metric}: challenger not worse by more than {margin:g} (a difference in {metric}{at})"


def non_inferior(metric: str = "accuracy", margin: float = 0.01, alpha: float = 0.05) -> Check:
    """The challenger is not worse than the champion by more than ``margin`` (one-sided, level alpha)."""
    if margin < 0:
        raise ParameterError("margin", margin, "a non-negative number")
    return Check(
        "challenger_difference_lower",
        ge(-float(margin)),
        params={"metric": metric, "alpha": _alpha(alpha)},
        name=non_inferior_title(metric, margin, alpha),
    )


def superior(metric: str = "accuracy", alpha: float = 0.05, min_effect: float | None = None) -> Check:
    """The challenger is better than the champion (one-sided, level alpha); with ``min_effect`` (the smallest
    improvement that matters), a pass also needs a sample able to detect it (80% power), else the gate is
    inconclusive."""
    params: dict[str, float | str] = {"metric": metric, "alpha": _alpha(alpha)}
    if min_effect is not None:
        if not min_effect > 0:
            raise ParameterError("min_effect", min_effect, "a positive difference")
        params["min_effect"] = float(min_effect)
    return Check(
        "challenger_difference_lower",
        gt(0.0),
        params=params,
        name=f"{metric}: challenger better (alpha {alpha:g})",
    )


def fairness_budget(segment: str, budget: float = 0.02, metric: str = "accuracy", min_n: int = 30) -> Check:
    """No group of ``segment`` (with at least ``min_n`` labels) loses more than ``budget`` of the metric."""
    if budget < 0:
        raise ParameterError("budget", budget, "a non-negative number")
    return Check(
        "challenger_segment_change",
        ge(-float(budget)),
        segment=segment,
        params={"metric": metric, "min_n": int(min_n)},
        name=f"no {segment} group loses more than {budget:g} {metric}",
    )


def latency_budget(ms: float, stat: str = "p99") -> Check:
    """The challenger's own time per prediction (``stat``: p99, p50 or mean) is at most ``ms``."""
    if stat not in ("p50", "p99", "mean"):
        raise ParameterError("stat", stat, "p50, p99 or mean")
    return Check(
        "challenger_latency_ms",
        le(float(ms)),
        params={"stat": stat},
        name=f"challenger {stat} latency <= {ms:g} ms",
    )
