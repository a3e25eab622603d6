"""ADWIN, adaptive windowing (Bifet & Gavaldà 2007), as river implements it (``river/drift/adwin.py``, whose
arithmetic lives in ``rust_src/adwin.rs``).

The window is kept in exponential buckets: level ``i`` holds up to ``max_buckets + 1`` summaries (sum and
sum of squared deviations) of ``2**i`` values each; when a level overflows, its two oldest summaries merge
into one of the level above. Every ``clock`` values (once the window is longer than ``grace_period``) every
bucket boundary is tried as a cut between an older and a newer part; a difference of means larger than
``ε_cut`` (Hoeffding-Bernstein, with the window's variance) is a change, and the oldest buckets are dropped
until no cut passes. ``change_point`` is where the window then begins: ADWIN's own estimate of the start of
the new regime. As in river, the detector starts from an empty window after a detection.

``update`` is a line-by-line port. ``update_many`` runs the same lines compiled (``_kernels.adwin``, numba),
with the buckets in fixed arrays: the same operations in the same order, so the same state to the bit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from loopwise.detectors.base import Detector, Sensitivity, in_open_unit, positive


class ADWIN(Detector):
    """ADWIN (river's parameters and detections; see the module docstring).

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = np.concatenate([rng.normal(0, 1, 1000), rng.normal(1, 1, 1000)])
    >>> adwin = ADWIN()
    >>> adwin.update_many(x)
    array([1055])
    >>> adwin.change_point  # the best split of the window (ADWIN's own cut, locate="native": 768)
    1000
    """

    kind = "adwin"
    _whole_slices = True
    sensitivity = Sensitivity("delta", 1e-12, 0.5, "higher")

    def __init__(
        self,
        delta: float = 0.002,
        clock: int = 32,
        max_buckets: int = 5,
        min_window_length: int = 5,
        grace_period: int = 10,
        locate: str = "split",
    ) -> None:
        in_open_unit("delta", delta)
        positive("clock", clock, integer=True)
        positive("max_buckets", max_buckets, integer=True)
        positive("min_window_length", min_window_length, integer=True)
        positive("grace_period", grace_period, integer=True, zero=True)
        self.delta = float(delta)
        self.clock = int(clock)
        self.max_buckets = int(max_buckets)
        self.min_window_length = int(min_window_length)
        self.grace_period = int(grace_period)
        self.locate = locate
        super().__init__()

    def params(self) -> dict[str, Any]:
        """The constructor's arguments."""
        return {
            "delta": self.delta,
            "clock": self.clock,
            "max_buckets": self.max_buckets,
            "min_window_length": self.min_window_length,
            "grace_period": self.grace_period,
            "locate": self.locate,
        }

    @property
    def width(self) -> int:
        """Values in the current window."""
        return int(self._width)

    @property
    def estimation(self) -> float:
        """The window's mean (0 when it is empty)."""
        return self._total / self._width if self._width else 0.0

    def _restart(self) -> None:
        self._start = self._n  # index of the window's first value
        self._tick = 0
        self._width = 0.0
        self._total = 0.0
        self._variance = 0.0  # sum of squared deviations from the window's mean
        # Level i: the sums and squared-deviation sums of its buckets of 2**i values, oldest first.
        self._totals: list[list[float]] = [[]]
        self._vars: list[list[float]] = [[]]

    # -- the port ------------------------------------------------------------------------------------------

    def _step(self, x: float) -> bool:
        self._insert(x)
        self._tick += 1
        if self._tick % self.clock == 0 and self._width > self.grace_period and self._scan():
            self._change_point = self._start + self._tick - int(self._width)
            return True
        return False

    def _insert(self, x: float) -> None:
        self._totals[0].append(x)
        self._vars[0].append(0.0)
        self._width += 1.0
        inc = 0.0
        if self._width > 1.0:
            d = x - self._total / (self._width - 1.0)
            inc = (self._width - 1.0) * d * d / self._width
        self._variance += inc
        self._total += x
        full = self.max_buckets + 1
        idx = 0
        while len(self._totals[idx]) == full:
            n1 = float(1 << idx)
            t0, t1 = self._totals[idx][0], self._totals[idx][1]
            v0, v1 = self._vars[idx][0], self._vars[idx][1]
            mu1, mu2 = t0 / n1, t1 / n1
            if idx + 1 == len(self._totals):
                self._totals.append([])
                self._vars.append([])
            self._totals[idx + 1].append(t0 + t1)
            self._vars[idx + 1].append(v0 + v1 + n1 * 0.5 * (mu1 - mu2) * (mu1 - mu2))
            del self._totals[idx][:2], self._vars[idx][:2]
            if len(self._totals[idx + 1]) <= self.max_buckets:
                break
            idx += 1

    def _scan(self) -> bool:
        """Try every cut, oldest first; drop the oldest bucket after a passing cut and try again."""
        changed, reduce = False, True
        mwl = self.min_window_length
        while reduce:
            reduce = False
            n0, n1, u0, u1 = 0.0, self._width, 0.0, self._total
            for idx in range(len(self._totals) - 1, -1, -1):
                size = float(1 << idx)
                last = len(self._totals[idx]) - 1
                for k, total in enumerate(self._totals[idx]):
                    n0 += size
                    n1 -= size
                    u0 += total
                    u1 -= total
                    if idx == 0 and k == last:
                        break
                    if n1 >= mwl and n0 >= mwl and n1 > 0 and self._cut_passes(n0, n1, u0 / n0 - u1 / n1):
                        reduce = changed = True
                        if self._width > 0:
                            self._drop_oldest()
                        break
                else:
                    continue
                break
        return changed

    def _cut_passes(self, n0: float, n1: float, delta_mean: float) -> bool:
        ln_width = math.log(self._width)
        if ln_width <= 0:  # a window of one value: river's log of 0 is -inf, and no cut passes
            return False
        delta_prime = math.log(2.0 * ln_width / self.delta)
        m_recip = 1.0 / (n0 - self.min_window_length + 1.0) + 1.0 / (n1 - self.min_window_length + 1.0)
        under = 2.0 * m_recip * (self._variance / self._width) * delta_prime
        if under < 0:  # a variance rounded below 0 (river's square root is NaN, and no cut passes)
            return False
        return abs(delta_mean) > math.sqrt(under) + 2.0 / 3.0 * delta_prime * m_recip

    def _drop_oldest(self) -> None:
        last = len(self._totals) - 1
        n = float(1 << last)
        u, v = self._totals[last][0], self._vars[last][0]
        mu = u / n
        self._width -= n
        self._total -= u
        mu_window = self._total / self._width
        self._variance -= v + n * self._width * (mu - mu_window) * (mu - mu_window) / (n + self._width)
        del self._totals[last][0], self._vars[last][0]
        if not self._totals[last] and last > 0:
            self._totals.pop()
            self._vars.pop()

    # -- the same, compiled ------------------------------------------------------------------------------

    def _run(self, chunk: npt.NDArray[np.float64]) -> int:
        from loopwise.detectors import _kernels

        slots = 1 << (self.max_buckets + 1 - 1).bit_length()  # a power of two, at least max_buckets + 1
        totals = np.zeros((_kernels.ADWIN_LEVELS, slots))
        variances = np.zeros((_kernels.ADWIN_LEVELS, slots))
        heads = np.zeros(_kernels.ADWIN_LEVELS, dtype=np.int64)
        counts = np.zeros(_kernels.ADWIN_LEVELS, dtype=np.int64)
        for level, (ts, vs) in enumerate(zip(self._totals, self._vars, strict=True)):
            totals[level, : len(ts)] = ts
            variances[level, : len(vs)] = vs
            counts[level] = len(ts)
        used, fired, levels, tick, width, total, variance = _kernels.adwin(
            chunk,
            totals,
            variances,
            heads,
            counts,
            len(self._totals),
            self._tick,
            self._width,
            self._total,
            self._variance,
            self.delta,
            self.clock,
            self.max_buckets,
            self.min_window_length,
            self.grace_period,
        )
        mask = slots - 1
        self._totals, self._vars = [], []
        for lvl in range(levels):
            ring = (heads[lvl] + np.arange(counts[lvl])) & mask
            self._totals.append(totals[lvl, ring].tolist())
            self._vars.append(variances[lvl, ring].tolist())
        self._tick, self._width, self._total, self._variance = int(tick), width, total, variance
        self._n += used
        if fired:
            self._change_point = self._start + self._tick - int(self._width)
            self._drift_detected = True
        return int(used)

    # -- state ---------------------------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        levels = [lvl for lvl in range(len(self._totals)) for _ in self._totals[lvl]]
        return {
            "start": self._start,
            "tick": self._tick,
            "width": self._width,
            "total": self._total,
            "variance": self._variance,
            "levels": np.asarray(levels, dtype=np.int64),
            "totals": np.asarray([v for lvl in self._totals for v in lvl], dtype=np.float64),
            "vars": np.asarray([v for lvl in self._vars for v in lvl], dtype=np.float64),
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        self._start, self._tick = int(state["start"]), int(state["tick"])
        self._width, self._total = float(state["width"]), float(state["total"])
        self._variance = float(state["variance"])
        levels = state["levels"].tolist()
        depth = max(levels, default=0) + 1
        self._totals = [[] for _ in range(depth)]
        self._vars = [[] for _ in range(depth)]
        for lvl, total, var in zip(levels, state["totals"].tolist(), state["vars"].tolist(), strict=True):
            self._totals[lvl].append(total)
            self._vars[lvl].append(var)
