"""bench/detectors_rules.py: the evidence it records is the log marginal likelihood of the run model (checked
against the Normal-Inverse-Gamma regression's closed form when no change is a priori possible), and its
consensus rule, applied to the members' stored detections, gives the change points of ``Consensus`` itself
(decision 0055's figures rest on both)."""

from __future__ import annotations

import itertools
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import lfilter
from scipy.special import gammaln
from tests._fixtures import piecewise

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

from detectors_rules import MEMBERS, EvidenceBOCPD, confirmed, merged
from loopwise.detectors import Consensus


def closed_form(y: np.ndarray, design: np.ndarray, precisions: list[float], alpha0: float) -> float:
    """log p(y) of a Bayesian linear regression with a N(0, sigma^2 diag(precisions)^-1) prior on its
    coefficients and an Inverse-Gamma(alpha0, alpha0) prior on sigma^2 (BOCPD's run model)."""
    prior = np.diag(precisions)
    post = prior + design.T @ design
    mean = np.linalg.solve(post, design.T @ y)
    a_n = alpha0 + y.size / 2
    b_n = alpha0 + 0.5 * (y @ y - mean @ post @ mean)
    return float(
        -y.size / 2 * math.log(2 * math.pi)
        + 0.5 * (np.linalg.slogdet(prior)[1] - np.linalg.slogdet(post)[1])
        + alpha0 * math.log(alpha0)
        - a_n * math.log(b_n)
        + gammaln(a_n)
        - gammaln(alpha0)
    )


@pytest.mark.parametrize("model", ["ar1", "trend"])
def test_evidence_is_the_run_models_marginal_likelihood(model: str) -> None:
    rng = np.random.default_rng(4)
    x = 3.0 + lfilter([1.0], [1.0, -0.6], rng.normal(0, 2, 400)) + np.linspace(0, 5, 400)
    d = EvidenceBOCPD(model=model, expected_run_length=1e12)
    d.update_many(x)
    assert d._units is not None
    loc, scale = d._units
    y = (x - loc) / scale
    if model == "ar1":
        design = np.column_stack((np.ones(y.size), np.r_[0.0, y[:-1]]))
        precisions = [d.kappa0, d.ar_precision]
    else:
        design = np.column_stack((np.ones(y.size), np.arange(y.size) / 100.0))
        precisions = [d.kappa0, d.trend_precision]
    assert len(d.evidence) == x.size
    assert sum(d.evidence) == pytest.approx(closed_form(y, design, precisions, d.alpha0), rel=1e-7)


def test_the_rule_on_stored_detections_is_consensus() -> None:
    rng = np.random.default_rng(9)
    streams = [
        piecewise(5, [0, 1.5, -1, 1, 3], length=500),
        piecewise(6, [0, 0, 0, 2], sds=[1, 3, 1, 1], length=600),
        lfilter([1.0], [1.0, -0.5], rng.normal(0, 1, 3000)) + np.repeat([0.0, 2.0, -1.0], 1000),
        np.r_[np.linspace(0, 30, 800), np.linspace(30, 10, 700)] + rng.normal(0, 1.5, 1500),
    ]
    some = 0
    for x in streams:
        ev = {}
        for key, make in MEMBERS.items():
            alarms, points = make().update_many(x, with_change_points=True)
            ev[key] = (alarms.tolist(), points.tolist())
        _, points = Consensus(proposers="bocpd").update_many(x, with_change_points=True)
        assert confirmed(ev, "A", "BCD") == sorted(set(points.tolist()))
        some += len(points)
    assert some >= 5


def test_merged_drops_points_within_the_window_of_an_earlier_one() -> None:
    out = merged([100, 300], [105, 311], [95])
    assert out == [95, 300, 311]
    assert all(b - a > 10 for a, b in itertools.pairwise(out))
