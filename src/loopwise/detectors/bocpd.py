"""Bayesian online change-point detection (Adams & MacKay 2007, "Bayesian Online Changepoint Detection",
arXiv:0710.3742), with a check and a location of each change by the likelihood ratio of the values since the
last one.

**The model.** Each run (the values since the last change) is a Bayesian linear regression with unknown
noise variance (a Normal-Inverse-Gamma prior, so each run's predictive is a Student t): ``model="ar1"`` (the
default) regresses each value on 1 and the value before it, an AR(1) with its own level, persistence and
spread; ``model="constant"`` on 1 alone, Gaussian values with an unknown mean and variance (the Normal-Gamma
model of the paper). The AR(1) run also describes autocorrelated noise and a wandering or trending level (a
persistence near 1), which a model of constant means cuts into many pieces; its coefficient's prior (mean 0,
precision ``ar_precision``, worth that many values) keeps short runs close to independent values.
``model="trend"`` regresses each value on 1 and its time since the run began (in units of ``TREND_UNIT``
= 100 values): a local linear trend per run (as in Fearnhead's piecewise-regression change points), so that
a steady climb is one run; the slope's prior (mean 0, precision ``trend_precision``, default 100: a slope of
about a tenth of the noise's spread per 100 values) keeps short runs flat; its check fits a line on each side.
It is an option, not the default (decision 0048: better on TCPD's prices, worse on autocorrelated noise,
which it reads as local trends). The hazard is constant: the prior probability of a change at each value is
``1 / expected_run_length``.

**Proposals.** After each value the run-length posterior is updated by the paper's recursion (in
logarithms). The detector considers a change when the posterior's mode says the current run began after
the last change it reported, and the run has at least ``min_run`` values (an outlier makes a new run probable
for one value only).

**Check and location** (``refine=True``, the default). The values since the last reported change point (at
most ``SEGMENT_CAP``) are split in two where the model fits best: the split that maximises the likelihood
ratio of two regressions (each side its own coefficients and variance, fitted by least squares) against one.
The check's values are first winsorized (``winsorized``: within 4 robust standard deviations of a running
median), so that a heavy-tailed outlier or a burst of them does not pass for a change of spread. The alarm
is raised when that ratio's logarithm passes ``penalty`` times BIC's penalty
(``(p + 1) / 2 · log n`` per extra segment, p the regression's coefficients); until then the proposal is
held and tested again while the posterior still proposes it: after a pause of a 64th of the segment's
values, at most 16 (``HOLD_SHARE``, ``HOLD_MAX``; decision 0064), since each test scans the segment and a
stream the run model misdescribes (heavy tails) keeps proposing; the alarm is then at most that late.
``change_point`` is the split, which lands on the change more often than the posterior's mode does after a
shift in level; the check's segment then begins there. A split less than ``min_segment`` values after the
last reported change point is taken as part of that change: not reported (the segment still begins again
at it). With ``refine=False`` every proposal is an alarm and ``change_point`` the posterior mode's start
(the paper's detector).

Hypotheses with a probability below ``prune`` are dropped, and at most ``max_hypotheses`` kept (the most
probable), which bounds the work per value. With ``mu0`` and ``beta0`` left to None the values are first
put in units of the first ``warm_up`` values (their mean; for ``"constant"`` their standard deviation, for
``"ar1"`` and ``"trend"`` the robust spread of their differences, which a trend does not inflate): the
detector is then the same for a stream measured in any unit. ``beta0`` (data units squared) fixes the scale
instead: values are divided by ``sqrt(beta0 / alpha0)``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from loopwise._lazy import lazy
from loopwise.detectors.base import SEGMENT_CAP, Detector, Sensitivity, in_open_unit, positive
from loopwise.errors import DataError, ParameterError, StaleStateError

if TYPE_CHECKING:
    from scipy import ndimage, special
else:
    ndimage, special = lazy("scipy.ndimage"), lazy("scipy.special")

MODELS = ("auto", "ar1", "trend", "constant", "bernoulli")
#: ``model="trend"``: a run's time (values since it began) is counted in units of this many values.
TREND_UNIT = 100.0
#: Fewest values on either side of a split of the check.
_MIN_SIDE = 5
#: The check's values are winsorized at this many robust standard deviations (``winsorized``).
_LIMIT = 4.0
#: After a check that fails, the next waits for a ``HOLD_SHARE``-th of the segment's values, at most
#: ``HOLD_MAX`` (decision 0064).
HOLD_SHARE, HOLD_MAX = 64, 16
#: What a state holds since decision 0040 (older states lack some of these).
_STATE_KEYS = frozenset({"seg", "seg_first", "seg_before", "model_used", "rate_prior", "last_cp", "start"})


class BOCPD(Detector):
    """Bayesian online change-point detection with a regression per run (see the module docstring).

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = np.concatenate([rng.normal(0, 1, 300), rng.normal(2, 1, 300)])
    >>> bocpd = BOCPD()
    >>> bocpd.update_many(x, with_change_points=True)
    (array([329]), array([300]))
    """

    kind = "bocpd"
    sensitivity = Sensitivity("penalty", 0.05, 100.0, "lower")

    def __init__(
        self,
        expected_run_length: float = 4000.0,
        model: str = "auto",
        mu0: float | None = None,
        kappa0: float = 0.01,
        ar_precision: float = 1.0,
        trend_precision: float = 100.0,
        alpha0: float = 1.0,
        beta0: float | None = None,
        warm_up: int = 20,
        min_run: int = 30,
        refine: bool = True,
        penalty: float = 2.0,
        min_segment: int = 30,
        prune: float = 1e-8,
        max_hypotheses: int = 300,
    ) -> None:
        positive("expected_run_length", expected_run_length)
        if expected_run_length <= 1:
            raise ParameterError("expected_run_length", expected_run_length, "a number above 1")
        if model not in MODELS:
            raise ParameterError("model", model, MODELS)
        positive("kappa0", kappa0)
        positive("ar_precision", ar_precision)
        positive("trend_precision", trend_precision)
        positive("alpha0", alpha0)
        if mu0 is not None and not (isinstance(mu0, int | float) and math.isfinite(mu0)):
            raise ParameterError("mu0", mu0, "a finite number or None")
        if beta0 is not None:
            positive("beta0", beta0)
        positive("warm_up", warm_up, integer=True)
        if beta0 is None and warm_up < 3:
            raise ParameterError("warm_up", warm_up, "at least 3 when beta0 is estimated")
        positive("min_run", min_run, integer=True, zero=True)
        positive("penalty", penalty, zero=True)
        positive("min_segment", min_segment, integer=True, zero=True)
        if prune != 0:
            in_open_unit("prune", prune)
        positive("max_hypotheses", max_hypotheses, integer=True)
        self.expected_run_length = float(expected_run_length)
        self.model = model
        self.mu0 = None if mu0 is None else float(mu0)
        self.kappa0 = float(kappa0)
        self.ar_precision = float(ar_precision)
        self.trend_precision = float(trend_precision)
        self.alpha0 = float(alpha0)
        self.beta0 = None if beta0 is None else float(beta0)
        self.warm_up = int(warm_up)
        self.min_run = int(min_run)
        self.refine = bool(refine)
        self.penalty = float(penalty)
        self.min_segment = int(min_segment)
        self.prune = float(prune)
        self.max_hypotheses = int(max_hypotheses)
        self._p = 1 if model in ("constant", "bernoulli") else 2
        self._log_h = math.log(1.0 / self.expected_run_length)
        self._log_1mh = math.log1p(-1.0 / self.expected_run_length)
        second = self.trend_precision if model == "trend" else self.ar_precision
        precisions = [self.kappa0, second][: self._p]
        self._prior_precision = np.diag(precisions)
        super().__init__()

    def params(self) -> dict[str, Any]:
        """The constructor's arguments."""
        return {
            "expected_run_length": self.expected_run_length,
            "model": self.model,
            "mu0": self.mu0,
            "kappa0": self.kappa0,
            "ar_precision": self.ar_precision,
            "trend_precision": self.trend_precision,
            "alpha0": self.alpha0,
            "beta0": self.beta0,
            "warm_up": self.warm_up,
            "min_run": self.min_run,
            "refine": self.refine,
            "penalty": self.penalty,
            "min_segment": self.min_segment,
            "prune": self.prune,
            "max_hypotheses": self.max_hypotheses,
        }

    @property
    def takes(self) -> str:
        """``"unit"`` for ``model="bernoulli"`` (a rate: values in [0, 1]), else ``"numbers"``; ``"auto"``
        takes numbers, unless its warm-up held only 0 and 1 (then values in [0, 1] from there on)."""
        return "unit" if self.model == "bernoulli" else "numbers"

    @property
    def run_model(self) -> str | None:
        """The run model in use ("ar1", "trend", "constant" or "bernoulli"; ``model="auto"`` decides on the
        warm-up), None while the warm-up is not over."""
        return None if self._units is None else self._model

    def run_length_posterior(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """The run lengths still considered, most recent change first, and their posterior probabilities."""
        return self._r.copy(), np.exp(self._log_r)

    # -- the recursion -------------------------------------------------------------------------------------

    def _restart(self) -> None:
        p = self._p
        self._buffer: list[float] = []
        self._units: tuple[float, float] | None = None  # (location, scale) once known
        self._r = np.zeros(1, dtype=np.int64)
        self._log_r = np.zeros(1)
        self._xx = np.zeros((1, p, p))  # per hypothesis: sums of regressor products, regressor * value,
        self._xy = np.zeros((1, p))  # value squared, and count (in the standardised units)
        self._yy = np.zeros(1)
        self._count = np.zeros(1)
        self._prev = 0.0  # the last standardised value (the AR(1) regressor of the next)
        self._t = 0  # values the recursion has seen
        self._start = self._n  # where the run last proposed began
        self._last_cp = self._n  # the last reported change point (the check's segment begins there)
        self._recheck = self._n  # no check before this index (a failed check pauses the next ones)
        self._seg: list[float] = []  # standardised values since the last reported change point
        self._seg_first = self._n  # index of the first of them
        self._seg_before = 0.0  # the standardised value before the first of them
        # The run model in use ("auto" decides on the warm-up) and, for "bernoulli", the prior's Beta(a, b).
        self._model = "ar1" if self.model == "auto" else self.model
        self._rate_prior = (1.0, 1.0)
        if self.beta0 is not None and self.model != "bernoulli":
            self._units = (0.0 if self.mu0 is None else self.mu0, math.sqrt(self.beta0 / self.alpha0))

    def _after_detection(self) -> None:
        """Keep the posterior: it already holds the new run."""

    def _step(self, x: float) -> bool:
        if self._units is not None:
            return self._advance(x, self._n)
        self._buffer.append(x)
        if len(self._buffer) < self.warm_up:
            return False
        values, self._buffer = np.asarray(self._buffer), []
        if self.model == "auto" and np.isin(values, (0.0, 1.0)).all():
            self._model = "bernoulli"
        mu0 = float(values.mean()) if self.mu0 is None else self.mu0
        if self._model == "bernoulli":
            # A Beta prior worth two values, centred on the warm-up's rate (smoothed away from 0 and 1).
            rate = (float(values.sum()) + 0.5) / (len(values) + 1.0)
            self._rate_prior = (2.0 * rate, 2.0 * (1.0 - rate))
            mu0, spread = 0.0, 1.0
        elif self._model in ("ar1", "trend"):
            d = np.diff(values)
            spread = float(np.median(np.abs(d - np.median(d)))) / 0.6745 / math.sqrt(2.0)
            if spread <= 0:
                spread = float(d.std()) / math.sqrt(2.0)
        else:
            spread = float(values.std(ddof=1))
        self._units = (mu0, max(spread, 1e-12 * max(1.0, abs(mu0))))
        # The warm-up values are data too: through the recursion, alarms held back to the last of them.
        first = self._n - len(values) + 1
        for i, v in enumerate(values[:-1].tolist()):
            self._advance(v, first + i, report=False)
        return self._advance(float(values[-1]), self._n)

    def _regressors(self, count: int) -> npt.NDArray[np.float64]:
        if self._p == 1:
            return np.ones((count, 1))
        if self._model == "trend":
            # each hypothesis's time: the values its run held before this one, in units of TREND_UNIT
            return np.column_stack((np.ones(count), self._r / TREND_UNIT))
        return np.column_stack((np.ones(count), np.full(count, self._prev)))

    def _advance(self, x: float, index: int, *, report: bool = True) -> bool:
        """One step of the recursion for the value at ``index``; whether it raises an alarm."""
        assert self._units is not None
        if self._model == "bernoulli":
            if not 0.0 <= x <= 1.0:
                raise DataError(
                    f"BOCPD's run model is bernoulli (its warm-up held only 0 and 1) and takes values in"
                    f" [0, 1]; got {x!r} (pass model='ar1' for a numeric stream)"
                )
            a0, b0 = self._rate_prior
            rate = (a0 + self._yy) / (a0 + b0 + self._count)
            return self._update(x, x * np.log(rate) + (1.0 - x) * np.log1p(-rate), index, report, x)
        loc, scale = self._units
        y = (x - loc) / scale
        return self._update(y, self._log_predictive(y), index, report, y * y)

    def _log_predictive(self, y: float) -> npt.NDArray[np.float64]:
        """Each hypothesis's log predictive density of ``y`` (a Student t from its regression's posterior)."""
        h = self._r.size
        phi = self._regressors(h)
        cov = _inverse(self._prior_precision[None] + self._xx)
        mean = np.einsum("hij,hj->hi", cov, self._xy)
        a = self.alpha0 + self._count / 2.0
        b = self.alpha0 + 0.5 * (self._yy - np.einsum("hi,hi->h", mean, self._xy))
        b = np.maximum(b, 1e-12)
        centre = np.einsum("hi,hi->h", phi, mean)
        scale2 = b / a * (1.0 + np.einsum("hi,hij,hj->h", phi, cov, phi))
        nu = 2.0 * a
        z = (y - centre) ** 2 / (nu * scale2)
        log_pred: npt.NDArray[np.float64] = (
            special.gammaln((nu + 1.0) / 2.0)
            - special.gammaln(nu / 2.0)
            - 0.5 * np.log(nu * math.pi * scale2)
            - (nu + 1.0) / 2.0 * np.log1p(z)
        )
        return log_pred

    def _update(
        self, y: float, log_pred: npt.NDArray[np.float64], index: int, report: bool, square: float
    ) -> bool:
        """The recursion's step given each hypothesis's log predictive; ``square`` is added to ``_yy``
        (the value squared; for "bernoulli", whose ``_yy`` counts the ones, the value itself)."""
        phi = self._regressors(self._r.size)
        joint = self._log_r + log_pred
        log_change = _logsumexp(joint + self._log_h)
        log_r = np.concatenate(([log_change], joint + self._log_1mh))
        log_r -= _logsumexp(log_r)
        p = self._p
        r = np.concatenate(([0], self._r + 1))
        xx = np.concatenate((np.zeros((1, p, p)), self._xx + phi[:, :, None] * phi[:, None, :]))
        xy = np.concatenate((np.zeros((1, p)), self._xy + phi * y))
        yy = np.concatenate(([0.0], self._yy + square))
        count = np.concatenate(([0.0], self._count + 1.0))
        keep = self._keep(log_r)
        self._r, self._log_r = r[keep], log_r[keep]
        self._xx, self._xy, self._yy, self._count = xx[keep], xy[keep], yy[keep], count[keep]
        if not keep.all():
            self._log_r -= _logsumexp(self._log_r)
        if not self._seg:
            self._seg_before = self._prev
        self._seg.append(y)
        if len(self._seg) > SEGMENT_CAP:
            self._seg_before = self._seg.pop(0)
            self._seg_first += 1
        self._prev = y
        self._t += 1
        mode = int(self._r[int(np.argmax(self._log_r))])
        start = index - mode + 1
        if not (report and start > self._start and mode >= self.min_run):
            return False
        if not self.refine:
            self._start = start
            self._change_point = start
            return True
        if index < self._recheck:
            return False  # a check failed a moment ago (see the module docstring, "held")
        split, gain = self._best_split()
        dof = 1 if self._model == "bernoulli" else p + 1  # the parameters of a segment
        if split is None or gain <= self.penalty * dof / 2.0 * math.log(len(self._seg)):
            # Held: tested again while the posterior still proposes it, after a pause of a 64th of the
            # segment (at most 16 values), so that a stream the run model misdescribes (heavy tails, which
            # keep proposing) costs a bounded amount a value rather than a scan of the segment at each.
            self._recheck = index + 1 + min(HOLD_MAX, len(self._seg) // HOLD_SHARE)
            return False
        self._start = start
        reported = split - self._last_cp >= self.min_segment
        # The check's segment begins again at the split; a split too close to the last change point is
        # taken as part of that change (not reported) and no longer tested.
        drop = split - self._seg_first
        self._seg_before = self._seg[drop - 1]
        del self._seg[:drop]
        self._seg_first = split
        if reported:
            self._change_point = split
            self._last_cp = split
        return reported

    def _best_split(self) -> tuple[int | None, float]:
        """The index where two regressions fit the segment best, and the log-likelihood ratio there."""
        n = len(self._seg)
        if n < 2 * _MIN_SIDE:
            return None, 0.0
        k = np.arange(_MIN_SIDE, n - _MIN_SIDE + 1)
        if self._model == "bernoulli":
            ones = np.cumsum(self._seg)
            left, total = ones[k - 1], ones[-1]
            ratio = _bernoulli(left, k) + _bernoulli(total - left, n - k) - _bernoulli(total, n)
            best = int(np.argmax(ratio))
            return self._seg_first + int(k[best]), float(ratio[best])
        y = winsorized(np.asarray(self._seg))
        x = self._check_design(y)
        # One set of prefix sums serves the whole segment and both sides of every split.
        sums = _prefix_sums(x, y)
        whole = _rss(sums, np.array([0]), np.array([n]))
        left = _rss(sums, np.zeros(k.size, dtype=np.int64), k)
        right = _rss(sums, k, np.full(k.size, n))
        nl, nr = k.astype(np.float64), (n - k).astype(np.float64)
        ratio = n / 2 * np.log(whole[0] / n) - nl / 2 * np.log(left / nl) - nr / 2 * np.log(right / nr)
        best = int(np.argmax(ratio))
        return self._seg_first + int(k[best]), float(ratio[best])

    def _check_design(self, y: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The check's regressors for the (winsorized) segment ``y``: the run model's."""
        n = y.size
        if self._model == "trend":
            return np.column_stack((np.ones(n), np.arange(n) / n))  # a line (its slope's unit is immaterial)
        lagged = np.concatenate(([self._seg_before], y[:-1]))
        return np.column_stack((np.ones(n), lagged))[:, : self._p]

    def _keep(self, log_r: npt.NDArray[np.float64]) -> npt.NDArray[Any]:
        keep = log_r >= math.log(self.prune) if self.prune > 0 else np.ones(log_r.size, dtype=bool)
        keep[int(np.argmax(log_r))] = True
        if int(keep.sum()) > self.max_hypotheses:
            order = np.argsort(-log_r, kind="stable")[: self.max_hypotheses]
            keep = np.zeros(log_r.size, dtype=bool)
            keep[order] = True
        return keep

    # -- state ---------------------------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        return {
            "buffer": np.asarray(self._buffer, dtype=np.float64),
            "units": None if self._units is None else list(self._units),
            "r": self._r,
            "log_r": self._log_r,
            "xx": self._xx.reshape(-1),
            "xy": self._xy.reshape(-1),
            "yy": self._yy,
            "count": self._count,
            "prev": self._prev,
            "t": self._t,
            "start": self._start,
            "last_cp": self._last_cp,
            "seg": np.asarray(self._seg, dtype=np.float64),
            "seg_first": self._seg_first,
            "seg_before": self._seg_before,
            "recheck": self._recheck,
            "model_used": self._model,
            "rate_prior": list(self._rate_prior),
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        missing = sorted(_STATE_KEYS - state.keys())
        if missing:
            # States written before decision 0040 (a Normal-Gamma run, no check): their posterior is over
            # another run model and cannot be carried over.
            raise StaleStateError(
                f"a BOCPD state from before decision 0040 (Normal-Gamma runs, no check; it lacks"
                f" {', '.join(missing)}) cannot be resumed: its posterior is over another run model. Start"
                " a new BOCPD (for a monitor: reset its detector state) and feed it the recent values"
            )
        p = self._p
        self._buffer = [float(v) for v in state["buffer"]]
        units = state["units"]
        self._units = None if units is None else (float(units[0]), float(units[1]))
        self._r = np.asarray(state["r"], dtype=np.int64)
        self._log_r = np.asarray(state["log_r"], dtype=np.float64)
        self._xx = np.asarray(state["xx"], dtype=np.float64).reshape(-1, p, p)
        self._xy = np.asarray(state["xy"], dtype=np.float64).reshape(-1, p)
        self._yy = np.asarray(state["yy"], dtype=np.float64)
        self._count = np.asarray(state["count"], dtype=np.float64)
        self._prev = float(state["prev"])
        self._t, self._start, self._last_cp = int(state["t"]), int(state["start"]), int(state["last_cp"])
        self._seg = [float(v) for v in state["seg"]]
        self._seg_first, self._seg_before = int(state["seg_first"]), float(state["seg_before"])
        self._recheck = int(state.get("recheck", 0))  # states before decision 0064 checked at every proposal
        self._model = str(state["model_used"])
        if self._model not in MODELS[1:]:
            raise DataError(f"BOCPD state: unknown run model {self._model!r}")
        self._rate_prior = (float(state["rate_prior"][0]), float(state["rate_prior"][1]))


def _prefix_sums(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The prefix sums (each beginning with 0) of ``x``'s outer products, of ``x`` times ``y`` and of ``y``
    squared: what the regressions of ``y`` on ``x`` over any range of rows need."""
    p = x.shape[1]
    outer = np.concatenate((np.zeros((1, p, p)), np.cumsum(x[:, :, None] * x[:, None, :], axis=0)))
    cross = np.concatenate((np.zeros((1, p)), np.cumsum(x * y[:, None], axis=0)))
    squares = np.concatenate(([0.0], np.cumsum(y * y)))
    return outer, cross, squares


def _rss(
    sums: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]],
    a: npt.NDArray[np.int64],
    b: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """Residual sums of squares of the least-squares regressions of ``y[a:b]`` on ``x[a:b]`` (per pair of
    bounds) from ``_prefix_sums``; floored at a tiny fraction of the values' own sum of squares. Solved by
    LAPACK (a closed form of the 2x2 systems, tried, was 2-3 times faster per check but rounds otherwise,
    which moved splits between near-tied values on TCPD's Occupancy: decision 0064)."""
    outer, cross, squares = sums
    p = outer.shape[1]
    gram = outer[b] - outer[a] + 1e-9 * np.eye(p)
    xy = cross[b] - cross[a]
    yy = squares[b] - squares[a]
    beta = np.linalg.solve(gram, xy[..., None])[..., 0]
    rss = yy - np.einsum("ki,ki->k", beta, xy)
    floor = 1e-12 * np.maximum(yy, 1.0)
    result: npt.NDArray[np.float64] = np.maximum(rss, floor)
    return result


def winsorized(y: npt.NDArray[np.float64], width: int = 5, limit: float = _LIMIT) -> npt.NDArray[np.float64]:
    """``y`` with each value brought within ``limit`` robust standard deviations of the running median of
    ``width`` values around it (the spread: the median absolute deviation of the differences, / 0.6745 / √2,
    which neither a shift in level nor a trend inflates). A heavy-tailed outlier or a burst of them then no
    longer passes for a change of variance in the check; a change of level or of spread still does."""
    d = np.diff(y)
    spread = float(np.median(np.abs(d - np.median(d)))) / 0.6745 / math.sqrt(2.0)
    if not spread > 0:
        return y
    centre = ndimage.median_filter(y, size=width, mode="nearest")
    result: npt.NDArray[np.float64] = np.clip(y, centre - limit * spread, centre + limit * spread)
    return result


def _bernoulli(ones: Any, count: Any) -> Any:
    """The Bernoulli log-likelihood of ``ones`` in ``count`` values at its maximum (rate ones / count)."""
    return special.xlogy(ones, ones / count) + special.xlogy(count - ones, (count - ones) / count)


def _logsumexp(v: npt.NDArray[np.float64]) -> float:
    top = float(v.max())
    return top + math.log(float(np.exp(v - top).sum()))


def _inverse(m: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Inverses of a stack of 1x1 or 2x2 symmetric positive-definite matrices, in closed form."""
    if m.shape[1] == 1:
        result: npt.NDArray[np.float64] = 1.0 / m
        return result
    a, b, d = m[:, 0, 0], m[:, 0, 1], m[:, 1, 1]
    det = a * d - b * b
    out = np.empty_like(m)
    out[:, 0, 0] = d / det
    out[:, 1, 1] = a / det
    out[:, 0, 1] = out[:, 1, 0] = -b / det
    return out
