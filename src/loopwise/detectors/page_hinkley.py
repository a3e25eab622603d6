"""Page-Hinkley: a cumulative sum of deviations from the running mean, with a forgetting factor.

The recursion is river's (``river/drift/page_hinkley.py``): with ``m`` the running mean,
``S⁺ ← α·S⁺ + (x − m − δ)`` and ``S⁻ ← α·S⁻ + (x − m + δ)``; an alarm when ``S⁺ − min S⁺`` (an increase) or
``max S⁻ − S⁻`` (a decrease) passes ``threshold``, once ``min_instances`` values are in. The change is taken
to begin just after the extremum the statistic climbed from.

``update_many`` runs the same recursion compiled (``_kernels.page_hinkley``, numba): the same operations in
the same order, so both reach the same state to the bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from loopwise.detectors.base import Detector, Sensitivity, in_open_unit, positive
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
    _whole_slices = True
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
        from loopwise.detectors import _kernels

        used, fired, *state = _kernels.page_hinkley(
            chunk,
            self._n,
            self._count,
            self._sum,
            self._inc,
            self._dec,
            self._min_inc,
            self._max_dec,
            self._min_at,
            self._max_at,
            self.delta,
            self.alpha,
            self.threshold,
            self.min_instances,
            self.mode != "down",
            self.mode != "up",
        )
        self._count, self._sum, self._inc, self._dec = int(state[0]), state[1], state[2], state[3]
        self._min_inc, self._max_dec = state[4], state[5]
        self._min_at, self._max_at = int(state[6]), int(state[7])
        self._n += used
        if fired:
            self._drift_detected = self._decide(self._inc - self._min_inc, self._max_dec - self._dec)
        return int(used)

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
