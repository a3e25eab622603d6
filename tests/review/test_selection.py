"""A Policy's selection: the inclusion probabilities it records are the frequencies at which rows are in
fact drawn (Monte Carlo over many seeds), the budget is met in expectation, and the random slice is a
uniform sample; policies that cannot give unbiased estimates are refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import loopwise as lw
from loopwise.errors import DataError, EmptyDataError, ParameterError
from loopwise.review import Disagreement, Novelty, Policy, Random, Segment, Uncertainty
from loopwise.review.selection import rescale


def _events(seed: int, n: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "group": rng.choice(["a", "b", "c"], n, p=[0.9, 0.08, 0.02]),
            "p_bad": rng.random(n),
            "champion": rng.integers(0, 2, n),
            "challenger": rng.integers(0, 2, n),
        }
    )


def _policy(tasks: float = 150) -> Policy:
    ref = lw.profile(_events(99, 5000)[["x"]])
    return Policy(
        [
            Uncertainty(0.3, scores=["p_bad"]),
            Novelty(0.2, reference=ref, columns=["x"]),
            Segment(0.2, column="group", floor=15),
            Disagreement(0.1, champion="champion", challenger="challenger"),
            Random(0.2),
        ],
        tasks=tasks,
    )


def test_rescale_meets_the_target_as_a_bisection_does() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        t = rng.exponential(size=300) * rng.random(300) ** 3
        t[rng.random(300) < 0.2] = 0
        target = rng.uniform(1, (t > 0).sum())
        t *= target / t.sum() * rng.uniform(0.3, 1)  # short of the target, as overlapping selectors are
        pi, c = rescale(t, target)
        assert pi.sum() == pytest.approx(target)
        lo, hi = 1.0, 1e9  # the same constant by bisection
        for _ in range(200):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if np.minimum(1, mid * t).sum() < target else (lo, mid)
        assert c == pytest.approx(hi, rel=1e-9)
        assert pi == pytest.approx(np.minimum(1, hi * t), abs=1e-9)


def test_inclusion_probabilities_are_the_frequencies_rows_are_drawn_at() -> None:
    events = _events(1)
    policy = _policy()
    reps = 1000
    hits = np.zeros(len(events))
    by_selector: dict[str, np.ndarray] = {}
    recorded = None
    sizes = []
    for seed in range(reps):
        sel = policy.select(events, seed=seed)
        rows = sel.rows["window_row"].to_numpy()
        hits[rows] += 1
        sizes.append(len(sel))
        for name, group in sel.rows.groupby("selector"):
            by_selector.setdefault(str(name), np.zeros(len(events)))[group["window_row"].to_numpy()] += 1
        if recorded is None:
            recorded = sel.probabilities
            assert sel.rows["inclusion_probability"].to_numpy() == pytest.approx(recorded[rows])
    assert recorded is not None
    assert recorded.sum() == pytest.approx(150)  # the budget, in expectation
    assert np.mean(sizes) == pytest.approx(150, abs=4 * np.std(sizes) / np.sqrt(reps))
    # Each row's draw frequency against its recorded probability (binomial standard error).
    se = np.sqrt(recorded * (1 - recorded) / reps) + 1e-12
    z = (hits / reps - recorded) / se
    assert np.all(np.abs(z[recorded < 1]) < 5) and np.all(hits[recorded == 1] == reps)
    assert np.mean(z[(recorded > 0) & (recorded < 1)] ** 2) == pytest.approx(1, abs=0.15)
    # Expected tasks per selector are the sums of their parts, and the draws follow them.
    sel = policy.select(events, seed=0)
    assert sum(sel.expected.values()) == pytest.approx(150)
    for name, expected in sel.expected.items():
        assert by_selector[name].sum() / reps == pytest.approx(expected, rel=0.05)
    # The random slice is uniform over the window.
    random_rate = by_selector["random"] / reps
    q = sel.expected["random"] / len(events)
    assert abs(random_rate.mean() - q) < 3 * np.sqrt(q / len(events) / reps)
    # And it holds at least its share of the budget (the rescaling only adds to it).
    assert sel.expected["random"] >= 0.2 * 150 - 1e-9
    recorded_q = sel.rows.loc[sel.rows["selector"] == "random", "selector_probability"].to_numpy()
    assert recorded_q == pytest.approx(q)


def test_every_row_can_be_drawn_and_uncertain_rows_are_favoured() -> None:
    events = _events(2)
    sel = _policy().select(events, seed=3)
    assert np.all(sel.probabilities > 0)
    margin = np.abs(2 * events["p_bad"].to_numpy() - 1)
    assert np.all(sel.probabilities[np.argsort(margin)[:45]] == 1)  # the 30% uncertainty share, certain
    summary = sel.summary()
    assert summary["tasks"] == len(sel) and summary["budget"] == 150
    assert set(summary["by_selector"]) == {"uncertainty", "novelty", "segment", "disagreement", "random"}


def test_a_budget_as_a_share_of_traffic_and_any_frame_type() -> None:
    events = _events(4, n=1000)
    policy = Policy([Uncertainty(0.5, scores=["p_bad"]), Random(0.5)], share=0.05)
    a = policy.select(events, seed=1)
    assert a.budget == 50 and a.probabilities.sum() == pytest.approx(50)
    for frame in (pa.Table.from_pandas(events), pl.from_pandas(events)):
        b = policy.select(frame, seed=1)
        assert b.rows["window_row"].tolist() == a.rows["window_row"].tolist()
    # A budget larger than the window takes every row.
    everything = Policy([Random(1.0)], tasks=5000).select(events, seed=0)
    assert len(everything) == 1000 and np.all(everything.probabilities == 1)


def test_policies_that_cannot_give_unbiased_estimates_are_refused() -> None:
    with pytest.raises(
        ParameterError, match=r"a random selector with at least 10% of the budget \(it has 0%\)"
    ):
        Policy([Uncertainty(1.0, scores=["p"])], tasks=10)
    with pytest.raises(ParameterError, match=r"at least 10% of the budget \(it has 5%\)"):
        Policy([Uncertainty(0.95, scores=["p"]), Random(0.05)], tasks=10)
    allowed = Policy([Uncertainty(1.0, scores=["p"])], tasks=10, allow_no_random=True)
    sel = allowed.select(pd.DataFrame({"p": np.linspace(0, 1, 100)}), seed=0)
    assert sel.random == "" and "random" not in sel.expected
    assert (sel.probabilities == 0).sum() == 90  # what the random slice is for
    with pytest.raises(ParameterError, match="shares summing to 1"):
        Policy([Uncertainty(0.5, scores=["p"]), Random(0.2)], tasks=10)
    with pytest.raises(ParameterError, match="one of the two"):
        Policy([Random(1.0)])
    with pytest.raises(ParameterError, match="one of the two"):
        Policy([Random(1.0)], tasks=10, share=0.1)
    with pytest.raises(ParameterError, match="'share'"):
        Policy([Random(1.0)], share=1.5)
    with pytest.raises(ParameterError, match="'tasks'"):
        Policy([Random(1.0)], tasks=0)
    with pytest.raises(ParameterError, match="distinct names"):
        Policy([Random(0.5), Random(0.5)], tasks=10)
    with pytest.raises(ParameterError, match="at most one random"):
        Policy([Random(0.5), Random(0.5, name="audit")], tasks=10)
    with pytest.raises(ParameterError, match="at least one selector"):
        Policy([], tasks=10)


def test_bad_windows_are_named() -> None:
    policy = Policy([Random(1.0)], tasks=10)
    with pytest.raises(EmptyDataError, match="no events"):
        policy.select(pd.DataFrame({"x": []}))
    with pytest.raises(DataError, match="already have column 'selector'"):
        policy.select(pd.DataFrame({"selector": [1, 2]}))
    with pytest.raises(DataError, match="segment needs column 'grp'"):
        Policy([Segment(0.5, column="grp"), Random(0.5)], tasks=1).select(pd.DataFrame({"group": ["a"]}))
