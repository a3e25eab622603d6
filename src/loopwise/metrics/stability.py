"""Stability of a model's outputs: two versions' predictions and scores on the same traffic."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from loopwise._lazy import lazy
from loopwise.errors import DataError
from loopwise.metrics.drift import stats as drift_stats
from loopwise.metrics.drift.pairs import NumericPair, sorted_finite
from loopwise.profiles.canonical import canonical

if TYPE_CHECKING:
    from scipy import stats
else:
    stats = lazy("scipy.stats")


@dataclass(frozen=True)
class OutputComparison:
    """How two model versions' outputs on the same rows differ.

    ``agreement`` is the share of rows where the predictions are equal, with a
    95% Wilson interval; the score fields compare the two score distributions
    (KS, PSI on the first version's deciles, normed Wasserstein) and the rows
    pairwise (mean absolute difference).
    """

    n: int
    agreement: float | None
    agreement_ci: tuple[float, float] | None
    score_ks: float | None = None
    score_ks_p_value: float | None = None
    score_psi: float | None = None
    score_wasserstein: float | None = None
    score_mean_abs_diff: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "agreement": self.agreement,
            "agreement_ci": list(self.agreement_ci) if self.agreement_ci else None,
            "score_ks": self.score_ks,
            "score_ks_p_value": self.score_ks_p_value,
            "score_psi": self.score_psi,
            "score_wasserstein": self.score_wasserstein,
            "score_mean_abs_diff": self.score_mean_abs_diff,
        }


def wilson(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion."""
    if n == 0:
        return (math.nan, math.nan)
    z = statistics.NormalDist().inv_cdf(0.5 + level / 2)  # not scipy.stats: 1.2-1.9 s to import
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _values(x: Any) -> np.ndarray:
    if isinstance(x, (pa.Array, pa.ChunkedArray)):
        return np.asarray(x.to_numpy(zero_copy_only=False))
    return np.asarray(x)


def compare_outputs(
    predictions_a: Any,
    predictions_b: Any,
    scores_a: Any | None = None,
    scores_b: Any | None = None,
) -> OutputComparison:
    """Compare two model versions' outputs on the same rows (row i of each is the same event).

    Example:
        >>> r = compare_outputs([1, 0, 1, 1], [1, 0, 0, 1])
        >>> r.agreement
        0.75
    """
    pa_, pb = _values(predictions_a), _values(predictions_b)
    if pa_.shape[0] != pb.shape[0]:
        raise DataError(
            f"predictions_a has {pa_.shape[0]} rows and predictions_b {pb.shape[0]}; "
            "they must be the same events"
        )
    n = int(pa_.shape[0])
    if n == 0:
        raise DataError("no predictions to compare")
    # Canonical keys, so that 1 and 1.0 or True and "true" count as the same label.
    keys_a = np.array([canonical(v) for v in pa_.tolist()], dtype=object)
    keys_b = np.array([canonical(v) for v in pb.tolist()], dtype=object)
    same = int(np.sum(keys_a == keys_b))
    out = OutputComparison(n, same / n, wilson(same, n))
    if scores_a is None or scores_b is None:
        return out
    sa, sb = _values(scores_a).astype(np.float64), _values(scores_b).astype(np.float64)
    if sa.shape[0] != n or sb.shape[0] != n:
        raise DataError(
            f"scores must have one value per prediction ({n}); got {sa.shape[0]} and {sb.shape[0]}"
        )
    pair = NumericPair.build(sorted_finite(sa), sorted_finite(sb))
    d, w, _, _ = pair.ks_wasserstein()
    _cuts, ra, rb, _ = pair.bins(10)
    both = np.isfinite(sa) & np.isfinite(sb)
    return OutputComparison(
        n,
        out.agreement,
        out.agreement_ci,
        score_ks=d,
        score_ks_p_value=drift_stats.ks_exact_or_asymptotic(
            d, pair.ref_sorted, pair.cur_sorted, pair.n_ref, pair.n_cur
        )[0],
        score_psi=drift_stats.psi(ra, rb),
        score_wasserstein=w / (pair.ref_std or 1.0),
        score_mean_abs_diff=float(np.mean(np.abs(sa[both] - sb[both]))) if both.any() else None,
    )
