"""Two-sided CUSUM (Page 1954, in the standardised form of Montgomery's *Introduction to Statistical
Quality Control*, §9.1): with ``u = (x − target) / sigma``,
``C⁺ ← max(0, C⁺ + u − k)`` and ``C⁻ ← max(0, C⁻ − u − k)``; an alarm when either passes ``h``. The change is
taken to begin just after the side that fired last stood at zero (its last reset).

``target`` and ``sigma`` default to the mean and standard deviation of the first ``warm_up`` values (and,
after an alarm, of the next ``warm_up`` values: the new regime becomes the reference).

``C⁺`` is kept as ``Z − min(0, min Z)`` with ``Z`` the cumulative sum of ``u − k``: the same number, and the
form ``update_many`` computes with ``np.cumsum`` and ``np.minimum.accumulate``; ``update`` keeps it too so
both reach the same state.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from loopwise.detectors.base import Detector, Sensitivity, positive, running_extreme
from loopwise.errors import ParameterError


class CUSUM(Detector):
    """Two-sided tabular CUSUM in units of ``sigma`` (see the module docstring).

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = np.concatenate([rng.normal(0, 1, 500), rng.normal(1, 1, 500)])
    >>> cusum = CUSUM(warm_up=100, locate="native")  # native: the change begins after the last reset
    >>> cusum.update_many(x)
    array([512])
    >>> cusum.change_point
    501
    """

    kind = "cusum"
    sensitivity = Sensitivity("h", 0.5, 500.0, "lower")

    def __init__(
        self,
        k: float = 0.5,
        h: float = 8.0,
        target: float | None = None,
        sigma: float | None = None,
        warm_up: int = 50,
        locate: str = "split",
    ) -> None:
        positive("k", k, zero=True)
        positive("h", h)
        positive("warm_up", warm_up, integer=True)
        if warm_up < 2 and sigma is None:
            raise ParameterError("warm_up", warm_up, "at least 2 when sigma is estimated")
        if target is not None and not (isinstance(target, int | float) and math.isfinite(target)):
            raise ParameterError("target", target, "a finite number or None")
        if sigma is not None:
            positive("sigma", sigma)
        self.k = float(k)
        self.h = float(h)
        self.target = None if target is None else float(target)
        self.sigma = None if sigma is None else float(sigma)
        self.warm_up = int(warm_up)
        self.locate = locate
        super().__init__()

    def params(self) -> dict[str, Any]:
        """The constructor's arguments."""
        return {
            "k": self.k,
            "h": self.h,
            "target": self.target,
            "sigma": self.sigma,
            "warm_up": self.warm_up,
            "locate": self.locate,
        }

    def _restart(self) -> None:
        self._buffer: list[float] = []
        self._mu = self.target
        self._sd = self.sigma
        self._begin()

    def _begin(self) -> None:
        """Start both sums at zero, the baseline standing just before the next sample."""
        self._up = self._down = 0.0
        self._min_up = self._min_down = 0.0
        self._up_at = self._down_at = self._n - 1

    @property
    def _ready(self) -> bool:
        return self._mu is not None and self._sd is not None

    def _estimate(self) -> None:
        values = np.asarray(self._buffer)
        if self._mu is None:
            self._mu = float(values.mean())
        if self._sd is None:
            self._sd = _floor_sigma(float(values.std(ddof=1)), self._mu)
        self._buffer = []

    def _step(self, x: float) -> bool:
        if not self._ready:
            self._buffer.append(x)
            if len(self._buffer) == self.warm_up:
                self._estimate()
                self._n += 1  # the baseline stands after this sample
                self._begin()
                self._n -= 1
            return False
        assert self._mu is not None and self._sd is not None
        u = (x - self._mu) / self._sd
        self._up += u - self.k
        self._down += -u - self.k
        if self._up <= self._min_up:
            self._min_up, self._up_at = self._up, self._n
        if self._down <= self._min_down:
            self._min_down, self._down_at = self._down, self._n
        return self._decide(self._up - self._min_up, self._down - self._min_down)

    def _decide(self, up: float, down: float) -> bool:
        if up <= self.h and down <= self.h:
            return False
        self._change_point = (self._up_at if up >= down else self._down_at) + 1
        return True

    def _run(self, chunk: npt.NDArray[np.float64]) -> int:
        if not self._ready:
            take = min(len(chunk), self.warm_up - len(self._buffer))
            for x in chunk[:take].tolist():
                self._step(x)
                self._n += 1
            return take
        assert self._mu is not None and self._sd is not None
        k = len(chunk)
        u = (chunk - self._mu) / self._sd
        up = np.cumsum(np.concatenate(([self._up], u - self.k)))[1:]
        down = np.cumsum(np.concatenate(([self._down], -u - self.k)))[1:]
        at = self._n + np.arange(k, dtype=np.int64)
        # <=: the last of equal minima, as the textbook's max(0, ·) resets on a tie.
        le, low = np.less_equal, np.minimum
        min_up, up_at = running_extreme(up, self._min_up, self._up_at, at, le, low)
        min_down, down_at = running_extreme(down, self._min_down, self._down_at, at, le, low)
        s_up, s_down = up - min_up, down - min_down
        test = (s_up > self.h) | (s_down > self.h)
        j = int(np.argmax(test)) if test.any() else k - 1
        self._up, self._down = float(up[j]), float(down[j])
        self._min_up, self._min_down = float(min_up[j]), float(min_down[j])
        self._up_at, self._down_at = int(up_at[j]), int(down_at[j])
        self._n += j + 1
        if test[j]:
            self._drift_detected = self._decide(float(s_up[j]), float(s_down[j]))
        return j + 1

    def _state(self) -> dict[str, Any]:
        return {
            "buffer": np.asarray(self._buffer, dtype=np.float64),
            "mu": self._mu,
            "sd": self._sd,
            "up": self._up,
            "down": self._down,
            "min_up": self._min_up,
            "min_down": self._min_down,
            "up_at": self._up_at,
            "down_at": self._down_at,
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        self._buffer = [float(v) for v in state["buffer"]]
        self._mu = None if state["mu"] is None else float(state["mu"])
        self._sd = None if state["sd"] is None else float(state["sd"])
        self._up, self._down = float(state["up"]), float(state["down"])
        self._min_up, self._min_down = float(state["min_up"]), float(state["min_down"])
        self._up_at, self._down_at = int(state["up_at"]), int(state["down_at"])


def _floor_sigma(sd: float, mu: float) -> float:
    """A warm-up of equal values has no spread; any later departure is then a change (not a division by 0)."""
    return max(sd, 1e-9 * max(1.0, abs(mu)))
