"""The result of a multivariate drift test: one statistic for all columns, its threshold and its rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loopwise.metrics.result import _clean


@dataclass(frozen=True)
class MultivariateDriftResult:
    """Whether ``current`` drifted from the reference in how its columns behave together.

    ``statistic`` is the method's value for the current (``statistic_name`` says
    what it is); it drifted when the statistic exceeds ``threshold`` (or falls
    below ``lower_threshold``, when there is one), both set by ``threshold_rule``
    from ``reference_chunks``: the same statistic on the reference's own chunks
    of ``chunk_size`` rows. ``exact`` is true when the
    statistic is computed on every row given (no subsample). ``needs_rows``
    says whether the method needs raw rows or works from stored summaries.
    """

    method: str
    statistic_name: str
    statistic: float
    threshold: float
    threshold_rule: str
    drift_detected: bool
    n_reference: int
    n_current: int
    columns: list[str]
    chunk_size: int
    reference_chunks: list[float]
    exact: bool
    needs_rows: bool
    lower_threshold: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _clean(
            {
                "metric": "multivariate_drift",
                "method": self.method,
                "statistic_name": self.statistic_name,
                "statistic": self.statistic,
                "threshold": self.threshold,
                "lower_threshold": self.lower_threshold,
                "threshold_rule": self.threshold_rule,
                "drift_detected": self.drift_detected,
                "n_reference": self.n_reference,
                "n_current": self.n_current,
                "columns": self.columns,
                "chunk_size": self.chunk_size,
                "reference_chunks": self.reference_chunks,
                "exact": self.exact,
                "needs_rows": self.needs_rows,
                "details": self.details,
                "warnings": self.warnings,
            }
        )
        return out

    def _repr_html_(self) -> str:
        from loopwise._display import block, fields, status

        verdict = "DRIFT" if self.drift_detected else "no drift"
        return block(
            f"Multivariate drift ({self.method})",
            fields(
                [
                    ("verdict", status(verdict, not self.drift_detected)),
                    (self.statistic_name, self.statistic),
                    ("threshold", self.threshold),
                    ("lower threshold", self.lower_threshold),
                    ("rule", self.threshold_rule),
                    ("rows", f"{self.n_reference:,} reference, {self.n_current:,} current"),
                    ("columns", ", ".join(self.columns)),
                ]
            ),
            subtitle=f"{len(self.reference_chunks)} reference chunks of {self.chunk_size:,} rows",
            notes=self.warnings,
        )

    def __repr__(self) -> str:
        verdict = "DRIFT" if self.drift_detected else "no drift"
        return (
            f"<MultivariateDriftResult {self.method}: {verdict}, {self.statistic_name} "
            f"{self.statistic:.4g} vs threshold {self.threshold:.4g}>"
        )


__all__ = ["MultivariateDriftResult"]
