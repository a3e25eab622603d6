"""DDM and EDDM: detectors of a rising error rate in a 0/1 stream (1 = an error), as river implements them
(``river/drift/binary/ddm.py``, ``eddm.py``).

DDM (Gama et al. 2004) watches ``p + s`` (error rate and its binomial standard error): once ``warm_start``
values are in, an alarm when it passes ``p_min + drift_threshold * s_min``, the values at its lowest point.
EDDM (Baena-García et al. 2006) watches the distances between consecutive errors instead: an alarm when their
mean plus two standard deviations falls below ``beta`` times its maximum (errors coming closer together).

Both keep their sums as whole numbers of errors and distances (exact in floating point); ``update_many`` runs
the same recursion compiled (``_kernels``, numba), so both reach the same state to the bit. River keeps
running means, which can differ in the last bits, never (on the tests' streams) in a detection.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from loopwise.detectors._binary import ErrorStreamDetector
from loopwise.detectors.base import Sensitivity, in_open_unit, positive
from loopwise.errors import ParameterError


class DDM(ErrorStreamDetector):
    """Drift Detection Method (river's recursion; see the module docstring). ``change_point`` is the sample
    after the one at which ``p + s`` was lowest.

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> errors = np.concatenate([rng.random(2000) < 0.1, rng.random(2000) < 0.3]).astype(float)
    >>> ddm = DDM()
    >>> ddm.update_many(errors)
    array([ 266, 2066])
    """

    kind = "ddm"
    _whole_slices = True
    sensitivity = Sensitivity("drift_threshold", 1.0, 50.0, "lower")

    def __init__(
        self,
        warm_start: int = 100,
        warning_threshold: float = 2.0,
        drift_threshold: float = 3.0,
        locate: str = "split",
    ):
        positive("warm_start", warm_start, integer=True, zero=True)
        positive("warning_threshold", warning_threshold)
        positive("drift_threshold", drift_threshold)
        self.warm_start = int(warm_start)
        self.warning_threshold = float(warning_threshold)
        self.drift_threshold = float(drift_threshold)
        self.locate = locate
        super().__init__()

    def params(self) -> dict[str, Any]:
        """The constructor's arguments."""
        return {
            "warm_start": self.warm_start,
            "warning_threshold": self.warning_threshold,
            "drift_threshold": self.drift_threshold,
            "locate": self.locate,
        }

    @property
    def warning_detected(self) -> bool:
        """Whether ``p + s`` is past the warning level (and not the drift level) after the last value."""
        return self._warning

    def _restart(self) -> None:
        self._count = 0
        self._errors = 0.0
        self._p_min = self._s_min = 0.0
        self._ps_min = math.inf
        self._min_at = -1
        self._warning = False

    def _step(self, x: float) -> bool:
        self._count += 1
        self._errors += x
        p = self._errors / self._count
        s = math.sqrt(p * (1 - p) / self._count)
        if self._count <= self.warm_start:
            return False
        if p + s <= self._ps_min:
            self._p_min, self._s_min, self._ps_min, self._min_at = p, s, p + s, self._n
        self._warning = p + s > self._p_min + self.warning_threshold * self._s_min
        if p + s > self._p_min + self.drift_threshold * self._s_min:
            self._warning = False
            self._change_point = self._min_at + 1
            return True
        return False

    def _run(self, chunk: npt.NDArray[np.float64]) -> int:
        from loopwise.detectors import _kernels

        used, fired, *state = _kernels.ddm(
            chunk,
            self._n,
            self._count,
            self._errors,
            self._p_min,
            self._s_min,
            self._ps_min,
            self._min_at,
            self._warning,
            self.warm_start,
            self.warning_threshold,
            self.drift_threshold,
        )
        self._count, self._errors = int(state[0]), state[1]
        self._p_min, self._s_min, self._ps_min = state[2], state[3], state[4]
        self._min_at, self._warning = int(state[5]), bool(state[6])
        self._n += used
        if fired:
            self._change_point = self._min_at + 1
            self._drift_detected = True
        return int(used)

    def _state(self) -> dict[str, Any]:
        return {
            "count": self._count,
            "errors": self._errors,
            "p_min": self._p_min,
            "s_min": self._s_min,
            "ps_min": self._ps_min,
            "min_at": self._min_at,
            "warning": self._warning,
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        self._count, self._errors = int(state["count"]), float(state["errors"])
        self._p_min, self._s_min = float(state["p_min"]), float(state["s_min"])
        self._ps_min, self._min_at = float(state["ps_min"]), int(state["min_at"])
        self._warning = bool(state["warning"])


class EDDM(ErrorStreamDetector):
    """Early Drift Detection Method (river's recursion; see the module docstring). ``change_point`` is the
    sample after the error at which the distances between errors were widest.

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> errors = np.concatenate([rng.random(3000) < 0.05, rng.random(3000) < 0.3]).astype(float)
    >>> EDDM().update_many(errors)
    array([2046, 3154])
    """

    kind = "eddm"
    _whole_slices = True
    sensitivity = Sensitivity("beta", 0.05, 0.94, "higher", scale="linear")

    def __init__(self, warm_start: int = 100, alpha: float = 0.95, beta: float = 0.8, locate: str = "split"):
        positive("warm_start", warm_start, integer=True, zero=True)
        in_open_unit("alpha", alpha)
        in_open_unit("beta", beta)
        if alpha < beta:
            raise ParameterError("alpha", alpha, f"a number at least beta ({beta})")
        self.warm_start = int(warm_start)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.locate = locate
        super().__init__()

    def params(self) -> dict[str, Any]:
        """The constructor's arguments."""
        return {"warm_start": self.warm_start, "alpha": self.alpha, "beta": self.beta, "locate": self.locate}

    @property
    def warning_detected(self) -> bool:
        """Whether the distances have shrunk below ``alpha`` of their widest (not below ``beta``)."""
        return self._warning

    def _restart(self) -> None:
        self._count = 0
        self._last_error = 0
        self._n_errors = 0
        self._d_sum = 0.0  # sums of distances and of their squares: whole numbers, exact
        self._d_squares = 0.0
        self._max = -math.inf
        self._max_at = -1
        self._warning = False

    def _p2s(self, k: Any, d_sum: Any, d_squares: Any) -> Any:
        """Mean distance plus two (sample) standard deviations, after ``k`` errors."""
        mean = d_sum / k
        var = np.where(k > 1, (d_squares - d_sum * d_sum / k) / np.maximum(k - 1, 1), 0.0)
        return mean + 2 * np.sqrt(np.maximum(var, 0.0))

    def _step(self, x: float) -> bool:
        self._count += 1
        if x != 1:
            return False
        self._n_errors += 1
        d = float(self._count - self._last_error)
        self._d_sum += d
        self._d_squares += d * d
        self._last_error = self._count
        if self._count <= self.warm_start:
            return False
        p2s = float(
            self._p2s(np.float64(self._n_errors), np.float64(self._d_sum), np.float64(self._d_squares))
        )
        if p2s > self._max:
            self._max, self._max_at = p2s, self._n
        elif self._n_errors > self.warm_start:
            level = p2s / self._max
            if level < self.beta:
                self._change_point = self._max_at + 1
                return True
            self._warning = level < self.alpha
        return False

    def _run(self, chunk: npt.NDArray[np.float64]) -> int:
        from loopwise.detectors import _kernels

        used, fired, *state = _kernels.eddm(
            chunk,
            self._n,
            self._count,
            self._last_error,
            self._n_errors,
            self._d_sum,
            self._d_squares,
            self._max,
            self._max_at,
            self._warning,
            self.warm_start,
            self.alpha,
            self.beta,
        )
        self._count, self._last_error, self._n_errors = int(state[0]), int(state[1]), int(state[2])
        self._d_sum, self._d_squares, self._max = state[3], state[4], state[5]
        self._max_at, self._warning = int(state[6]), bool(state[7])
        self._n += used
        if fired:
            self._change_point = self._max_at + 1
            self._drift_detected = True
        return int(used)

    def _state(self) -> dict[str, Any]:
        return {
            "count": self._count,
            "last_error": self._last_error,
            "n_errors": self._n_errors,
            "d_sum": self._d_sum,
            "d_squares": self._d_squares,
            "max": self._max,
            "max_at": self._max_at,
            "warning": self._warning,
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        self._count, self._last_error = int(state["count"]), int(state["last_error"])
        self._n_errors = int(state["n_errors"])
        self._d_sum, self._d_squares = float(state["d_sum"]), float(state["d_squares"])
        self._max, self._max_at = float(state["max"]), int(state["max_at"])
        self._warning = bool(state["warning"])
