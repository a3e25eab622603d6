"""ADWIN, adaptive windowing (Bifet & Gavaldà 2007), as river implements it (``river/drift/adwin.py``, whose
arithmetic lives in ``rust_src/adwin.rs``).

The window is kept in exponential buckets: level ``i`` holds up to ``max_buckets + 1`` summaries (sum and
sum of squared deviations) of ``2**i`` values each; when a level overflows, its two oldest summaries merge
into one of the level above. Every ``clock`` values (once the window is longer than ``grace_period``) every
bucket boundary is tried as a cut between an older and a newer part; a difference of means larger than
``ε_cut`` (Hoeffding-Bernstein, with the window's variance) is a change, and the oldest buckets are dropped
until no cut passes. ``change_point`` is where the window then begins: ADWIN's own estimate of the start of
the new regime. As in river, the detector starts from an empty window after a detection.

``update`` is a line-by-line port. ``update_many`` uses two facts of that scheme: between detections nothing
is dropped, so the bucket layout after ``t`` values depends on ``t`` alone (a level receives
``r_{i+1} = max(0, (r_i - max_buckets + 1) // 2)`` summaries, ``r_0 = t``, and holds ``r_i - 2 r_{i+1}``), and
every bucket is an aligned block of consecutive values. The means of both sides of every cut at every check
then come from prefix sums, all checks of a slice at once. The sums are added in another order than the
port's, so a state can differ in its last bits from one fed value by value (the tests hold both to 1e-9 and
to the same detections).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from loopwise.detectors.base import Detector, Sensitivity, in_open_unit, positive

#: Checks evaluated together in ``update_many``: bounds the (checks x buckets) arrays to a few megabytes.
_CHECKS_PER_BATCH = 2048


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

    # -- the same, a slice at a time -----------------------------------------------------------------------

    def _run(self, chunk: npt.NDArray[np.float64]) -> int:
        t_start, k = self._tick, len(chunk)
        # Every value so far as "atoms": the buckets in the state (oldest first), then the slice's values;
        # shifted by the window's mean so that sums of squares do not cancel.
        old_n, old_s, old_v = self._blocks()
        c = self._total / self._width if self._width else float(chunk[0])
        n = np.concatenate((old_n, np.ones(k)))
        s = np.concatenate((old_s - old_n * c, chunk - c))
        pn = np.concatenate(([0], np.cumsum(n))).astype(np.int64)
        ps = np.concatenate(([0.0], np.cumsum(s)))
        pv = np.concatenate(([0.0], np.cumsum(np.concatenate((old_v, np.zeros(k))))))
        pq = np.concatenate(([0.0], np.cumsum(s * s / n)))
        prefix = _Prefix(pn, ps, pv, pq, len(old_n), t_start)

        first = t_start + 1
        first_check = max(-(-first // self.clock), self.grace_period // self.clock + 1) * self.clock
        checks = np.arange(first_check, t_start + k + 1, self.clock, dtype=np.int64)
        hit = None
        for lo in range(0, len(checks), _CHECKS_PER_BATCH):
            batch = checks[lo : lo + _CHECKS_PER_BATCH]
            fired = self._fires(batch, prefix)
            if fired.any():
                hit = int(batch[int(np.argmax(fired))])
                break
        end = t_start + k if hit is None else hit
        self._set_state(end, prefix, c)
        self._n += end - t_start
        if hit is not None:
            self._scan()
            self._change_point = self._start + self._tick - int(self._width)
            self._drift_detected = True
        return end - t_start

    def _layout(self, t: npt.NDArray[np.int64]) -> list[npt.NDArray[np.int64]]:
        """Buckets per level (level 0 first) after ``t`` values with nothing dropped."""
        counts = []
        received = t
        while received.any():
            up = np.maximum(0, (received - self.max_buckets + 1) // 2)
            counts.append(received - 2 * up)
            received = up
        return counts or [np.zeros_like(t)]

    def _fires(self, t: npt.NDArray[np.int64], p: _Prefix) -> npt.NDArray[np.bool_]:
        counts = self._layout(t)
        full = self.max_buckets + 1
        # Bucket sizes, oldest first: the highest level's buckets, then the next one down, ...
        sizes = np.zeros((len(t), len(counts) * full), dtype=np.int64)
        for col, level in enumerate(range(len(counts) - 1, -1, -1)):
            j = np.arange(full)
            sizes[:, col * full : (col + 1) * full] = np.where(j < counts[level][:, None], 1 << level, 0)
        n0 = np.cumsum(sizes, axis=1)
        tt = t[:, None]
        n1 = tt - n0
        valid = (sizes > 0) & (n1 > 0) & (n0 >= self.min_window_length) & (n1 >= self.min_window_length)
        u0 = p.sum(n0)
        total = p.sum(t)
        width = t.astype(np.float64)
        variance = p.squares(t) - total * total / width
        with np.errstate(divide="ignore", invalid="ignore"):
            n0f, n1f = n0.astype(np.float64), n1.astype(np.float64)
            delta_mean = u0 / n0f - (total[:, None] - u0) / n1f
            delta_prime = np.log(2.0 * np.log(width) / self.delta)[:, None]
            mwl = self.min_window_length
            m_recip = 1.0 / (n0f - mwl + 1.0) + 1.0 / (n1f - mwl + 1.0)
            eps = np.sqrt(2.0 * m_recip * (variance / width)[:, None] * delta_prime)
            eps = eps + 2.0 / 3.0 * delta_prime * m_recip
            passes = valid & (np.abs(delta_mean) > eps)
        result: npt.NDArray[np.bool_] = np.asarray(passes.any(axis=1), dtype=bool)
        return result

    def _set_state(self, t: int, p: _Prefix, c: float) -> None:
        """The port's state after ``t`` values (no drops yet): buckets summed from the prefix sums."""
        counts = [int(a[0]) for a in self._layout(np.array([t], dtype=np.int64))]
        self._totals, self._vars = [], []
        pos = 0
        for level in range(len(counts) - 1, -1, -1):
            size = 1 << level
            bounds = pos + size * np.arange(counts[level] + 1, dtype=np.int64)
            sums = np.diff(p.sum(bounds))
            inner = np.diff(p.squares(bounds)) - sums * sums / size
            self._totals.append((sums + size * c).tolist())
            self._vars.append(np.maximum(inner, 0.0).tolist())
            pos = int(bounds[-1])
        self._totals.reverse()
        self._vars.reverse()
        self._tick = t
        self._width = float(t)
        total = float(p.sum(np.array([t]))[0]) if t else 0.0
        self._total = total + t * c
        self._variance = float(p.squares(np.array([t]))[0]) - total * total / t if t else 0.0

    def _blocks(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        sizes, totals, variances = [], [], []
        for level in range(len(self._totals) - 1, -1, -1):
            sizes += [float(1 << level)] * len(self._totals[level])
            totals += self._totals[level]
            variances += self._vars[level]
        return np.asarray(sizes), np.asarray(totals), np.asarray(variances)

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


class _Prefix:
    """Prefix sums over atoms (buckets carried in, then single values), read at value counts on a bucket
    boundary: a count past the carried buckets is an atom index by arithmetic, one inside them is found by a
    binary search among the few carried boundaries."""

    def __init__(
        self,
        pn: npt.NDArray[np.int64],
        ps: npt.NDArray[np.float64],
        pv: npt.NDArray[np.float64],
        pq: npt.NDArray[np.float64],
        carried: int,
        t_start: int,
    ) -> None:
        self.pn, self.ps, self.pv, self.pq = pn, ps, pv, pq
        self.carried, self.t_start = carried, t_start

    def _index(self, count: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        idx = count - self.t_start + self.carried
        inside = count < self.t_start
        if inside.any():
            idx[inside] = np.searchsorted(self.pn[: self.carried + 1], count[inside])
        return idx

    def sum(self, count: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Shifted sum of the first ``count`` values."""
        result: npt.NDArray[np.float64] = self.ps[self._index(count)]
        return result

    def squares(self, count: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Squared deviations inside the atoms plus their ``n * mean**2`` (shifted), up to ``count``."""
        i = self._index(count)
        result: npt.NDArray[np.float64] = self.pv[i] + self.pq[i]
        return result
