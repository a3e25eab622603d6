"""Page-Hinkley: a cumulative sum of deviations from the running mean, with a forgetting factor.

The recursion is river's (``river/drift/page_hinkley.py``): with ``m`` the running mean,
``S⁺ ← α·S⁺ + (x − m − δ)`` and ``S⁻ ← α·S⁻ + (x − m + δ)``; an alarm when ``S⁺ − min S⁺`` (an increase) or
``max S⁻ − S⁻`` (a decrease) passes ``threshold``, once ``min_instances`` values are in. The change is taken
to begin just after the extremum the statistic climbed from.

``update_many`` computes the same numbers without a loop per value: the running mean from a cumulative sum,
the two sums as a first-order linear filter (``scipy.signal.lfilter``, which adds in the loop's order), the
extrema with ``np.minimum.accumulate``. ``update`` keeps the same quantities so both reach the same state.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.signal import lfilter

from loopwise.detectors.base import Detector, Sensitivity, in_open_unit, positive, running_extreme
from loopwise.errors import ParameterError

MODES = ("both", "up", "down")


class PageHinkley(Detector):
    """Page-Hinkley test for a change in the mean (river's recursion; see the module docstring).

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = np.concatenate([rng.normal(0, 1, 500), rng.normal(3, 1, 500)])
    >>> ph = PageHinkley()
    >>> ph.update_many(x, with_change_points=True)
    (array([520]), array([500]))
    """

    kind = "page_hinkley"
    sensitivity = Sensitivity("threshold", 0.1, 1e5, "lower", relative=True)

    def __init__(
        self,
        min_instances: int = 30,
        delta: float = 0.5,
        threshold: float = 50.0,
        alpha: float = 1 - 0.0001,
        mode: str = "both",
        locate: str = "split",
    ) -> None:
        positive("min_instances", min_instances, integer=True)
        positive("delta", delta, zero=True)
        positive("threshold", threshold)
        in_open_unit("alpha", alpha, closed_right=True)
        if mode not in MODES:
            raise ParameterError("mode", mode, MODES)
        self.min_instances = int(min_instances)
        self.delta = float(delta)
        self.threshold = float(threshold)
        self.alpha = float(alpha)
        self.mode = mode
        self.locate = locate
        super().__init__()

    def params(self) -> dict[str, Any]:
        """The constructor's arguments."""
        return {
            "min_instances": self.min_instances,
            "delta": self.delta,
            "threshold": self.threshold,
            "alpha": self.alpha,
            "mode": self.mode,
            "locate": self.locate,
        }

    def _restart(self) -> None:
        self._count = 0
        self._sum = 0.0
        self._inc = 0.0
        self._dec = 0.0
        self._min_inc = float("inf")
        self._max_dec = float("-inf")
        self._min_at = -1
        self._max_at = -1

    def _step(self, x: float) -> bool:
        self._count += 1
        self._sum += x
        dev = x - self._sum / self._count
        self._inc = (dev - self.delta) + self.alpha * self._inc
        self._dec = (dev + self.delta) + self.alpha * self._dec
        if self._inc < self._min_inc:
            self._min_inc, self._min_at = self._inc, self._n
        if self._dec > self._max_dec:
            self._max_dec, self._max_at = self._dec, self._n
        if self._count < self.min_instances:
            return False
        return self._decide(self._inc - self._min_inc, self._max_dec - self._dec)

    def _decide(self, up: float, down: float) -> bool:
        up_fires = self.mode != "down" and up > self.threshold
        down_fires = self.mode != "up" and down > self.threshold
        if not (up_fires or down_fires):
            return False
        # Both sides past the threshold at once: the larger excursion says where the change began.
        if up_fires and (not down_fires or up >= down):
            self._change_point = self._min_at + 1
        else:
            self._change_point = self._max_at + 1
        return True

    def _run(self, chunk: npt.NDArray[np.float64]) -> int:
        k = len(chunk)
        count = self._count + np.arange(1, k + 1, dtype=np.float64)
        sums = np.cumsum(np.concatenate(([self._sum], chunk)))[1:]
        mean = sums / count
        dev = chunk - mean
        a = [1.0, -self.alpha]
        inc = lfilter([1.0], a, dev - self.delta, zi=[self.alpha * self._inc])[0]
        dec = lfilter([1.0], a, dev + self.delta, zi=[self.alpha * self._dec])[0]
        at = self._n + np.arange(k, dtype=np.int64)
        min_inc, min_at = running_extreme(inc, self._min_inc, self._min_at, at, np.less, np.minimum)
        max_dec, max_at = running_extreme(dec, self._max_dec, self._max_at, at, np.greater, np.maximum)
        up = inc - min_inc
        down = max_dec - dec
        test = np.zeros(k, dtype=bool)
        if self.mode != "down":
            test |= up > self.threshold
        if self.mode != "up":
            test |= down > self.threshold
        test &= count >= self.min_instances
        j = int(np.argmax(test)) if test.any() else k - 1
        self._count += j + 1
        self._sum = float(sums[j])
        self._inc, self._dec = float(inc[j]), float(dec[j])
        self._min_inc, self._min_at = float(min_inc[j]), int(min_at[j])
        self._max_dec, self._max_at = float(max_dec[j]), int(max_at[j])
        self._n += j + 1
        if test[j]:
            self._drift_detected = self._decide(float(up[j]), float(down[j]))
        return j + 1

    def _state(self) -> dict[str, Any]:
        return {
            "count": self._count,
            "sum": self._sum,
            "inc": self._inc,
            "dec": self._dec,
            "min_inc": self._min_inc,
            "max_dec": self._max_dec,
            "min_at": self._min_at,
            "max_at": self._max_at,
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        self._count = int(state["count"])
        self._sum = float(state["sum"])
        self._inc, self._dec = float(state["inc"]), float(state["dec"])
        self._min_inc, self._max_dec = float(state["min_inc"]), float(state["max_dec"])
        self._min_at, self._max_at = int(state["min_at"]), int(state["max_at"])
