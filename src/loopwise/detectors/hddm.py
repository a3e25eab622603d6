"""HDDM-A and HDDM-W (Frías-Blanco et al. 2015): a rise (or, two-sided, a fall) in the mean of a bounded
stream, tested against Hoeffding's (A: plain averages) or McDiarmid's (W: exponentially weighted averages)
bound, as river implements them (``river/drift/binary/hddm_a.py``, ``hddm_w.py``).

Both keep a cut point: the moment at which the average so far plus its bound was lowest (for a rise); the
average since then is compared with the average up to then. ``change_point`` is the sample after the cut.

HDDM-A's averages come from a running sum (exact for 0/1 values); river keeps running means, which can
differ from it in the last bits, never (on the tests' streams) in a detection. HDDM-W is a line-by-line
port. The ``update_many`` of both runs the same lines compiled (``_kernels``, numba), to the same state to
the bit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from loopwise.detectors._binary import ErrorStreamDetector
from loopwise.detectors.base import Sensitivity, in_open_unit
from loopwise.errors import ParameterError


def _confidences(drift: float, warning: float) -> None:
    in_open_unit("drift_confidence", drift)
    in_open_unit("warning_confidence", warning)
    if warning < drift:
        raise ParameterError("warning_confidence", warning, f"a number at least drift_confidence ({drift})")


class HDDM_A(ErrorStreamDetector):  # noqa: N801 (river's name)
    """Drift detection with Hoeffding's bound on averages (see the module docstring).

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> errors = np.concatenate([rng.random(2000) < 0.1, rng.random(2000) < 0.3]).astype(float)
    >>> hddm = HDDM_A()
    >>> hddm.update_many(errors)
    array([2072])
    >>> hddm.change_point
    2000
    """

    kind = "hddm_a"
    _whole_slices = True
    sensitivity = Sensitivity("drift_confidence", 1e-12, 0.005, "higher")
    bounded = True

    def __init__(
        self,
        drift_confidence: float = 0.001,
        warning_confidence: float = 0.005,
        two_sided_test: bool = True,
        locate: str = "split",
    ) -> None:
        _confidences(drift_confidence, warning_confidence)
        self.drift_confidence = float(drift_confidence)
        self.warning_confidence = float(warning_confidence)
        self.two_sided_test = bool(two_sided_test)
        # The logarithms once, in Python: both paths then use the same numbers.
        self._log_bound = math.log(1.0 / self.drift_confidence)
        self._log_drift = math.log(2.0 / self.drift_confidence)
        self._log_warning = math.log(2.0 / self.warning_confidence)
        self.locate = locate
        super().__init__()

    def params(self) -> dict[str, Any]:
        """The constructor's arguments."""
        return {
            "drift_confidence": self.drift_confidence,
            "warning_confidence": self.warning_confidence,
            "two_sided_test": self.two_sided_test,
            "locate": self.locate,
        }

    @property
    def warning_detected(self) -> bool:
        """Whether the last value passed the warning level (and not the drift level)."""
        return self._warning

    def _restart(self) -> None:
        self._count = 0
        self._sum = 0.0
        # The cut points: count, mean and watched value (mean ± bound) at the lowest (min) and highest (max).
        self._n_min = self._n_max = 0
        self._mean_min = self._mean_max = 0.0
        self._v_min, self._v_max = math.inf, -math.inf
        self._min_at = self._max_at = -1
        self._warning = False

    def _step(self, x: float) -> bool:
        self._count += 1
        self._sum += x
        n = self._count
        mean = self._sum / n
        eps = math.sqrt(1.0 / (2 * n) * self._log_bound)
        if mean + eps <= self._v_min:
            self._n_min, self._mean_min, self._v_min, self._min_at = n, mean, mean + eps, self._n
        if mean - eps >= self._v_max:
            self._n_max, self._mean_max, self._v_max, self._max_at = n, mean, mean - eps, self._n
        drift, warning, up = self._decide(
            np.float64(n), mean - self._mean_min, self._n_min, self._mean_max - mean, self._n_max
        )
        self._warning = bool(warning)
        if drift:
            self._change_point = (self._min_at if up else self._max_at) + 1
        return bool(drift)

    def _decide(self, n: Any, rise: Any, n_min: Any, fall: Any, n_max: Any) -> tuple[Any, Any, Any]:
        """Drift, warning, and whether a rise fired, from the rise above the low cut and the fall below the
        high cut (river's order: a fall can set the drift flag and leave the rise's warning standing)."""

        def beyond(change: Any, n_cut: Any, log: float) -> Any:
            with np.errstate(divide="ignore", invalid="ignore"):
                m = (n - n_cut) / n_cut * (1.0 / n)
                return (n_cut != n) & (change >= np.sqrt(m / 2 * log))

        up = beyond(rise, n_min, self._log_drift)
        drift = up
        warning = ~up & beyond(rise, n_min, self._log_warning)
        if self.two_sided_test:
            down = beyond(fall, n_max, self._log_drift)
            drift = drift | down
            warning = warning | (~down & beyond(fall, n_max, self._log_warning))
        return drift, warning, up

    def _run(self, chunk: npt.NDArray[np.float64]) -> int:
        from loopwise.detectors import _kernels

        used, fired, up, *state = _kernels.hddm_a(
            chunk,
            self._n,
            self._count,
            self._sum,
            self._n_min,
            self._n_max,
            self._mean_min,
            self._mean_max,
            self._v_min,
            self._v_max,
            self._min_at,
            self._max_at,
            self._warning,
            self._log_bound,
            self._log_drift,
            self._log_warning,
            self.two_sided_test,
        )
        self._count, self._sum = int(state[0]), state[1]
        self._n_min, self._n_max = int(state[2]), int(state[3])
        self._mean_min, self._mean_max, self._v_min, self._v_max = state[4], state[5], state[6], state[7]
        self._min_at, self._max_at, self._warning = int(state[8]), int(state[9]), bool(state[10])
        self._n += used
        if fired:
            self._change_point = (self._min_at if up else self._max_at) + 1
            self._drift_detected = True
        return int(used)

    def _state(self) -> dict[str, Any]:
        return {
            "count": self._count,
            "sum": self._sum,
            "n_min": self._n_min,
            "n_max": self._n_max,
            "mean_min": self._mean_min,
            "mean_max": self._mean_max,
            "v_min": self._v_min,
            "v_max": self._v_max,
            "min_at": self._min_at,
            "max_at": self._max_at,
            "warning": self._warning,
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        self._count, self._sum = int(state["count"]), float(state["sum"])
        self._n_min, self._n_max = int(state["n_min"]), int(state["n_max"])
        self._mean_min, self._mean_max = float(state["mean_min"]), float(state["mean_max"])
        self._v_min, self._v_max = float(state["v_min"]), float(state["v_max"])
        self._min_at, self._max_at = int(state["min_at"]), int(state["max_at"])
        self._warning = bool(state["warning"])


class _EWMA:
    """River's ``SampleInfo``: an exponentially weighted mean and its independent bound condition."""

    __slots__ = ("ibc", "init", "mean")

    def __init__(self, mean: float = 0.0, ibc: float = 1.0, init: bool = False) -> None:
        self.mean, self.ibc, self.init = mean, ibc, init

    def update(self, x: float, lam: float, one_minus: float, lam_sq: float, c_lam_sq: float) -> None:
        self.mean = lam * x + one_minus * self.mean if self.init else x
        self.init = True
        self.ibc = lam_sq + c_lam_sq * self.ibc

    def copy(self) -> _EWMA:
        return _EWMA(self.mean, self.ibc, self.init)


class HDDM_W(ErrorStreamDetector):  # noqa: N801 (river's name)
    """Drift detection with McDiarmid's bound on exponentially weighted averages (see the module docstring).

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> errors = np.concatenate([rng.random(2000) < 0.1, rng.random(2000) < 0.3]).astype(float)
    >>> HDDM_W().update_many(errors)
    array([2066])
    """

    kind = "hddm_w"
    _whole_slices = True
    sensitivity = Sensitivity("drift_confidence", 1e-12, 0.005, "higher")
    bounded = True
    _SIDES = ("total", "s1_incr", "s2_incr", "s1_decr", "s2_decr")

    def __init__(
        self,
        drift_confidence: float = 0.001,
        warning_confidence: float = 0.005,
        lambda_val: float = 0.02,
        two_sided_test: bool = True,
        locate: str = "split",
    ) -> None:
        _confidences(drift_confidence, warning_confidence)
        in_open_unit("lambda_val", lambda_val)
        self.drift_confidence = float(drift_confidence)
        self.warning_confidence = float(warning_confidence)
        self.lambda_val = float(lambda_val)
        self.two_sided_test = bool(two_sided_test)
        lam = self.lambda_val
        self._coef = (lam, 1.0 - lam, lam * lam, (1 - lam) ** 2)
        self.locate = locate
        super().__init__()

    def params(self) -> dict[str, Any]:
        """The constructor's arguments."""
        return {
            "drift_confidence": self.drift_confidence,
            "warning_confidence": self.warning_confidence,
            "lambda_val": self.lambda_val,
            "two_sided_test": self.two_sided_test,
            "locate": self.locate,
        }

    @property
    def warning_detected(self) -> bool:
        """Whether the last value passed the warning level (and not the drift level)."""
        return self._warning

    def _restart(self) -> None:
        self._total = _EWMA()
        self._s1_incr, self._s2_incr = _EWMA(), _EWMA()
        self._s1_decr, self._s2_decr = _EWMA(), _EWMA()
        self._incr_cut, self._decr_cut = math.inf, -math.inf
        self._incr_at = self._decr_at = -1
        self._warning = False

    @staticmethod
    def _bound(ibc: float, confidence: float) -> float:
        return math.sqrt(ibc * math.log(1 / confidence) / 2)

    def _changed(self, before: _EWMA, after: _EWMA, confidence: float) -> bool:
        if not (before.init and after.init):
            return False
        return after.mean - before.mean > self._bound(before.ibc + after.ibc, confidence)

    def _step(self, x: float) -> bool:
        coef = self._coef
        self._total.update(x, *coef)
        eps = self._bound(self._total.ibc, self.drift_confidence)
        if self._total.mean + eps < self._incr_cut:
            self._incr_cut = self._total.mean + eps
            self._s1_incr, self._s2_incr, self._incr_at = self._total.copy(), _EWMA(), self._n
        else:
            self._s2_incr.update(x, *coef)
        drift = up = self._changed(self._s1_incr, self._s2_incr, self.drift_confidence)
        self._warning = not drift and self._changed(self._s1_incr, self._s2_incr, self.warning_confidence)
        if self._total.mean - eps > self._decr_cut:
            self._decr_cut = self._total.mean - eps
            self._s1_decr, self._s2_decr, self._decr_at = self._total.copy(), _EWMA(), self._n
        else:
            self._s2_decr.update(x, *coef)
        if self.two_sided_test:
            if self._changed(self._s2_decr, self._s1_decr, self.drift_confidence):
                drift = True
            elif self._changed(self._s2_decr, self._s1_decr, self.warning_confidence):
                self._warning = True
        if drift:
            self._change_point = (self._incr_at if up else self._decr_at) + 1
        return drift

    def _run(self, chunk: npt.NDArray[np.float64]) -> int:
        from loopwise.detectors import _kernels

        e = np.array([[m.mean, m.ibc, float(m.init)] for m in (getattr(self, f"_{n}") for n in self._SIDES)])
        used, fired, up, *state = _kernels.hddm_w(
            chunk,
            self._n,
            e,
            self._incr_cut,
            self._decr_cut,
            self._incr_at,
            self._decr_at,
            self._warning,
            *self._coef,
            math.log(1 / self.drift_confidence),
            math.log(1 / self.warning_confidence),
            self.two_sided_test,
        )
        for name, (mean, ibc, init) in zip(self._SIDES, e.tolist(), strict=True):
            setattr(self, f"_{name}", _EWMA(mean, ibc, bool(init)))
        self._incr_cut, self._decr_cut = state[0], state[1]
        self._incr_at, self._decr_at, self._warning = int(state[2]), int(state[3]), bool(state[4])
        self._n += used
        if fired:
            self._change_point = (self._incr_at if up else self._decr_at) + 1
            self._drift_detected = True
        return int(used)

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "incr_cut": self._incr_cut,
            "decr_cut": self._decr_cut,
            "incr_at": self._incr_at,
            "decr_at": self._decr_at,
            "warning": self._warning,
        }
        for name in self._SIDES:
            e = getattr(self, f"_{name}")
            state[name] = [e.mean, e.ibc, e.init]
        return state

    def _load_state(self, state: dict[str, Any]) -> None:
        self._incr_cut, self._decr_cut = float(state["incr_cut"]), float(state["decr_cut"])
        self._incr_at, self._decr_at = int(state["incr_at"]), int(state["decr_at"])
        self._warning = bool(state["warning"])
        for name in self._SIDES:
            mean, ibc, init = state[name]
            setattr(self, f"_{name}", _EWMA(float(mean), float(ibc), bool(init)))
