"""Drift statistics of a reference's own chunks, each against the rest of the reference.

A calibrated threshold (``loopwise.metrics.thresholds``) is set from the spread
of a column's statistic over the reference's chunks. Each chunk is compared
with the rest of the reference (the whole minus the chunk: counts subtract
exactly), not with the whole that contains it, so that a chunk of the
reference and a new chunk of traffic are measured the same way: against rows
they are not part of. The pairs are the ones ``compare`` builds for a profile
against a profile on the same edges (``NumericPair`` in "binned" mode,
``CategoricalPair``), so the chunk statistics and a window's statistic are the
same quantity. KS on numeric columns and the distances on categorical counts
are computed for all chunks at once, by the same formulas (a test checks
they equal the pair code chunk by chunk); other methods go chunk by chunk
through the registered method itself.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from loopwise._lazy import lazy
from loopwise.metrics import registry
from loopwise.metrics.drift import stats
from loopwise.metrics.drift.pairs import CategoricalPair, NumericPair
from loopwise.metrics.thresholds import CalibratedThreshold, calibrate
from loopwise.profiles.chunks import Chunks, ColumnChunks
from loopwise.profiles.histogram import Histogram
from loopwise.profiles.moments import Moments
from loopwise.profiles.numeric import NumericProfile
from loopwise.profiles.others import TextProfile

if TYPE_CHECKING:
    from scipy import special
    from scipy import stats as sps
else:
    special = lazy("scipy.special")
    sps = lazy("scipy.stats")

#: The method each kind is calibrated with unless one is asked for: distances, whose spread over chunks
#: does not grow with the sample size the way chi-square's and z's do under any small non-i.i.d. difference.
CALIBRATED_METHOD = {
    "numeric": "ks",
    "text": "ks",
    "categorical": "jensenshannon",
    "boolean": "jensenshannon",
}


def plain_test(kind: str, categories: int) -> str:
    """The test whose p-value is reported beside a calibrated threshold."""
    if kind in ("numeric", "text"):
        return "ks"
    return "z" if kind == "boolean" or categories <= 2 else "chisquare"


def chunk_statistics(chunks: Chunks, name: str, whole: Any, method: str, bins: int) -> np.ndarray:
    """The ``method`` statistic of each chunk of column ``name`` against the rest of the reference.

    ``whole`` is the reference profile's column (its histogram edges are the
    chunks' bins). Computed once per (column, method, bins) and kept on ``chunks``.
    """
    key = ("statistics", name, method, bins)
    cached = chunks.cache.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    cc = chunks.columns[name]
    with np.errstate(divide="ignore", invalid="ignore"):
        if cc.kind in ("numeric", "text"):
            num = whole.lengths if isinstance(whole, TextProfile) else whole
            assert isinstance(num, NumericProfile) and num.hist is not None
            out = _numeric(cc, num.hist.edges, method, bins)
        else:
            out = _categorical(cc, method, bins)
    chunks.cache[key] = out
    return out


def threshold(
    chunks: Chunks, name: str, whole: Any, method: str, bins: int, rate: float
) -> tuple[CalibratedThreshold, float]:
    """The calibrated threshold of column ``name`` for ``method`` at false-alarm ``rate``, and the
    calibration comparisons' effective size (median over chunks); computed once per reference."""
    key = ("threshold", name, method, bins, rate)
    cached = chunks.cache.get(key)
    if cached is None:
        stats_ = chunk_statistics(chunks, name, whole, method, bins)
        upper = registry.get(method).upper
        cached = chunks.cache[key] = (
            calibrate(stats_, rate, upper),
            median_effective_size(chunks.columns[name]),
        )
    return cached


def chunk_sizes(cc: ColumnChunks) -> tuple[np.ndarray, np.ndarray]:
    """Values counted in each chunk, and in its rest."""
    per_chunk = cc.chunk_sizes.astype(np.float64)
    return per_chunk, float(cc.whole.sum()) - per_chunk


# -- numeric ------------------------------------------------------------------------------------
def _numeric(cc: ColumnChunks, edges: np.ndarray, method: str, bins: int) -> np.ndarray:
    if method == "ks":
        return ks_chunks_against_rest(cc.counts[:-1], cc.whole)
    chunk, rest = cc.chunk_counts, cc.rest_counts()
    assert cc.moments is not None
    fn = registry.get(method).numeric
    assert fn is not None
    out = np.empty(cc.n_chunks)
    for i, rest_moments in enumerate(_rest_moments(cc.moments)):
        pair = NumericPair(
            "binned",
            ref_profile=_profile(edges, rest[i], rest_moments),
            cur_profile=_profile(edges, chunk[i], _moments(cc.moments[i])),
        )
        out[i] = float(fn(pair, bins=bins)[0])
    return out


def ks_chunks_against_rest(chunks: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """The KS statistic of each chunk's histogram counts against the rest's (whole minus chunk): the
    largest gap of the two CDFs at the edges, as the binned pair computes it, from one cumulative sum.

    Example:
        >>> chunks = np.array([[0, 5, 5, 0], [0, 0, 5, 5]]); whole = np.array([0, 5, 10, 5])
        >>> ks_chunks_against_rest(chunks, whole).tolist()  # [5, 5] vs [0, 5, 5]; [0, 5, 5] vs [5, 5]
        [0.5, 0.5]
    """
    below = np.cumsum(chunks[:, :-1], axis=1, dtype=np.int64)
    n_chunk = below[:, -1] + chunks[:, -1]
    below_whole = np.cumsum(whole[:-1])
    n_rest = whole.sum() - n_chunk
    gap = np.abs((below_whole - below) / n_rest[:, None] - below / n_chunk[:, None])
    return np.asarray(gap.max(axis=1), dtype=np.float64)


def _moments(row: np.ndarray) -> Moments:
    count = int(row[0])
    return Moments(count, float(row[1]), float(row[2]), float(row[3]), float(row[4])) if count else Moments()


def _rest_moments(rows: np.ndarray) -> list[Moments]:
    """For each chunk, the Moments of every other row (the remainder too), by prefix and suffix merges."""
    ms = [_moments(r) for r in rows]
    k = len(ms) - 1
    prefix = [Moments()]
    for m in ms[:k]:
        prefix.append(prefix[-1].merge(m))
    suffix = [Moments()] * (k + 1)
    suffix[k] = ms[k]
    for i in range(k - 1, -1, -1):
        suffix[i] = ms[i].merge(suffix[i + 1])
    return [prefix[i].merge(suffix[i + 1]) for i in range(k)]


def _profile(edges: np.ndarray, counts: np.ndarray, moments: Moments) -> NumericProfile:
    """A profile that holds only what the binned pair reads: histogram counts and moments."""
    return NumericProfile(n=moments.count, moments=moments, hist=Histogram(edges, counts.astype(np.int64)))


# -- categorical --------------------------------------------------------------------------------
def _categorical(cc: ColumnChunks, method: str, bins: int) -> np.ndarray:
    assert cc.keys is not None
    chunk = cc.chunk_counts.astype(np.float64)
    rest = cc.rest_counts().astype(np.float64)
    fast = _VECTORISED.get(method)
    if fast is not None:
        return fast(rest, chunk)
    fn = registry.get(method).categorical
    assert fn is not None
    keys = cc.keys
    out = np.empty(cc.n_chunks)
    for i in range(cc.n_chunks):
        pair = CategoricalPair(list(keys), rest[i], chunk[i], True, 0.0)
        out[i] = float(fn(pair, bins=bins)[0])
    return out


def _proportions(counts: np.ndarray) -> np.ndarray:
    total = counts.sum(axis=1, keepdims=True)
    return np.where(total > 0, counts / np.where(total > 0, total, 1.0), 0.0)


def jensen_shannon_rows(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """``stats.jensen_shannon`` of each row pair."""
    p, q = _proportions(ref), _proportions(cur)
    m = (p + q) / 2
    div = 0.5 * (special.rel_entr(p, m).sum(axis=1) + special.rel_entr(q, m).sum(axis=1))
    return np.asarray(np.sqrt(np.maximum(div, 0.0)), dtype=np.float64)


def hellinger_rows(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """``stats.hellinger`` of each row pair."""
    p, q = _proportions(ref), _proportions(cur)
    return np.asarray(np.sqrt(np.maximum(0.5 * ((np.sqrt(p) - np.sqrt(q)) ** 2).sum(axis=1), 0.0)))


def psi_rows(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """``stats.psi`` of each row pair."""
    r = np.maximum(_proportions(ref), stats.EPS)
    c = np.maximum(_proportions(cur), stats.EPS)
    return np.asarray(((c - r) * np.log(c / r)).sum(axis=1), dtype=np.float64)


def kl_rows(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """``stats.kl`` of each row pair."""
    r = np.maximum(_proportions(ref), stats.EPS)
    c = np.maximum(_proportions(cur), stats.EPS)
    r, c = r / r.sum(axis=1, keepdims=True), c / c.sum(axis=1, keepdims=True)
    return np.asarray((r * np.log(r / c)).sum(axis=1), dtype=np.float64)


_VECTORISED = {
    "jensenshannon": jensen_shannon_rows,
    "hellinger": hellinger_rows,
    "psi": psi_rows,
    "kl": kl_rows,
}


def null_quantile(method: str, n_eff: float, rate: float, cells: int) -> float | None:
    """The (1 - rate) quantile of ``method``'s statistic between two samples from one distribution,
    at effective size ``n_eff`` over ``cells`` bins or categories (asymptotic); None when not known.

    KS: the Kolmogorov distribution's quantile over sqrt(n_eff). The binned distances are, to first
    order, Pearson's chi-square X over n_eff: Jensen-Shannon and Hellinger sqrt(X / 8 n_eff), PSI
    X / n_eff, KL X / 2 n_eff, with X ~ chi-square(cells - 1).

    Example:
        >>> round(null_quantile("ks", 10_000, 0.05, 0), 4)  # 1.3581 / sqrt(10,000)
        0.0136
    """
    if n_eff <= 0 or not math.isfinite(n_eff):
        return None
    if method == "ks":
        return _quantile("kolmogorov", rate, 0) / math.sqrt(n_eff)
    if cells < 2:
        return None
    if method in ("jensenshannon", "hellinger"):
        return math.sqrt(_quantile("chi2", rate, cells - 1) / (8 * n_eff))
    if method == "psi":
        return _quantile("chi2", rate, cells - 1) / n_eff
    if method == "kl":
        return _quantile("chi2", rate, cells - 1) / (2 * n_eff)
    return None


@functools.lru_cache(maxsize=256)
def _quantile(distribution: str, rate: float, dof: int) -> float:
    # scipy's ppf costs tens of microseconds; a monitor asks for the same few, every window.
    if distribution == "kolmogorov":
        return float(sps.kstwobign.ppf(1 - rate))
    return float(sps.chi2.ppf(1 - rate, dof))


def effective_size(n_a: float, n_b: float) -> float:
    """The effective size n_a n_b / (n_a + n_b) of a two-sample statistic: its null spread goes with it."""
    return n_a * n_b / (n_a + n_b) if n_a > 0 and n_b > 0 else 0.0


def median_effective_size(cc: ColumnChunks) -> float:
    """The effective size of the calibration comparisons (chunk against rest), their median."""
    per_chunk, per_rest = chunk_sizes(cc)
    keep = (per_chunk > 0) & (per_rest > 0)
    sizes = np.sort(per_chunk[keep] * per_rest[keep] / (per_chunk[keep] + per_rest[keep]))
    k = sizes.size
    return float(sizes[(k - 1) // 2] + sizes[k // 2]) / 2 if k else math.nan


__all__ = [
    "CALIBRATED_METHOD",
    "chunk_statistics",
    "effective_size",
    "hellinger_rows",
    "jensen_shannon_rows",
    "kl_rows",
    "ks_chunks_against_rest",
    "median_effective_size",
    "null_quantile",
    "plain_test",
    "psi_rows",
    "threshold",
]
