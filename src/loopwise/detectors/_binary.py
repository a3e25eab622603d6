"""What the detectors of 0/1 (or [0, 1]) streams share: the check of their values."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from loopwise.detectors.base import Detector
from loopwise.errors import DataError


class ErrorStreamDetector(Detector):
    """A detector of an error stream: 1 for a miss (an error, a failure), 0 for a hit; with ``bounded``,
    any value in [0, 1] (a loss, say)."""

    bounded = False

    @property
    def takes(self) -> str:
        """``"unit"`` with ``bounded`` (values in [0, 1]), else ``"binary"`` (0 or 1)."""
        return "unit" if self.bounded else "binary"

    def _check_value(self, x: Any) -> float:
        v = super()._check_value(x)
        if not self._allowed(np.array([v])).all():
            raise DataError(f"{type(self).__name__} takes {self._what()}; got {x!r}")
        return v

    def _check_values(self, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
        arr = super()._check_values(values)
        ok = self._allowed(arr)
        if not ok.all():
            bad = int(np.flatnonzero(~ok)[0])
            raise DataError(f"{type(self).__name__} takes {self._what()}; got {arr[bad]} at position {bad}")
        return arr

    def _allowed(self, arr: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        if self.bounded:
            return np.asarray((arr >= 0) & (arr <= 1))
        return np.asarray((arr == 0) | (arr == 1))

    def _what(self) -> str:
        return "values in [0, 1]" if self.bounded else "0 (a hit) or 1 (an error)"
