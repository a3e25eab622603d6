"""The reference's calibration: P(true class j | predicted class k, class j's score bin), with its posterior.

Read from a labelled reference's estimation histograms (``ClassificationProfile.est_*``).
Each (k, j) curve is the isotonic (monotone in the score) fit of the bins' hit rates,
weighted by their labelled rows, after each bin borrows ``PRIOR`` pseudo-rows from the
pooled curve P(y = j | s_j bin) over all predictions: a sparse (k, j) cell then leans
on the pooled one, a well-filled one on its own rows. A binary classifier uses the
pooled curve itself (its prediction is a threshold on the score). Posterior draws are per isotonic
block (the pooled-adjacent-violators blocks), centred on the fit with the block's real
labelled rows (plus the prior's) as its weight: finite reference, stated as such.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from loopwise.errors import DataError
from loopwise.profiles.task import EST_BINS, ClassificationProfile, est_key

#: Pseudo-rows each bin of a (predicted, scored) curve borrows from the pooled curve of the scored class.
PRIOR = 10.0
#: A current row whose bin holds fewer labelled reference rows than this is not vouched for by the reference.
FEW = 10


@dataclass(frozen=True)
class Curve:
    """A calibrated curve over the score bins and its isotonic blocks (for posterior draws)."""

    q: np.ndarray
    block: np.ndarray
    weight: np.ndarray
    labelled: np.ndarray

    def draws(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` posterior draws of the curve, shape (size, EST_BINS)."""
        q_block = self.q[np.r_[0, np.flatnonzero(np.diff(self.block)) + 1]]
        a = np.clip(q_block, 1e-6, 1 - 1e-6) * self.weight
        b = np.clip(1 - q_block, 1e-6, 1 - 1e-6) * self.weight
        out: np.ndarray = rng.beta(a, b, size=(size, q_block.size))[:, self.block]
        return out


def _isotonic(hits: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Isotonic fit of hits / rows weighted by rows (rows > 0), and each bin's block index."""
    from scipy.optimize import isotonic_regression

    res = isotonic_regression(hits / rows, weights=rows)
    sizes = np.diff(res.blocks)
    return np.asarray(res.x, dtype=np.float64), np.repeat(np.arange(sizes.size), sizes)


def _get(d: dict[str, np.ndarray], key: str) -> np.ndarray:
    v = d.get(key)
    return np.zeros(EST_BINS) if v is None else np.asarray(v, dtype=np.float64)


class Calibration:
    """Calibration curves of a labelled reference, one per (predicted class, scored class).

    Example:
        >>> from loopwise.profiles.task import ClassificationProfile
        >>> rng = np.random.default_rng(0)
        >>> p = rng.random(20_000)
        >>> ref = ClassificationProfile()
        >>> ref.update(rng.random(p.size) < p ** 2, p >= 0.5, {"true": p})  # P(y | p) = p squared
        >>> curve = Calibration(ref).curve("true", "true")
        >>> round(float(curve.q[EST_BINS * 3 // 4]), 1)  # at p = 0.75: 0.75 ** 2
        0.6
    """

    def __init__(self, reference: ClassificationProfile) -> None:
        if reference.n_labeled == 0:
            raise DataError("the reference has no labels to calibrate on")
        if not reference.est_labeled:
            raise DataError(
                "the reference profile has no estimation histograms (written by an older loopwise, "
                "or without score columns): profile the reference again"
            )
        self.reference = reference
        self._pooled: dict[str, Curve] = {}
        self._curves: dict[tuple[str, str], Curve] = {}

    def pooled(self, scored: str) -> Curve:
        """P(y = scored | its score bin) over every prediction, interpolated where no labelled row fell."""
        if scored not in self._pooled:
            keys = [k for k in self.reference.est_labeled if json.loads(k)[1] == scored]
            rows = sum((_get(self.reference.est_labeled, k) for k in keys), np.zeros(EST_BINS))
            hits = sum((_get(self.reference.est_hit, k) for k in keys), np.zeros(EST_BINS))
            seen = np.flatnonzero(rows > 0)
            if not seen.size:
                raise DataError(f"the reference has no labelled rows scored for class {scored!r}")
            fit, block = _isotonic(hits[seen], rows[seen])
            mid = np.arange(EST_BINS, dtype=np.float64)
            # A bin without labelled rows takes the interpolated fit and the block of its nearest seen bin.
            nearest = np.clip(np.searchsorted(seen, mid), 0, seen.size - 1)
            left = np.clip(nearest - 1, 0, seen.size - 1)
            nearest = np.where(np.abs(seen[left] - mid) < np.abs(seen[nearest] - mid), left, nearest)
            weight = np.bincount(block, weights=rows[seen])
            self._pooled[scored] = Curve(np.interp(mid, seen, fit), block[nearest], weight, rows)
        return self._pooled[scored]

    def curve(self, predicted: str, scored: str) -> Curve:
        """P(y = scored | prediction = predicted, scored's score bin), smoothed towards the pooled curve."""
        key = (predicted, scored)
        if key not in self._curves:
            pooled = self.pooled(scored)
            if len(self.reference.labels) <= 2:
                # Binary: the prediction is (nearly always) a threshold on the score, so the pooled curve is
                # the per-prediction one, fitted over the whole score range at once (as NannyML's CBPE does).
                self._curves[key] = pooled
                return pooled
            k = est_key(predicted, scored)
            rows = _get(self.reference.est_labeled, k)
            hits = _get(self.reference.est_hit, k)
            prior = pooled.q
            q, block = _isotonic(hits + PRIOR * prior, rows + PRIOR)
            nblocks = int(block[-1]) + 1
            real = np.bincount(block, weights=rows, minlength=nblocks)
            self._curves[key] = Curve(q, block, real + PRIOR, rows)
        return self._curves[key]
