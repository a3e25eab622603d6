"""Each selector against a direct computation on the raw data: margins and widths with NumPy, novelty as a
tail probability (uniform on data from the reference itself, so Fisher's sum follows a gamma law),
stratified allocation by brute force, disagreement by comparing the columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats

import loopwise as lw
from loopwise.errors import DataError, ParameterError, UnknownNameError
from loopwise.review import Disagreement, Novelty, Random, Segment, Uncertainty, make, names, novelty_scores
from loopwise.review.selectors import top


def test_top_takes_the_highest_scores_and_shares_the_tie_at_the_cut() -> None:
    rng = np.random.default_rng(0)
    s = rng.integers(0, 20, 500).astype(float)  # many ties
    s[rng.random(500) < 0.1] = np.nan
    for budget in (0.5, 7, 33.3, 120, 449, 1000):
        p = top(s, budget)
        finite = ~np.isnan(s)
        assert p.sum() == pytest.approx(min(budget, finite.sum()))
        assert np.all(p[~finite] == 0)
        # Monotone in the score and equal within a score: a function of the score alone.
        order = np.argsort(-s[finite], kind="stable")
        assert np.all(np.diff(p[finite][order]) <= 1e-12)
        for value in np.unique(s[finite]):
            assert np.ptp(p[s == value]) == 0
        fractional = (p > 0) & (p < 1)
        assert len(np.unique(s[fractional])) <= 1


def test_uncertainty_is_the_margin_between_the_top_two_scores() -> None:
    rng = np.random.default_rng(1)
    scores = rng.dirichlet([1, 1, 1], size=300)
    table = pa.table({"a": scores[:, 0], "b": scores[:, 1], "c": scores[:, 2]})
    sel = Uncertainty(0.5, scores=["a", "b", "c"])
    srt = np.sort(scores, axis=1)
    assert sel.uncertainty(table) == pytest.approx(-(srt[:, 2] - srt[:, 1]))
    p = sel.probabilities(table, 30)
    assert set(np.flatnonzero(p == 1)) == set(np.argsort(srt[:, 2] - srt[:, 1])[:30])
    # A binary classifier's one score: the margin is |p - (1 - p)|.
    binary = Uncertainty(0.5, scores=["a"]).uncertainty(table)
    assert binary == pytest.approx(-np.abs(scores[:, 0] - (1 - scores[:, 0])))
    # A regression interval: the widest first; a missing bound makes a row ineligible.
    lo = rng.normal(size=300)
    hi = lo + rng.exponential(size=300)
    hi[0] = np.nan
    wide = Uncertainty(0.5, lower="lo", upper="hi").probabilities(pa.table({"lo": lo, "hi": hi}), 10)
    assert wide[0] == 0 and set(np.flatnonzero(wide == 1)) == set(np.argsort(-np.nan_to_num(hi - lo))[:10])


def test_uncertainty_refuses_unclear_columns() -> None:
    with pytest.raises(ParameterError, match="class-score columns, or else both lower= and upper="):
        Uncertainty(0.5)
    with pytest.raises(ParameterError, match="one of the two"):
        Uncertainty(0.5, scores=["p"], lower="lo", upper="hi")
    with pytest.raises(ParameterError, match="both lower= and upper="):
        Uncertainty(0.5, lower="lo")
    with pytest.raises(DataError, match=r"uncertainty needs column 'p_bd'.*did you mean 'p_bad'"):
        Uncertainty(0.5, scores=["p_bd"]).probabilities(pa.table({"p_bad": [0.5]}), 1)
    with pytest.raises(ParameterError, match="'share'"):
        Random(0)


def _reference(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "income": rng.lognormal(10, 0.5, n),
            "age": rng.integers(18, 90, n).astype(float),
            "job": rng.choice(["clerk", "nurse", "pilot", "chef"], n, p=[0.5, 0.3, 0.15, 0.05]),
            "owner": rng.random(n) < 0.3,
        }
    )


def test_novelty_of_rows_from_the_reference_itself_follows_fishers_law() -> None:
    """Tails of data drawn from the reference are (nearly) uniform, so the sum over k independent columns
    of -log(tail) is Gamma(k); for discrete columns the tail is a mid-free (conservative) p-value, so the
    check is on the continuous column alone, and on a stochastic-dominance bound for all four."""
    rng = np.random.default_rng(2)
    ref = lw.profile(_reference(rng, 50_000))
    fresh = _reference(rng, 5000)
    one = novelty_scores(pa.Table.from_pandas(fresh), ref, columns=["income"])
    assert stats.kstest(one, stats.gamma(1).cdf).statistic < 0.03
    four = novelty_scores(pa.Table.from_pandas(fresh), ref)
    # Discrete tails put mass on values at most as typical as the row's own, so they are larger than
    # uniform: the sum is at most Gamma(4) in distribution (its quantiles sit below Gamma(4)'s).
    qs = np.quantile(four, [0.5, 0.9, 0.99])
    assert np.all(qs <= stats.gamma(4).ppf([0.5, 0.9, 0.99]) * 1.02)


def test_novelty_ranks_out_of_range_unseen_and_sparse_values_first() -> None:
    rng = np.random.default_rng(3)
    ref_df = _reference(rng, 20_000)
    # A bimodal column: a gap at 0, between modes at -3 and 3.
    ref_df["x"] = np.concatenate([rng.normal(-3, 0.5, 10_000), rng.normal(3, 0.5, 10_000)])
    ref = lw.profile(ref_df)
    typical = {"income": np.exp(10.0), "age": 50.0, "job": "clerk", "owner": False, "x": 3.0}
    rows = pd.DataFrame(
        [
            typical,
            {**typical, "x": 0.0},  # in range, in the gap: sparse
            {**typical, "age": 150.0},  # out of range
            {**typical, "job": "astronaut"},  # unseen
            {**typical, "job": "astronaut", "age": 150.0},  # two novel columns
            {**typical, "job": "chef"},  # rare but seen
        ]
    )
    score = novelty_scores(pa.Table.from_pandas(rows), ref)
    assert score[0] < score[5] < score[3]
    assert score[0] < score[1]
    assert score[4] > max(score[2], score[3])
    # Out of range and unseen get the smallest tail a column can give: one part in n + 1.
    table = pa.Table.from_pandas(rows)
    assert novelty_scores(table, ref, columns=["age"])[2] == pytest.approx(np.log(20_001))
    assert novelty_scores(table, ref, columns=["job"])[3] == pytest.approx(np.log(20_001))
    # A seen category's tail is the reference's share of categories at most as common, by direct count.
    jobs = ref_df["job"].value_counts(normalize=True)
    tail = jobs[jobs <= jobs["chef"]].sum()
    assert novelty_scores(table, ref, columns=["job"])[5] == pytest.approx(
        -np.log((20_000 * tail + 1) / 20_001)
    )
    # The selector takes the most novel rows.
    p = Novelty(0.2, reference=ref).probabilities(pa.Table.from_pandas(rows), 2)
    assert set(np.flatnonzero(p == 1)) == {4, int(np.argmax(np.where(np.arange(6) == 4, -1, score)))}
    with pytest.raises(ParameterError, match="'columns'"):
        novelty_scores(pa.Table.from_pandas(rows), ref, columns=["height"])
    with pytest.raises(ParameterError, match="a loopwise Profile"):
        Novelty(0.2, reference=ref_df)  # type: ignore[arg-type]


def _brute_allocation(sizes: np.ndarray, budget: float, floor: float) -> np.ndarray:
    """The allocation by its definition, on a fine grid of the proportional factor."""
    floors = np.minimum(sizes, floor)
    if floors.sum() >= budget:
        grid = np.linspace(0, sizes.max(), 200_001)
        totals = np.minimum(sizes[None, :], grid[:, None]).sum(1)
        return np.minimum(sizes, grid[np.searchsorted(totals, budget)])
    grid = np.linspace(0, sizes.sum(), 400_001)
    alloc = np.minimum(
        sizes[None, :], np.maximum(floors[None, :], grid[:, None] * sizes[None, :] / sizes.sum())
    )
    return alloc[np.searchsorted(alloc.sum(1), budget)]


@pytest.mark.parametrize(("budget", "floor"), [(200, 20), (200, 0), (60, 20), (30, 20), (5000, 10)])
def test_segment_gives_each_segment_its_floor_and_the_rest_by_size(budget: float, floor: float) -> None:
    rng = np.random.default_rng(4)
    group = rng.choice(["a", "b", "c", "d"], 3000, p=[0.85, 0.1, 0.045, 0.005])
    group = group.astype(object)
    group[:7] = None  # a segment of its own
    table = pa.table({"group": group})
    sel = Segment(0.3, column="group", floor=floor)
    p = sel.probabilities(table, budget)
    keys = np.where(group == None, "(missing)", group).astype(str)  # noqa: E711
    values, sizes = np.unique(keys, return_counts=True)
    per_segment = np.array([p[keys == v].sum() for v in values])
    assert per_segment == pytest.approx(
        _brute_allocation(sizes.astype(float), min(budget, 3000), floor), abs=0.05
    )
    assert p.sum() == pytest.approx(min(budget, 3000))
    for v in values:
        assert np.ptp(p[keys == v]) == 0  # stratified: equal within a segment
    if floor * len(values) <= budget:
        assert np.all(per_segment >= np.minimum(sizes, floor) - 1e-9)


def test_disagreement_is_refused_without_both_versions_and_ranks_differences() -> None:
    with pytest.raises(ParameterError, match="disagreement needs both the champion's and a challenger's"):
        Disagreement(0.2)
    with pytest.raises(ParameterError, match="'challenger'"):
        Disagreement(0.2, champion="pred")
    table = pa.table(
        {
            "champ": ["a", "b", "a", None, "b"],
            "chall": ["a", "a", "b", "b", "b"],
            "s1": [0.1, 0.5, 0.9, 0.3, 0.2],
            "s2": [0.1, 0.45, 0.2, np.nan, 0.6],
        }
    )
    labels = Disagreement(0.2, champion="champ", challenger="chall").probabilities(table, 5)
    assert labels.tolist() == [0, 1, 1, 0, 0]
    scores = Disagreement(0.2, champion="s1", challenger="s2").probabilities(table, 2)
    d = np.abs(np.array([0.1, 0.5, 0.9, 0.3, 0.2]) - np.array([0.1, 0.45, 0.2, np.nan, 0.6]))
    assert set(np.flatnonzero(scores == 1)) == set(np.argsort(-np.nan_to_num(d))[:2])
    mixed = pa.table({"champ": [1, 2, 3], "chall": ["1", "3", "3"]})  # int vs text: compared canonically
    assert Disagreement(0.2, champion="champ", challenger="chall").probabilities(mixed, 3).tolist() == [
        0,
        1,
        0,
    ]


def test_selectors_by_name() -> None:
    assert names() == ["disagreement", "novelty", "random", "segment", "uncertainty"]
    assert make("random", 0.3) == Random(0.3)
    with pytest.raises(UnknownNameError, match="unknown selector 'uncertain'"):
        make("uncertain", 0.3)
