"""What an estimate says: the value, its interval, the realized value once labels exist, and its caveats."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loopwise.metrics.result import _clean

#: Stated in every result, not only in the docs: what the estimate takes for granted.
ASSUMPTION = (
    "assumes no concept shift: P(y | x) as in the reference (covariate shift is allowed); "
    "the estimate cannot see the inputs coming to mean other outcomes"
)
CBPE = "confidence-based performance estimation"
DLE = "direct loss estimation"


@dataclass(frozen=True)
class Estimate:
    """An estimated metric with its interval, and the realized value where labels exist.

    ``per_class`` holds, for per-class metrics, each class's estimate, interval and
    realized value; ``warnings`` say when the current is outside what the reference
    can vouch for; ``assumption`` is what every estimate takes for granted.
    """

    metric: str
    estimate: float
    ci_low: float
    ci_high: float
    realized: float | None
    realized_ci: tuple[float, float] | None
    label_coverage: float | None
    n: int
    method: str = CBPE
    confidence: float = 0.95
    per_class: dict[str, dict[str, float | None]] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    assumption: str = ASSUMPTION

    def _repr_html_(self) -> str:
        return Estimates({self.metric: self})._repr_html_()

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
                "confidence": self.confidence,
                "realized": self.realized,
                "realized_ci": list(self.realized_ci) if self.realized_ci else None,
                "label_coverage": self.label_coverage,
                "n": self.n,
                "method": self.method,
                "per_class": self.per_class,
                "details": self.details or None,
                "warnings": list(self.warnings),
                "assumption": self.assumption,
            }
        )
        return out


class Estimates(dict[str, Estimate]):
    """The estimates of ``PerformanceEstimator.estimate`` by metric name: a dict, shown as one table."""

    def _repr_html_(self) -> str:
        from loopwise._display import block, interval, pct, status, table

        rows = []
        for e in self.values():
            within = e.realized_within_interval
            rows.append(
                [
                    e.metric,
                    interval(e.estimate, e.ci_low, e.ci_high),
                    "" if e.realized is None else e.realized,
                    "" if within is None else status("yes" if within else "no", within),
                    pct(e.label_coverage),
                    e.n,
                ]
            )
        first = next(iter(self.values()), None)
        sub = f"{first.method}, {first.confidence:.0%} intervals" if first is not None else ""
        notes = dict.fromkeys(w for e in self.values() for w in e.warnings)
        return block(
            "Estimated performance",
            table(["metric", "estimate [interval]", "realized", "realized inside", "labelled", "rows"], rows),
            subtitle=sub,
            notes=[*notes, first.assumption] if first is not None else [],
        )
