"""KSWIN (Raab et al. 2020): a two-sample Kolmogorov-Smirnov test, on every value once the window is full,
between the last ``stat_size`` values and ``stat_size`` values drawn from the rest of the window, as river
implements it (``river/drift/kswin.py``): an alarm when the p-value is at most ``alpha`` and the statistic
above 0.1. ``change_point`` is the first of the last ``stat_size`` values (the change lies among them).

River draws the older sample with ``random.Random(seed).sample`` and tests with ``scipy.stats.ks_2samp``
(exact p-values for these sizes). Loopwise draws with the same generator, in the same order (its state is
part of the detector's state), so the same seed gives the same samples; and it computes the statistic for a
whole slice at once: with samples of equal size ``s``, the statistic is ``h / s`` for the largest gap ``h``
between the two samples' counts at or below a value, and ks_2samp's p-value a function of ``h`` alone, read
from a table of ``s + 1`` values that ks_2samp itself computes once.
"""

from __future__ import annotations

import functools
import random
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from loopwise.detectors.base import Detector, Sensitivity, in_open_unit, positive
from loopwise.errors import ParameterError

#: Tests evaluated together in ``update_many``.
_TESTS_PER_BATCH = 4096


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
        self._rng = random.Random(self.seed)  # as river: a detection starts the draws again from the seed
        self._p_value = 0.0

    def _step(self, x: float) -> bool:
        self._run(np.array([x]))
        self._n -= 1  # update() counts the value
        return self._drift_detected

    def _run(self, chunk: npt.NDArray[np.float64]) -> int:
        w, s = self.window_size, self.stat_size
        values = np.concatenate((self._window, chunk))
        held = len(self._window)
        first = max(0, w - 1 - held)  # the first value of the chunk after which the window is full
        fired_at = None
        pos = first
        while pos < len(chunk) and fired_at is None:
            steps = np.arange(pos, min(len(chunk), pos + _TESTS_PER_BATCH))
            rng_state = self._rng.getstate()
            draws = np.array([self._rng.sample(range(w - s), s) for _ in steps], dtype=np.int64)
            ends = held + steps + 1  # the window of step j is values[end - w : end]
            older = values[(ends - w)[:, None] + draws]
            recent = values[(ends - s)[:, None] + np.arange(s)]
            gap = _largest_gap(older, recent)
            statistic, p_value = _table(s)
            fires = (p_value[gap] <= self.alpha) & (statistic[gap] > 0.1)
            if fires.any():
                i = int(np.argmax(fires))
                fired_at = int(steps[i])
                # The generator as it was after this test: draw the same samples again, up to it.
                self._rng.setstate(rng_state)
                for _ in range(i + 1):
                    self._rng.sample(range(w - s), s)
                self._p_value = float(p_value[gap[i]])
            else:
                self._p_value = float(p_value[gap[-1]])
            pos = int(steps[-1]) + 1
        used = len(chunk) if fired_at is None else fired_at + 1
        end = held + used
        self._n += used
        if fired_at is None:
            self._window = values[max(0, end - w) : end].copy()
        else:
            self._window = values[end - s : end].copy()  # as river: the recent sample becomes the window
            self._change_point = self._n - s
            self._drift_detected = True
        return used

    def _state(self) -> dict[str, Any]:
        version, words, gauss = self._rng.getstate()
        return {
            "window": self._window,
            "rng_version": version,
            "rng": np.asarray(words, dtype=np.int64),
            "rng_gauss": gauss,
            "p_value": self._p_value,
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        self._window = np.asarray(state["window"], dtype=np.float64)
        words = tuple(int(v) for v in state["rng"])
        self._rng.setstate((int(state["rng_version"]), words, state["rng_gauss"]))
        self._p_value = float(state["p_value"])


def _largest_gap(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Per row, the largest difference between how many of ``a`` and of ``b`` are at or below a value of
    either (``s`` times ks_2samp's statistic): the running count of a merged sort, read after ties."""
    merged = np.concatenate((a, b), axis=1)
    signs = np.concatenate((np.ones_like(a, dtype=np.int64), -np.ones_like(b, dtype=np.int64)), axis=1)
    order = np.argsort(merged, axis=1, kind="stable")
    ordered = np.take_along_axis(merged, order, axis=1)
    running = np.cumsum(np.take_along_axis(signs, order, axis=1), axis=1)
    last_of_ties = np.ones_like(ordered, dtype=bool)
    last_of_ties[:, :-1] = ordered[:, 1:] != ordered[:, :-1]
    gap: npt.NDArray[np.int64] = np.where(last_of_ties, np.abs(running), 0).max(axis=1)
    return gap
