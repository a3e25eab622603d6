"""The result every metric returns: value, method, test, threshold, sample sizes and exactness."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


def _clean(x: Any) -> Any:
    """JSON-safe: NaN and infinity become None (a JSON document never holds them)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


@dataclass(frozen=True)
class DriftResult:
    """The drift of one column between a reference and a current.

    ``statistic`` is the method's value; ``p_value`` is set for test methods
    (ks, chisquare, z) and ``p_value_adjusted`` after the Benjamini-Hochberg
    correction across columns. ``exact`` is true when both sides were raw data
    or both counted each of their few distinct values (equal to the raw
    result), false when a side was a sketch or a histogram, and
    ``error_bound`` then bounds the statistic's error. For KS on two
    histograms on the same edges the statistic is the largest gap at the
    edges, where both CDFs are exact: a lower bound, the true statistic lies
    in [statistic, statistic + error_bound], and the p-value is computed at
    the statistic as the raw path would compute it. For KS on sketches the
    p-value is computed at the statistic minus the bound. Either way it errs
    towards "no drift". ``effect_size`` is a distance that does not grow
    with the sample size, to set beside the p-value.

    ``threshold_kind`` says how drift was decided: "alpha" (the p-value, after
    Benjamini-Hochberg, below ``threshold``), "fixed" (a distance at or above a
    fixed ``threshold``) or "calibrated" (``statistic`` above a threshold set
    from the reference's own chunks; ``calibration`` holds the rule, the
    false-alarm rate, the number and size of the chunks). ``test`` names the
    test ``p_value`` comes from: with a calibrated threshold, the plain test
    reported beside it (ks, chisquare or z), which does not decide.
    """

    column: str
    kind: str
    method: str
    statistic: float
    threshold: float
    drift_detected: bool
    n_reference: int
    n_current: int
    exact: bool
    p_value: float | None = None
    p_value_adjusted: float | None = None
    error_bound: float | None = None
    effect_size: float | None = None
    effect_size_method: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    threshold_kind: str = "alpha"
    test: str | None = None
    calibration: dict[str, Any] | None = None

    @property
    def is_test(self) -> bool:
        return self.p_value is not None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _clean(
            {
                "name": self.column,
                "metric": "drift",
                "kind": self.kind,
                "method": self.method,
                "statistic": self.statistic,
                "p_value": self.p_value,
                "p_value_adjusted": self.p_value_adjusted,
                "threshold": self.threshold,
                "threshold_kind": self.threshold_kind,
                "test": self.test,
                "calibration": self.calibration,
                "drift_detected": self.drift_detected,
                "exact": self.exact,
                "error_bound": self.error_bound,
                "effect_size": self.effect_size,
                "effect_size_method": self.effect_size_method,
                "n_reference": self.n_reference,
                "n_current": self.n_current,
                "details": self.details,
            }
        )
        return out

    def _repr_html_(self) -> str:
        from loopwise._display import block, fields, status

        verdict = "DRIFT" if self.drift_detected else "no drift"
        how = {"alpha": "adjusted p-value below", "fixed": "statistic at or above"}.get(
            self.threshold_kind, "statistic above (calibrated)"
        )
        return block(
            f"Drift of {self.column}",
            fields(
                [
                    ("verdict", status(verdict, not self.drift_detected)),
                    (self.method, self.statistic),
                    ("p-value" + (f" ({self.test})" if self.test else ""), self.p_value),
                    ("adjusted p-value", self.p_value_adjusted),
                    (f"threshold ({how})", self.threshold),
                    (f"effect size ({self.effect_size_method})", self.effect_size),
                    (
                        "exact",
                        self.exact if self.error_bound is None else f"no, error bound {self.error_bound:.3g}",
                    ),
                    ("values compared", f"{self.n_reference:,} reference, {self.n_current:,} current"),
                ]
            ),
            subtitle=f"{self.kind} column",
        )
