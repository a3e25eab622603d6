"""Bayesian online change-point detection (Adams & MacKay 2007, "Bayesian Online Changepoint Detection",
arXiv:0710.3742): the posterior over the current run length (values since the last change), for Gaussian
data with unknown mean and variance (a Normal-Gamma prior, so each run's predictive is a Student t) and a
constant hazard (the prior probability of a change at each value, ``1 / expected_run_length``).

After each value the run-length posterior is updated by the paper's recursion (growth and change-point
masses, evaluated in logarithms). ``change_point`` is where the posterior's mode says the current run began;
an alarm when that beginning moves past the last one reported and the new run has at least ``min_run``
values (a single outlier makes a new run probable for one value only). The posterior is kept after an alarm
(it already says what it believes); hypotheses with a probability below ``prune`` are dropped, and at most
``max_hypotheses`` kept (the most probable), which bounds the work per value.

With ``mu0`` and ``beta0`` left to None, the prior is set from the first ``warm_up`` values (their mean, and
their variance times ``alpha0``, so that the prior's expected variance is the sample's): the detector is then
the same for a stream measured in any unit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import gammaln, logsumexp

from loopwise.detectors.base import Detector, Sensitivity, in_open_unit, positive
from loopwise.errors import ParameterError


class BOCPD(Detector):
    """Bayesian online change-point detection with a Normal-Gamma prior (see the module docstring).

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = np.concatenate([rng.normal(0, 1, 300), rng.normal(2, 1, 300)])
    >>> bocpd = BOCPD()
    >>> bocpd.update_many(x, with_change_points=True)
    (array([329]), array([300]))
    """

    kind = "bocpd"
    sensitivity = Sensitivity("expected_run_length", 10.0, 1e12, "lower")

    def __init__(
        self,
        expected_run_length: float = 4000.0,
        mu0: float | None = None,
        kappa0: float = 0.01,
        alpha0: float = 1.0,
        beta0: float | None = None,
        warm_up: int = 20,
        min_run: int = 30,
        prune: float = 1e-8,
        max_hypotheses: int = 500,
    ) -> None:
        positive("expected_run_length", expected_run_length)
        if expected_run_length <= 1:
            raise ParameterError("expected_run_length", expected_run_length, "a number above 1")
        positive("kappa0", kappa0)
        positive("alpha0", alpha0)
        if mu0 is not None and not (isinstance(mu0, int | float) and math.isfinite(mu0)):
            raise ParameterError("mu0", mu0, "a finite number or None")
        if beta0 is not None:
            positive("beta0", beta0)
        positive("warm_up", warm_up, integer=True)
        if beta0 is None and warm_up < 2:
            raise ParameterError("warm_up", warm_up, "at least 2 when beta0 is estimated")
        positive("min_run", min_run, integer=True, zero=True)
        if prune != 0:
            in_open_unit("prune", prune)
        positive("max_hypotheses", max_hypotheses, integer=True)
        self.expected_run_length = float(expected_run_length)
        self.mu0 = None if mu0 is None else float(mu0)
        self.kappa0 = float(kappa0)
        self.alpha0 = float(alpha0)
        self.beta0 = None if beta0 is None else float(beta0)
        self.warm_up = int(warm_up)
        self.min_run = int(min_run)
        self.prune = float(prune)
        self.max_hypotheses = int(max_hypotheses)
        self._log_h = math.log(1.0 / self.expected_run_length)
        self._log_1mh = math.log1p(-1.0 / self.expected_run_length)
        super().__init__()

    def params(self) -> dict[str, Any]:
        """The constructor's arguments."""
        return {
            "expected_run_length": self.expected_run_length,
            "mu0": self.mu0,
            "kappa0": self.kappa0,
            "alpha0": self.alpha0,
            "beta0": self.beta0,
            "warm_up": self.warm_up,
            "min_run": self.min_run,
            "prune": self.prune,
            "max_hypotheses": self.max_hypotheses,
        }

    def run_length_posterior(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """The run lengths still considered, most recent change first, and their posterior probabilities."""
        return self._r.copy(), np.exp(self._log_r)

    def _restart(self) -> None:
        self._buffer: list[float] = []
        self._prior: tuple[float, float] | None = None  # (mu0, beta0) once known
        self._r = np.zeros(1, dtype=np.int64)
        self._log_r = np.zeros(1)
        self._mu = np.zeros(1)
        self._kappa = np.full(1, self.kappa0)
        self._alpha = np.full(1, self.alpha0)
        self._beta = np.ones(1)
        self._t = 0  # values the recursion has seen
        self._start = self._n  # where the run last reported began
        if self.mu0 is not None and self.beta0 is not None:
            self._prior = (self.mu0, self.beta0)
            self._begin()

    def _after_detection(self) -> None:
        """Keep the posterior: it already holds the new run."""

    def _begin(self) -> None:
        """The prior is known: start the recursion with every run-length hypothesis at the prior."""
        assert self._prior is not None
        mu0, beta0 = self._prior
        self._mu = np.full(1, mu0)
        self._beta = np.full(1, beta0)

    def _step(self, x: float) -> bool:
        if self._prior is not None:
            return self._advance(x, self._n)
        self._buffer.append(x)
        if len(self._buffer) < self.warm_up:
            return False
        values, self._buffer = np.asarray(self._buffer), []
        mu0 = float(values.mean()) if self.mu0 is None else self.mu0
        if self.beta0 is None:
            spread = max(float(values.var(ddof=1)), 1e-12 * max(1.0, mu0 * mu0))
            self._prior = (mu0, spread * self.alpha0)
        else:
            self._prior = (mu0, self.beta0)
        self._begin()
        # The warm-up values are data too: through the recursion, alarms held back to the last of them.
        first = self._n - len(values) + 1
        for i, v in enumerate(values[:-1].tolist()):
            self._advance(v, first + i, report=False)
        return self._advance(float(values[-1]), self._n)

    def _advance(self, x: float, index: int, *, report: bool = True) -> bool:
        """One step of the recursion for the value at ``index``; whether it raises an alarm."""
        nu = 2.0 * self._alpha
        scale2 = self._beta * (self._kappa + 1.0) / (self._alpha * self._kappa)
        z = (x - self._mu) ** 2 / (nu * scale2)
        log_pred = (
            gammaln((nu + 1.0) / 2.0)
            - gammaln(nu / 2.0)
            - 0.5 * np.log(nu * math.pi * scale2)
            - (nu + 1.0) / 2.0 * np.log1p(z)
        )
        joint = self._log_r + log_pred
        log_change = float(logsumexp(joint + self._log_h))
        log_r = np.concatenate(([log_change], joint + self._log_1mh))
        log_r -= logsumexp(log_r)
        assert self._prior is not None
        mu0, beta0 = self._prior
        kappa = self._kappa + 1.0
        mu = (self._kappa * self._mu + x) / kappa
        beta = self._beta + self._kappa * (x - self._mu) ** 2 / (2.0 * kappa)
        r = np.concatenate(([0], self._r + 1))
        mu = np.concatenate(([mu0], mu))
        kappa = np.concatenate(([self.kappa0], kappa))
        alpha = np.concatenate(([self.alpha0], self._alpha + 0.5))
        beta = np.concatenate(([beta0], beta))
        keep = self._keep(log_r)
        self._r, self._log_r = r[keep], log_r[keep]
        self._mu, self._kappa, self._alpha, self._beta = mu[keep], kappa[keep], alpha[keep], beta[keep]
        if not keep.all():
            self._log_r -= logsumexp(self._log_r)
        self._t += 1
        mode = int(self._r[int(np.argmax(self._log_r))])
        start = index - mode + 1
        if report and start > self._start and mode >= self.min_run:
            self._start = start
            self._change_point = start
            return True
        return False

    def _keep(self, log_r: npt.NDArray[np.float64]) -> npt.NDArray[Any]:
        keep = log_r >= math.log(self.prune) if self.prune > 0 else np.ones(log_r.size, dtype=bool)
        keep[int(np.argmax(log_r))] = True
        if int(keep.sum()) > self.max_hypotheses:
            order = np.argsort(-log_r, kind="stable")[: self.max_hypotheses]
            keep = np.zeros(log_r.size, dtype=bool)
            keep[order] = True
        return keep

    def _state(self) -> dict[str, Any]:
        return {
            "buffer": np.asarray(self._buffer, dtype=np.float64),
            "prior": None if self._prior is None else list(self._prior),
            "r": self._r,
            "log_r": self._log_r,
            "mu": self._mu,
            "kappa": self._kappa,
            "alpha": self._alpha,
            "beta": self._beta,
            "t": self._t,
            "start": self._start,
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        self._buffer = [float(v) for v in state["buffer"]]
        prior = state["prior"]
        self._prior = None if prior is None else (float(prior[0]), float(prior[1]))
        self._r = np.asarray(state["r"], dtype=np.int64)
        self._log_r = np.asarray(state["log_r"], dtype=np.float64)
        self._mu, self._kappa = state["mu"], state["kappa"]
        self._alpha, self._beta = state["alpha"], state["beta"]
        self._t, self._start = int(state["t"]), int(state["start"])
