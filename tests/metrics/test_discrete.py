"""Discrete numeric columns through stored profiles, and the KS bound of two histograms, against scipy on
the raw rows (decision 0011)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import loopwise as lw
from loopwise.metrics import compare_data
from loopwise.metrics.drift.stats import KS_EXACT_MAX_N

SCHEMA = lw.Schema.from_yaml("columns:\n  x: {kind: numeric}\n")


def _integers(k: int, n: int, seed: int, drift: bool) -> tuple[np.ndarray, np.ndarray]:
    """A reference and a current of integer codes 0..k-1; with ``drift``, 8% of the current's rows move
    to the top value."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(k, 2.0))
    ref = rng.choice(k, n, p=p)
    cur = rng.choice(k, int(n * 0.6), p=p)
    if drift:
        cur[rng.random(cur.size) < 0.08] = k - 1
    return ref.astype(np.int64), cur.astype(np.int64)


@pytest.mark.parametrize("size", [3_000, 24_000])  # the current has 0.6 of it: exact p-value, then asymptotic
@pytest.mark.parametrize("drift", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("k", [2, 5, 17, 50])
def test_profiles_of_integer_columns_give_scipys_test_on_the_raw_rows(
    k: int, seed: int, drift: bool, size: int
) -> None:
    ref, cur = _integers(k, size, seed, drift)
    ref_df, cur_df = pd.DataFrame({"x": ref}), pd.DataFrame({"x": cur})
    raw = compare_data(ref_df, cur_df, SCHEMA)["x"]
    scipy = stats.ks_2samp(ref, cur, method="exact" if size <= KS_EXACT_MAX_N else "asymp")
    rp = lw.profile(ref_df, schema=SCHEMA)
    currents = {
        "anchored": lw.profile(cur_df, reference=rp),
        "own edges": lw.profile(cur_df, schema=SCHEMA),
        "merged parts": lw.merge(
            [lw.profile(cur_df.iloc[i : i + 500], schema=SCHEMA) for i in range(0, len(cur_df), 500)]
        ),
    }
    for how, cp in currents.items():
        got = compare_data(rp, cp)["x"]
        d = got.drift
        assert d is not None and raw.drift is not None, how
        assert d.exact, how
        assert d.statistic == pytest.approx(scipy.statistic, abs=1e-12), how
        assert (d.statistic, d.p_value, d.drift_detected) == (
            raw.drift.statistic,
            raw.drift.p_value,
            raw.drift.drift_detected,
        ), how
        assert d.p_value is not None
        if size <= KS_EXACT_MAX_N:
            assert d.p_value == scipy.pvalue, how
        else:  # scipy's asymptotic law vs Kolmogorov's limit with Stephens' term: close, same verdict
            assert d.p_value == pytest.approx(scipy.pvalue, rel=0.05, abs=1e-12), how
        assert d.drift_detected == (scipy.pvalue < 0.05), how
        # Every other method equals the raw path's too (Wasserstein up to the order of summation).
        for m in ("psi", "jensenshannon", "hellinger", "kl"):
            assert got.metrics[m] == raw.metrics[m], (how, m)
        assert got.metrics["wasserstein"] == pytest.approx(raw.metrics["wasserstein"], rel=1e-12), how
        assert got.metrics["wasserstein"] == pytest.approx(
            stats.wasserstein_distance(ref, cur) / np.std(ref, ddof=1), rel=1e-9
        )
    if drift:
        assert raw.drift.drift_detected


def test_a_raw_side_against_a_profile_is_compared_exactly_too() -> None:
    ref, cur = _integers(7, 5000, 3, True)
    rp = lw.profile(pd.DataFrame({"x": ref}), schema=SCHEMA)
    d = compare_data(rp, pd.DataFrame({"x": cur}), SCHEMA)["x"].drift
    assert d is not None and d.exact
    assert (d.statistic, d.p_value) == tuple(stats.ks_2samp(ref, cur, method="exact"))[:2]


def _continuous(kind: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    m = int(n * 0.7)
    if kind == "normal":
        return rng.normal(size=n), rng.normal(0.02 * seed, 1, m)
    if kind == "lognormal":
        return rng.lognormal(size=n), rng.lognormal(0.03, 1.0 + 0.01 * seed, m)
    # mixed: 40% zeros and a continuous part, the current with slightly more zeros
    ref = np.where(rng.random(n) < 0.4, 0.0, rng.exponential(size=n))
    cur = np.where(rng.random(m) < 0.4 + 0.01 * seed, 0.0, rng.exponential(size=m))
    return ref, cur


@pytest.mark.parametrize("anchored", [True, False])  # on the reference's edges, or on its own
@pytest.mark.parametrize("n", [8_000, 60_000])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("kind", ["normal", "lognormal", "mixed"])
def test_the_binned_ks_is_a_lower_bound_and_never_flags_what_the_raw_test_does_not(
    kind: str, seed: int, n: int, anchored: bool
) -> None:
    ref, cur = _continuous(kind, n, seed)
    scipy = stats.ks_2samp(ref, cur, method="exact" if n <= KS_EXACT_MAX_N else "asymp")
    raw = compare_data(pd.DataFrame({"x": ref}), pd.DataFrame({"x": cur}), SCHEMA)["x"].drift
    rp = lw.profile(pd.DataFrame({"x": ref}), schema=SCHEMA)
    cp = lw.profile(pd.DataFrame({"x": cur}), reference=rp if anchored else None, schema=SCHEMA)
    d = compare_data(rp, cp)["x"].drift
    assert d is not None and raw is not None
    assert not d.exact and d.error_bound is not None and d.p_value is not None
    assert d.statistic <= scipy.statistic <= d.statistic + d.error_bound
    assert d.p_value >= raw.p_value  # type: ignore[operator]
    assert d.drift_detected <= raw.drift_detected
    # The slack comes from the bins' own masses (about 0.1% each), not from one value's share of the data.
    assert d.error_bound < 0.005
    if kind == "mixed":  # the zeros (40% of the mass) sit in a bin of their own
        assert d.error_bound < 0.4 / 50


def test_the_wasserstein_bound_of_two_histograms_contains_the_raw_distance() -> None:
    for kind in ("normal", "lognormal", "mixed"):
        ref, cur = _continuous(kind, 30_000, 5)
        rp = lw.profile(pd.DataFrame({"x": ref}), schema=SCHEMA)
        cp = lw.profile(pd.DataFrame({"x": cur}), reference=rp)
        d = compare_data(rp, cp, method="wasserstein")["x"].drift
        assert d is not None and d.error_bound is not None
        truth = stats.wasserstein_distance(ref, cur) / np.std(ref, ddof=1)
        assert abs(d.statistic - truth) <= d.error_bound
        # The widest bins are the tails' (a lognormal's top 0.1% spans most of its range): a loose bound.
        assert d.error_bound < 0.05


def test_profiles_of_integer_columns_draw_one_bar_per_value() -> None:
    ref, cur = _integers(12, 4000, 6, True)
    rp = lw.profile(pd.DataFrame({"x": ref}), schema=SCHEMA)
    shown = compare_data(rp, lw.profile(pd.DataFrame({"x": cur}), schema=SCHEMA))["x"].display
    edges = np.asarray(shown["edges"])
    assert np.array_equal(edges, np.arange(edges[0], edges[-1] + 0.5, 1.0))  # half-integers: a bar a value
    values = (edges[:-1] + 0.5).astype(np.int64)
    for side, x in (("reference", ref), ("current", cur)):
        expected = np.array([np.mean(x == v) for v in values])
        assert np.allclose(shown[side], expected, rtol=0, atol=1e-12)


def test_the_example_in_the_docs_runs_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    text = (Path(__file__).parents[2] / "docs" / "drift-methods.md").read_text()
    section = text[text.index("## Discrete numeric columns") :]
    start = section.index("```python\n") + len("```python\n")
    code = section[start : section.index("```\n", start)]
    exec(compile(code, "drift-methods.md", "exec"), {})  # its own asserts: equal to the raw path
    assert capsys.readouterr().out.startswith("KS 0.0")
