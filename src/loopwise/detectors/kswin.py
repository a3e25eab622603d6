"""KSWIN (Raab et al. 2020): a two-sample Kolmogorov-Smirnov test, on every value once the window is full,
between the last ``stat_size`` values and ``stat_size`` values drawn from the rest of the window, as river
implements it (``river/drift/kswin.py``): an alarm when the p-value is at most ``alpha`` and the statistic
above 0.1. ``change_point`` is the first of the last ``stat_size`` values (the change lies among them).

River draws the older sample with ``random.Random(seed).sample`` and tests with ``scipy.stats.ks_2samp``
(exact p-values for these sizes). Loopwise draws the same samples in the same order: CPython's Mersenne
Twister and ``sample`` written again in a compiled loop (``_kernels.kswin``, numba; its state is part of the
detector's state, in ``random.Random.getstate``'s layout). With samples of equal size ``s`` the statistic is
``h / s`` for the largest gap ``h`` between the two samples' counts at or below a value, and ks_2samp's
p-value a function of ``h`` alone, read from a table of ``s + 1`` values that ks_2samp itself computes once.
"""

from __future__ import annotations

import functools
import math
import random
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from loopwise._lazy import lazy
from loopwise.detectors.base import Detector, Sensitivity, in_open_unit, positive
from loopwise.errors import DataError, ParameterError

if TYPE_CHECKING:
    from scipy import stats
else:
    stats = lazy("scipy.stats")


@functools.cache
def _table(size: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """ks_2samp's statistic and p-value for two samples of ``size`` whose counts differ by at most h."""
    base = np.arange(size, dtype=np.float64)
    with warnings.catch_warnings():
        # ks_2samp warns when its exact computation falls back on the asymptotic one; river silences it too.
        warnings.simplefilter("ignore", category=RuntimeWarning)
        results = [stats.ks_2samp(base, base + h, method="auto") for h in range(size + 1)]
    return (
        np.array([float(r.statistic) for r in results]),
        np.array([float(r.pvalue) for r in results]),
    )


class KSWIN(Detector):
    """Kolmogorov-Smirnov windowing (river's parameters, sampling and detections; see the module docstring).

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = np.concatenate([rng.normal(0, 1, 1000), rng.normal(3, 1, 1000)])
    >>> kswin = KSWIN()
    >>> kswin.update_many(x, with_change_points=True)
    (array([1022]), array([1000]))
    """

    kind = "kswin"
    _whole_slices = True
    sensitivity = Sensitivity("alpha", 1e-15, 0.1, "higher")

    def __init__(
        self,
        alpha: float = 1e-6,
        window_size: int = 100,
        stat_size: int = 30,
        seed: int | None = 0,
        locate: str = "split",
    ) -> None:
        in_open_unit("alpha", alpha)
        positive("window_size", window_size, integer=True)
        positive("stat_size", stat_size, integer=True)
        if not 2 * stat_size <= window_size:
            # River accepts window_size < 2 * stat_size, then fails on the first test (a sample larger than
            # the population it is drawn from).
            raise ParameterError("window_size", window_size, f"at least 2 * stat_size ({2 * stat_size})")
        if stat_size > 10_000:
            raise ParameterError("stat_size", stat_size, "at most 10000 (ks_2samp's exact p-values)")
        if seed is not None and not isinstance(seed, int):
            raise ParameterError("seed", seed, "an integer or None")
        self.alpha = float(alpha)
        self.window_size = int(window_size)
        self.stat_size = int(stat_size)
        self.seed = seed
        self.locate = locate
        super().__init__()

    def params(self) -> dict[str, Any]:
        """The constructor's arguments."""
        return {
            "alpha": self.alpha,
            "window_size": self.window_size,
            "stat_size": self.stat_size,
            "seed": self.seed,
            "locate": self.locate,
        }

    @property
    def p_value(self) -> float:
        """The last test's p-value (0 before the window is first full, as river's)."""
        return self._p_value

    def _restart(self) -> None:
        self._window = np.empty(0)
        # As river: a detection starts the draws again from the seed. The generator is CPython's Mersenne
        # Twister, kept as its 624 words and position (``_kernels`` draws from it as ``random.Random`` does).
        _, words, _ = random.Random(self.seed).getstate()
        self._mt = np.asarray(words[:-1], dtype=np.int64)
        self._mt_pos = np.array([words[-1]], dtype=np.int64)
        self._p_value = 0.0

    def _step(self, x: float) -> bool:
        self._run(np.array([x]))
        self._n -= 1  # update() counts the value
        return self._drift_detected

    def _run(self, chunk: npt.NDArray[np.float64]) -> int:
        from loopwise.detectors import _kernels

        w, s = self.window_size, self.stat_size
        values = np.concatenate((self._window, chunk))
        held = len(self._window)
        statistic, p_value = _table(s)
        used, fired, self._p_value = _kernels.kswin(
            values,
            held,
            w,
            s,
            self._mt,
            self._mt_pos,
            _pool_method(w - s, s),
            p_value,
            statistic,
            self.alpha,
            self._p_value,
        )
        used = int(used)
        end = held + used
        self._n += used
        if fired:
            self._window = values[end - s : end].copy()  # as river: the recent sample becomes the window
            self._change_point = self._n - s
            self._drift_detected = True
        else:
            self._window = values[max(0, end - w) : end].copy()
        return used

    def _state(self) -> dict[str, Any]:
        # The format of random.Random.getstate(): version 3, the 624 words and the position, no gauss.
        return {
            "window": self._window,
            "rng_version": 3,
            "rng": np.concatenate((self._mt, self._mt_pos)),
            "rng_gauss": None,
            "p_value": self._p_value,
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        self._window = np.asarray(state["window"], dtype=np.float64)
        words = np.asarray(state["rng"], dtype=np.int64)
        if int(state["rng_version"]) != 3 or words.shape != (625,):
            raise DataError("KSWIN state: the generator's state is not CPython's Mersenne Twister")
        self._mt, self._mt_pos = words[:-1].copy(), words[-1:].copy()
        self._p_value = float(state["p_value"])


def _pool_method(population: int, k: int) -> bool:
    """Whether ``random.Random.sample(range(population), k)`` draws from a pool (CPython 3.11-3.13: when the
    population is no larger than a set of ``k`` would be) rather than with rejection of repeats."""
    setsize = 21
    if k > 5:
        setsize += 4 ** math.ceil(math.log(k * 3, 4))
    return population <= setsize
