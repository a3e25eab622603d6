"""Calibrated thresholds: chunk data and statistics against NumPy/scipy on the raw rows, the stated
false-alarm rate by simulation, and the behaviour on a reference that is not i.i.d."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon
from tests._fixtures import mixed_frame

import loopwise as lw
from loopwise.metrics import registry
from loopwise.metrics.drift import calibration as cal
from loopwise.metrics.drift.pairs import CategoricalPair, NumericPair
from loopwise.metrics.thresholds import calibrate
from loopwise.profiles import NumericProfile

SIZE = 1000


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return mixed_frame(12_345, 7)  # 12 full chunks of 1,000 rows and a remainder of 345


@pytest.fixture(scope="module")
def chunked(frame: pd.DataFrame) -> lw.Profile:
    return lw.profile(frame, chunk_size=SIZE)


def _bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.searchsorted(edges, values, side="right")


@pytest.mark.parametrize("col", ["normal", "lognormal", "ints", "with_nan"])
def test_numeric_chunk_counts_and_moments_equal_numpy_on_the_raw_chunk(
    col: str, frame: pd.DataFrame, chunked: lw.Profile
) -> None:
    cc = chunked.chunks.columns[col]  # type: ignore[union-attr]
    edges = chunked[col].hist.edges  # type: ignore[union-attr]
    assert cc.n_chunks == 12
    for i in range(cc.n_chunks + 1):
        raw = frame[col].to_numpy(dtype=float)[i * SIZE : (i + 1) * SIZE]
        raw = raw[np.isfinite(raw)]
        expected = np.bincount(_bin_index(raw, edges), minlength=edges.size + 1)
        np.testing.assert_array_equal(cc.counts[i], expected)
        count, mean, m2, lo, hi = cc.moments[i]  # type: ignore[index]
        assert count == raw.size
        assert mean == pytest.approx(raw.mean(), rel=1e-12)
        assert m2 == pytest.approx(((raw - raw.mean()) ** 2).sum(), rel=1e-9)
        assert (lo, hi) == (raw.min(), raw.max())
    np.testing.assert_array_equal(cc.whole, chunked[col].hist.counts)  # type: ignore[union-attr]


@pytest.mark.parametrize("col", ["cat", "flag"])
def test_categorical_chunk_counts_equal_pandas_value_counts(
    col: str, frame: pd.DataFrame, chunked: lw.Profile
) -> None:
    cc = chunked.chunks.columns[col]  # type: ignore[union-attr]
    assert cc.keys is not None
    for i in range(cc.n_chunks + 1):
        part = frame[col].iloc[i * SIZE : (i + 1) * SIZE]
        vc = part.astype(str).str.lower().value_counts()
        assert dict(zip(cc.keys, cc.counts[i].tolist(), strict=True)) == {
            k: int(vc.get(k, 0)) for k in cc.keys
        }


def test_chunks_beyond_the_category_cap_pool_the_rest_exactly() -> None:
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"c": rng.integers(0, 40, 3000).astype(str)})
    p = lw.profile(df, chunk_size=500, options=lw.ProfileOptions(category_cap=10))
    cc = p.chunks.columns["c"]  # type: ignore[union-attr]
    assert cc.keys is not None and len(cc.keys) <= 11 and cc.keys[-1] == "(other)"
    kept = set(cc.keys[:-1])
    for i in range(cc.n_chunks):
        part = df["c"].iloc[i * 500 : (i + 1) * 500]
        assert cc.counts[i][-1] == (~part.isin(kept)).sum()
        assert cc.counts[i].sum() == 500


def test_ks_chunk_statistics_equal_scipy_on_the_binned_raw_chunk_against_the_raw_rest(
    frame: pd.DataFrame, chunked: lw.Profile
) -> None:
    edges = chunked["normal"].hist.edges  # type: ignore[union-attr]
    got = cal.chunk_statistics(chunked.chunks, "normal", chunked["normal"], "ks", 10)  # type: ignore[arg-type]
    idx = _bin_index(frame["normal"].to_numpy(), edges)
    for i in range(12):
        inside = np.zeros(idx.size, dtype=bool)
        inside[i * SIZE : (i + 1) * SIZE] = True
        # KS on bin indices is the largest CDF gap at the edges, the statistic a binned pair computes.
        assert got[i] == pytest.approx(stats.ks_2samp(idx[inside], idx[~inside]).statistic, abs=1e-12)


@pytest.mark.parametrize("col", ["cat", "flag"])
def test_jensen_shannon_chunk_statistics_equal_scipy_on_the_category_counts(
    col: str, frame: pd.DataFrame, chunked: lw.Profile
) -> None:
    got = cal.chunk_statistics(chunked.chunks, col, chunked[col], "jensenshannon", 10)  # type: ignore[arg-type]
    keys = frame[col].astype(str).str.lower()
    for i in range(12):
        chunk = keys.iloc[i * SIZE : (i + 1) * SIZE].value_counts()
        rest = keys.drop(keys.index[i * SIZE : (i + 1) * SIZE]).value_counts()
        cats = sorted(set(rest.index) | set(chunk.index))
        r = np.array([rest.get(k, 0) for k in cats], dtype=float)
        c = np.array([chunk.get(k, 0) for k in cats], dtype=float)
        assert got[i] == pytest.approx(jensenshannon(r, c), abs=1e-12)


@pytest.mark.parametrize("method", ["jensenshannon", "hellinger", "psi", "kl", "chisquare"])
def test_vectorised_categorical_statistics_equal_the_registered_method_chunk_by_chunk(
    method: str, chunked: lw.Profile
) -> None:
    cc = chunked.chunks.columns["cat"]  # type: ignore[union-attr]
    got = cal.chunk_statistics(chunked.chunks, "cat", chunked["cat"], method, 10)  # type: ignore[arg-type]
    fn = registry.get(method).categorical
    assert fn is not None
    rest = cc.rest_counts()
    for i in range(cc.n_chunks):
        pair = CategoricalPair(
            list(cc.keys or []), rest[i].astype(float), cc.counts[i].astype(float), True, 0.0
        )
        assert got[i] == pytest.approx(fn(pair)[0], rel=1e-12)


def test_wasserstein_chunk_statistics_equal_the_pair_of_the_raw_chunk_and_rest(
    frame: pd.DataFrame, chunked: lw.Profile
) -> None:
    got = cal.chunk_statistics(chunked.chunks, "lognormal", chunked["lognormal"], "wasserstein", 10)  # type: ignore[arg-type]
    x = frame["lognormal"].to_numpy()
    edges = chunked["lognormal"].hist.edges  # type: ignore[union-attr]
    fn = registry.get("wasserstein").numeric
    assert fn is not None
    for i in (0, 5, 11):
        inside = np.zeros(x.size, dtype=bool)
        inside[i * SIZE : (i + 1) * SIZE] = True
        # Profiles of the raw rows on the same edges: counts and moments computed from the rows themselves.
        rp, cp = NumericProfile.empty(edges), NumericProfile.empty(edges)
        rp.update(x[~inside])
        cp.update(x[inside])
        assert got[i] == pytest.approx(fn(NumericPair("binned", ref_profile=rp, cur_profile=cp))[0], rel=1e-9)


def test_a_slow_trend_alerts_on_none_of_its_own_chunks_with_calibrated_thresholds() -> None:
    rng = np.random.default_rng(11)
    n = 20_000
    trend = np.linspace(0.0, 1.0, n)
    df = pd.DataFrame(
        {
            "x": rng.normal(trend, 1.0),
            "c": np.where(rng.random(n) < 0.3 + 0.2 * trend, "a", np.where(rng.random(n) < 0.5, "b", "c")),
        }
    )
    ref = lw.profile(df, chunk_size=1000)
    parts = [df.iloc[i : i + 1000] for i in range(0, n, 1000)]
    calibrated = [lw.compare(ref, p, thresholds="calibrated").drifted_columns for p in parts]
    plain = [lw.compare(df, p, thresholds="plain").drifted_columns for p in parts]
    assert sum(map(len, calibrated)) == 0
    assert sum(map(len, plain)) >= 16  # the ends of the trend differ from the whole in both columns
    shifted = df.iloc[:1000].assign(x=lambda d: d["x"] + 1.5, c="c")
    assert set(lw.compare(ref, shifted).drifted_columns) == {"x", "c"}


def _false_alarm_share(seeds: int, k: int, m: int, rate: float) -> tuple[float, str]:
    alarms, rules = [], set()
    for seed in range(seeds):
        rng = np.random.default_rng(1000 + seed)
        ref = pd.DataFrame(
            {"x": rng.normal(size=k * m), "c": rng.choice(["a", "b", "c"], k * m, p=[0.5, 0.3, 0.2])}
        )
        cur = pd.DataFrame({"x": rng.normal(size=m), "c": rng.choice(["a", "b", "c"], m, p=[0.5, 0.3, 0.2])})
        report = lw.compare(
            lw.profile(ref, chunk_size=m), cur, thresholds="calibrated", false_alarm_rate=rate
        )
        for col in report.comparison.compared:
            assert col.drift is not None and col.drift.calibration is not None
            alarms.append(col.drift.drift_detected)
            rules.add(col.drift.calibration["rule"].split(":")[0])
    assert len(rules) == 1
    return float(np.mean(alarms)), rules.pop()


@pytest.mark.parametrize(("k", "rule"), [(40, "conformal"), (10, "cube-root normal")])
def test_the_stated_false_alarm_rate_holds_on_iid_chunks(k: int, rule: str) -> None:
    seeds, rate = 200, 0.05
    share, used = _false_alarm_share(seeds, k, 200, rate)
    assert used == rule
    trials = 2 * seeds  # one fresh chunk per seed, two columns
    lo, hi = stats.binom.ppf([0.0005, 0.9995], trials, rate) / trials
    # The columns of one seed share nothing but the seed; the band is the binomial one around the rate.
    assert lo <= share <= hi, (share, lo, hi)


def test_calibrate_rank_rule_matches_the_order_statistic() -> None:
    s = np.random.default_rng(0).exponential(size=199)
    t = calibrate(s, false_alarm_rate=0.05)
    assert t.value == np.sort(s)[int(np.ceil(200 * 0.95)) - 1]


def test_a_bound_above_the_maximum_falls_back_to_the_largest_chunk_at_rate_1_over_k_plus_1() -> None:
    # Statistics spread so widely that the normal bound of 11 passes 1: a new exchangeable draw exceeds
    # the largest of K draws with probability exactly 1 / (K + 1), checked by simulation.
    rng = np.random.default_rng(7)
    k, trials = 11, 4000
    draws = rng.beta(2, 1.2, size=(trials, k + 1))
    hits, fallback = 0, 0
    for row in draws:
        t = calibrate(row[:k], false_alarm_rate=0.05, upper=1.0)
        assert t.value < 1.0
        if t.rule.startswith("the largest"):
            fallback += 1
            assert t.value == row[:k].max()
        hits += bool(row[k] > t.value)
    assert fallback > trials // 2
    hi = stats.binom.ppf(0.9995, trials, 1 / (k + 1)) / trials
    assert hits / trials <= hi


def test_a_column_whose_reference_chunks_are_far_apart_still_alerts_on_a_disjoint_current() -> None:
    # An ordered reference (as California housing's latitude): each chunk of 500 covers its own range.
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"lat": np.sort(rng.uniform(32, 42, 5500)) + rng.normal(0, 0.5, 5500)})
    ref = lw.profile(reference, chunk_size=500)
    outside = pd.DataFrame({"lat": rng.uniform(50, 60, 500)})  # no value in common with the reference
    col = lw.compare(ref, outside).comparison.compared[0].drift
    assert col is not None and col.calibration is not None
    assert stats.ks_2samp(reference["lat"], outside["lat"]).statistic == 1.0
    assert col.calibration["rule"].startswith("the largest of 11"), col.calibration["rule"]
    assert col.drift_detected and col.threshold < 1.0
    small = lw.compare(ref, outside.iloc[:20]).comparison.compared[0].drift
    assert small is not None and small.threshold >= 1.0 and not small.drift_detected
    warning = lw.compare(ref, outside.iloc[:20]).comparison.compared[0].warning
    assert warning is not None and "cannot alert" in warning


def test_compare_reports_the_calibrated_threshold_beside_the_plain_test(
    frame: pd.DataFrame, chunked: lw.Profile
) -> None:
    cur = mixed_frame(1000, 99)
    auto = lw.compare(chunked, cur).to_dict()
    assert auto["dataset"]["thresholds"] == "calibrated" and auto["dataset"]["correction"] == "none"
    cols = {c["name"]: c for c in auto["columns"]}
    assert cols["normal"]["method"] == "ks" and cols["normal"]["test"] == "ks"
    assert cols["cat"]["method"] == "jensenshannon" and cols["cat"]["test"] == "chisquare"
    assert cols["flag"]["test"] == "z"
    for c in cols.values():
        assert c["threshold_kind"] == "calibrated"
        assert c["calibration"]["n_chunks"] == 12 and c["calibration"]["chunk_size"] == SIZE
        assert c["drift_detected"] == (c["statistic"] > c["threshold"])
    # The p-value beside it is the plain test's, as the plain mode computes it.
    plain = {c["name"]: c for c in lw.compare(chunked, cur, thresholds="plain").to_dict()["columns"]}
    assert cols["normal"]["p_value"] == plain["normal"]["p_value"]
    assert cols["cat"]["p_value"] == plain["cat"]["p_value"]
    assert plain["normal"]["threshold_kind"] == "alpha"
    assert lw.compare(frame, cur).to_dict()["dataset"]["thresholds"] == "plain"


def test_a_small_current_gets_a_larger_threshold_and_a_warning(chunked: lw.Profile) -> None:
    small = lw.compare(chunked, mixed_frame(200, 5)).comparison
    full = lw.compare(chunked, mixed_frame(1000, 5)).comparison
    assert small["normal"].drift.threshold > full["normal"].drift.threshold  # type: ignore[union-attr]
    assert small["normal"].drift.calibration["scaled_by"] > 2  # type: ignore[union-attr,index]
    assert any("raised for its extra sampling noise" in w for w in small.warnings)
    assert not any("calibration chunks" in w for w in full.warnings)


def test_calibrated_thresholds_need_a_chunked_reference_profile(frame: pd.DataFrame) -> None:
    with pytest.raises(lw.DataError, match="needs a reference profiled with chunk_size"):
        lw.compare(frame, frame.iloc[:100], thresholds="calibrated")
    with pytest.raises(lw.ParameterError, match="thresholds"):
        lw.compare(frame, frame.iloc[:100], thresholds="strict")
    with pytest.raises(lw.ParameterError, match="false_alarm_rate"):
        lw.compare(frame, frame.iloc[:100], false_alarm_rate=1.5)


def test_the_ks_of_all_chunks_at_once_equals_the_binned_pair_chunk_by_chunk(chunked: lw.Profile) -> None:
    cc = chunked.chunks.columns["lognormal"]  # type: ignore[union-attr]
    edges = chunked["lognormal"].hist.edges  # type: ignore[union-attr]
    got = cal.chunk_statistics(chunked.chunks, "lognormal", chunked["lognormal"], "ks", 10)  # type: ignore[arg-type]
    fn = registry.get("ks").numeric
    assert fn is not None
    rest = cc.rest_counts()
    for i in range(cc.n_chunks):
        rp, cp = NumericProfile.empty(edges), NumericProfile.empty(edges)
        rp.hist, cp.hist = rp.hist.__class__(edges, rest[i]), cp.hist.__class__(edges, cc.chunk_counts[i])  # type: ignore[union-attr]
        rp.moments = lw.profiles.Moments(int(rest[i].sum()))
        cp.moments = lw.profiles.Moments(int(cc.chunk_counts[i].sum()))
        assert got[i] == pytest.approx(
            fn(NumericPair("binned", ref_profile=rp, cur_profile=cp))[0], abs=1e-12
        )


def test_the_example_of_the_docs_runs_as_written() -> None:
    text = (Path(__file__).parents[2] / "docs" / "drift-methods.md").read_text()
    section = text[text.index("## Calibrated thresholds") : text.index("## Exact, binned and sketched")]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    exec(compile(code, "docs/drift-methods.md", "exec"), {})


@pytest.mark.parametrize("method", ["ks", "jensenshannon", "hellinger", "psi", "kl"])
def test_no_change_quantiles_match_a_simulation(method: str) -> None:
    rng = np.random.default_rng(8)
    n1, n2, k = 3000, 1000, 6
    p = np.array([0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
    if method == "ks":
        sims = [stats.ks_2samp(rng.normal(size=n1), rng.normal(size=n2)).statistic for _ in range(3000)]
    else:
        fn = getattr(
            cal,
            {"jensenshannon": "jensen_shannon_rows", "hellinger": "hellinger_rows"}.get(
                method, f"{method}_rows"
            ),
        )
        ref, cur = rng.multinomial(n1, p, size=3000), rng.multinomial(n2, p, size=3000)
        sims = fn(ref.astype(float), cur.astype(float))
    q = cal.null_quantile(method, cal.effective_size(n1, n2), 0.05, k)
    assert q == pytest.approx(np.quantile(sims, 0.95), rel=0.08)
