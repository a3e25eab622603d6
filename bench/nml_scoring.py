"""The arithmetic of bench/nannyml_compare.py: estimation error, interval coverage, alert matching.

Kept apart (NumPy only) so tests/bench/ can check it against hand-computed answers.
A missing value (None or NaN) in an estimate or a band never counts as covered and
is left out of errors and widths; the counts say how many cells were used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Num = float | None


def _arr(values: Sequence[Num]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def mae(estimates: Sequence[Num], realized: Sequence[Num]) -> float | None:
    """Mean absolute error of the estimates against the realized values, over cells where both exist."""
    e, r = _arr(estimates), _arr(realized)
    ok = np.isfinite(e) & np.isfinite(r)
    return float(np.mean(np.abs(e[ok] - r[ok]))) if ok.any() else None


def coverage(realized: Sequence[Num], low: Sequence[Num], high: Sequence[Num]) -> float | None:
    """Share of cells whose realized value lies in [low, high] (ends included); a missing band misses."""
    r, lo, hi = _arr(realized), _arr(low), _arr(high)
    have = np.isfinite(r)
    if not have.any():
        return None
    inside = np.isfinite(lo) & np.isfinite(hi) & (lo <= r) & (r <= hi)
    return float(np.mean(inside[have]))


def mean_width(low: Sequence[Num], high: Sequence[Num]) -> float | None:
    """Mean width of the bands, over cells where both ends exist."""
    lo, hi = _arr(low), _arr(high)
    ok = np.isfinite(lo) & np.isfinite(hi)
    return float(np.mean(hi[ok] - lo[ok])) if ok.any() else None


@dataclass(frozen=True)
class Match:
    """How one tool's alerts (``candidate``) cover another's (``anchor``), cell by cell."""

    anchor_alerts: int
    candidate_alerts: int
    kept: int
    extra: int
    cells: int

    @property
    def kept_share(self) -> float | None:
        """Share of the anchor's alerts the candidate also raises (None when the anchor raised none)."""
        return self.kept / self.anchor_alerts if self.anchor_alerts else None

    @property
    def extra_share(self) -> float | None:
        """The candidate's alerts the anchor did not raise, per anchor alert."""
        return self.extra / self.anchor_alerts if self.anchor_alerts else None

    @property
    def agreement(self) -> float | None:
        """Share of cells where both say the same."""
        same = self.cells - (self.anchor_alerts - self.kept) - self.extra
        return same / self.cells if self.cells else None

    def __add__(self, other: Match) -> Match:
        return Match(
            self.anchor_alerts + other.anchor_alerts,
            self.candidate_alerts + other.candidate_alerts,
            self.kept + other.kept,
            self.extra + other.extra,
            self.cells + other.cells,
        )


def match_alerts(anchor: Sequence[bool | None], candidate: Sequence[bool | None]) -> Match:
    """Compare two tools' alerts on the same cells; cells where either has no verdict are left out."""
    if len(anchor) != len(candidate):
        raise ValueError(f"{len(anchor)} anchor cells against {len(candidate)} candidate cells")
    pairs = [
        (bool(a), bool(c)) for a, c in zip(anchor, candidate, strict=True) if a is not None and c is not None
    ]
    a = np.array([p[0] for p in pairs], dtype=bool)
    c = np.array([p[1] for p in pairs], dtype=bool)
    return Match(int(a.sum()), int(c.sum()), int((a & c).sum()), int((c & ~a).sum()), len(pairs))


def alert_share(alerts: Sequence[bool | None]) -> tuple[int, int]:
    """(alerting cells, cells with a verdict)."""
    seen = [bool(x) for x in alerts if x is not None]
    return sum(seen), len(seen)
