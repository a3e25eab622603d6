"""Estimates of a whole window from the labels reviewers gave its selected rows, weighted by the inclusion
probabilities the Policy recorded (loopwise.metrics.sampled does the arithmetic).

For each quantity three numbers stand side by side: the **combined** estimate (every reviewed row,
weighted by 1/π: the one to use), the **random**-slice estimate (only the rows the random selector drew,
weighted by 1/their selector probability: a check on the combined one, with a wider interval), and the
**naive** mean of the reviewed rows as if they were a simple random sample, which is biased whenever the
selectors favour rows that differ (uncertain rows are more often wrong). Rows not yet reviewed (NaN) are
left out, which assumes reviewers skip rows independently of their answer.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from loopwise._lazy import lazy
from loopwise.errors import DataError, EmptyDataError, ParameterError
from loopwise.metrics.sampled import SampledEstimate, Variance, hajek, horvitz_thompson, rate_gap
from loopwise.review.selection import Selection

if TYPE_CHECKING:
    from scipy import stats
else:
    stats = lazy("scipy.stats")


@dataclass(frozen=True)
class ReviewEstimate:
    """A window's mean estimated from reviews: combined, random slice alone, and naive (unweighted).

    ``horvitz_thompson`` is the unbiased alternative to the combined (Hájek) estimate, given for the whole
    window, whose size is known; ``random`` is None when the random slice holds no reviewed row.
    """

    combined: SampledEstimate
    random: SampledEstimate | None
    naive: SampledEstimate
    horvitz_thompson: SampledEstimate | None
    reviewed: int
    unreviewed: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "combined": self.combined.to_dict(),
            "random": None if self.random is None else self.random.to_dict(),
            "naive": self.naive.to_dict(),
            "horvitz_thompson": None if self.horvitz_thompson is None else self.horvitz_thompson.to_dict(),
            "reviewed": self.reviewed,
            "unreviewed": self.unreviewed,
        }


def _values(selection: Selection, values: Any) -> np.ndarray:
    if isinstance(values, str):
        if values not in selection.rows.columns:
            raise ParameterError("values", values, "a column of the selection's rows, or one value per row")
        values = selection.rows[values]
    y = np.asarray(values, dtype=np.float64).ravel()
    if y.size != len(selection.rows):
        raise DataError(
            f"{y.size} values for {len(selection.rows)} selected rows; give one per row (NaN: not reviewed)"
        )
    return y


def _segments(selection: Selection, column: str) -> np.ndarray:
    if column not in selection.rows.columns:
        raise ParameterError(
            "column",
            column,
            f"a column of the selection's rows ({', '.join(map(str, selection.rows.columns))})",
        )
    return np.asarray(selection.rows[column].to_numpy(dtype=object))


def naive_mean(values: np.ndarray, confidence: float = 0.95) -> SampledEstimate:
    """The plain mean of the reviewed rows with the simple-random-sample standard error s/√n: what one gets
    by ignoring how the rows were chosen."""
    n = values.size
    value = float(values.mean())
    se = float(values.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    lo, hi = value - z * se, value + z * se
    if np.all((values == 0) | (values == 1)):
        lo, hi = max(lo, 0.0), min(hi, 1.0)
    return SampledEstimate("unweighted", value, se, lo, hi, confidence, n, float(n), "simple_random_sample")


def _three(
    y: np.ndarray, selection: Selection, mask: np.ndarray, variance: Variance, confidence: float
) -> tuple[SampledEstimate, SampledEstimate | None, SampledEstimate]:
    rows = selection.rows
    pi = rows["inclusion_probability"].to_numpy()
    combined = hajek(y[mask], pi[mask], variance=variance, confidence=confidence)
    in_random = mask & (rows["selector"].to_numpy(dtype=object) == selection.random)
    random = None
    if selection.random and in_random.any():
        q = rows["selector_probability"].to_numpy()
        random = hajek(y[in_random], q[in_random], variance=variance, confidence=confidence)
    return combined, random, naive_mean(y[mask], confidence)


def estimate(
    selection: Selection, values: Any, *, variance: Variance = "poisson", confidence: float = 0.95
) -> ReviewEstimate:
    """The window's mean of ``values`` (one per selected row, e.g. 1 where the reviewer found the model
    right, NaN where no review came back; or the name of a column of ``selection.rows``).

    Example:
        >>> import numpy as np, pandas as pd
        >>> from loopwise.review import Policy, Random, Uncertainty, estimate
        >>> events = pd.DataFrame({"p_bad": np.linspace(0, 1, 1000)})
        >>> sel = Policy([Uncertainty(0.5, scores=["p_bad"]), Random(0.5)], tasks=100).select(events, seed=0)
        >>> e = estimate(sel, np.ones(len(sel)))
        >>> e.combined.value, e.naive.value
        (1.0, 1.0)
    """
    y = _values(selection, values)
    mask = ~np.isnan(y)
    if not mask.any():
        raise EmptyDataError("no selected row has been reviewed yet")
    combined, random, naive = _three(y, selection, mask, variance, confidence)
    pi = selection.rows["inclusion_probability"].to_numpy()
    ht = horvitz_thompson(y[mask], pi[mask], selection.window_rows, variance=variance, confidence=confidence)
    return ReviewEstimate(combined, random, naive, ht, int(mask.sum()), int((~mask).sum()))


def estimate_by_segment(
    selection: Selection,
    values: Any,
    column: str,
    *,
    variance: Variance = "poisson",
    confidence: float = 0.95,
) -> dict[Hashable, ReviewEstimate]:
    """Per value of the segment ``column`` among the reviewed rows: the segment's mean (e.g. its error
    rate), combined, from its random slice, and naive."""
    y = _values(selection, values)
    seg = _segments(selection, column)
    reviewed = ~np.isnan(y)
    out: dict[Hashable, ReviewEstimate] = {}
    for key in dict.fromkeys(seg[reviewed].tolist()):
        in_segment = seg == key
        mask = reviewed & in_segment
        combined, random, naive = _three(y, selection, mask, variance, confidence)
        out[key] = ReviewEstimate(
            combined, random, naive, None, int(mask.sum()), int((in_segment & ~reviewed).sum())
        )
    return out


def gap(
    selection: Selection,
    values: Any,
    column: str,
    a: Hashable,
    b: Hashable,
    *,
    variance: Variance = "poisson",
    confidence: float = 0.95,
) -> SampledEstimate:
    """Segment ``a``'s mean of ``values`` minus segment ``b``'s, weighted (a fairness gap in error rates)."""
    y = _values(selection, values)
    seg = _segments(selection, column)
    mask = ~np.isnan(y)
    pi = selection.rows["inclusion_probability"].to_numpy()
    return rate_gap(y[mask], pi[mask], seg[mask], a, b, variance=variance, confidence=confidence)
