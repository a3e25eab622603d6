"""Each drift method against an independent computation on the raw data (scipy, NumPy)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

import loopwise as lw
from loopwise.metrics import compare_data
from loopwise.metrics.drift.stats import EPS

NUMERIC = ["normal", "lognormal", "ints", "with_nan"]


def _finite(s: pd.Series) -> np.ndarray:
    x = s.to_numpy(dtype=float)
    return x[np.isfinite(x)]


def _numpy_bins(ref: np.ndarray, cur: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    cuts = np.unique(np.quantile(ref, np.arange(1, bins) / bins, method="lower"))
    r = np.bincount(np.digitize(ref, cuts), minlength=cuts.size + 1)
    c = np.bincount(np.digitize(cur, cuts), minlength=cuts.size + 1)
    return r / r.sum(), c / c.sum()


@pytest.fixture(scope="module")
def exact(ref_df: pd.DataFrame, cur_df: pd.DataFrame) -> lw.metrics.Comparison:
    return compare_data(ref_df, cur_df)


@pytest.mark.parametrize("col", NUMERIC)
def test_ks_and_wasserstein_match_scipy_exactly(
    col: str, exact: lw.metrics.Comparison, ref_df: pd.DataFrame, cur_df: pd.DataFrame
) -> None:
    r, c = _finite(ref_df[col]), _finite(cur_df[col])
    m = exact[col].metrics
    assert m["ks"] == pytest.approx(stats.ks_2samp(r, c).statistic, abs=1e-12)
    assert m["wasserstein"] == pytest.approx(stats.wasserstein_distance(r, c) / np.std(r, ddof=1), rel=1e-9)
    scipy_p = stats.ks_2samp(r, c).pvalue
    # scipy's asymptotic p vs Kolmogorov's limit law with Stephens' correction: same verdict, close values.
    assert (m["ks_p_value"] < 0.05) == (scipy_p < 0.05)
    assert m["ks_p_value"] == pytest.approx(scipy_p, rel=0.05, abs=1e-12)


@pytest.mark.parametrize("col", NUMERIC)
def test_binned_distances_match_numpy_on_raw_data(
    col: str, exact: lw.metrics.Comparison, ref_df: pd.DataFrame, cur_df: pd.DataFrame
) -> None:
    p, q = _numpy_bins(_finite(ref_df[col]), _finite(cur_df[col]))
    pe, qe = np.maximum(p, EPS), np.maximum(q, EPS)
    m = exact[col].metrics
    assert m["psi"] == pytest.approx(np.sum((qe - pe) * np.log(qe / pe)), rel=1e-9, abs=1e-12)
    assert m["jensenshannon"] == pytest.approx(jensenshannon(p, q), rel=1e-9, abs=1e-12)
    assert m["hellinger"] == pytest.approx(np.sqrt(0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2)), rel=1e-9)
    assert m["kl"] == pytest.approx(stats.entropy(pe, qe), rel=1e-9, abs=1e-12)


def test_small_samples_use_scipys_exact_ks_p_value() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=60), rng.normal(0.6, 1, size=80)
    c = compare_data(pd.DataFrame({"x": a}), pd.DataFrame({"x": b}))
    assert c["x"].drift is not None
    assert c["x"].drift.p_value == pytest.approx(stats.ks_2samp(a, b, method="exact").pvalue, rel=1e-12)


def test_chi_square_and_z_match_scipy(
    exact: lw.metrics.Comparison, ref_df: pd.DataFrame, cur_df: pd.DataFrame
) -> None:
    table = pd.concat([ref_df["cat"].value_counts(), cur_df["cat"].value_counts()], axis=1).fillna(0).T
    chi2, p, _dof, _ = stats.chi2_contingency(table.to_numpy(), correction=False)
    d = exact["cat"].drift
    assert d is not None
    assert d.method == "chisquare"
    assert d.statistic == pytest.approx(chi2, rel=1e-9)
    assert d.p_value == pytest.approx(p, rel=1e-9, abs=1e-300)
    flag = exact["flag"].drift
    assert flag is not None
    assert flag.method == "z"
    t2 = np.array(
        [
            [ref_df["flag"].sum(), (~ref_df["flag"]).sum()],
            [cur_df["flag"].sum(), (~cur_df["flag"]).sum()],
        ]
    )
    chi2_2x2, p2, _, _ = stats.chi2_contingency(t2, correction=False)
    assert flag.statistic**2 == pytest.approx(chi2_2x2, rel=1e-9)
    assert flag.p_value == pytest.approx(p2, rel=1e-9)


def test_categorical_distances_match_numpy(
    exact: lw.metrics.Comparison, ref_df: pd.DataFrame, cur_df: pd.DataFrame
) -> None:
    keys = sorted(set(ref_df["cat"]) | set(cur_df["cat"]))
    p = ref_df["cat"].value_counts().reindex(keys, fill_value=0).to_numpy() / len(ref_df)
    q = cur_df["cat"].value_counts().reindex(keys, fill_value=0).to_numpy() / len(cur_df)
    assert exact["cat"].metrics["jensenshannon"] == pytest.approx(jensenshannon(p, q), rel=1e-9)
    pe, qe = np.maximum(p, EPS), np.maximum(q, EPS)
    assert exact["cat"].metrics["psi"] == pytest.approx(np.sum((qe - pe) * np.log(qe / pe)), rel=1e-9)


def test_profiles_on_shared_edges_give_the_same_binned_distances(
    ref_df: pd.DataFrame, cur_df: pd.DataFrame, exact: lw.metrics.Comparison
) -> None:
    ref = lw.profile(ref_df)
    cur = lw.profile(cur_df, reference=ref)
    binned = compare_data(ref, cur)
    for col in NUMERIC:
        b, e = binned[col], exact[col]
        assert b.drift is not None
        assert e.drift is not None
        for m in ("psi", "jensenshannon", "hellinger", "kl"):
            assert b.metrics[m] == pytest.approx(e.metrics[m], rel=1e-12, abs=1e-15)
        assert b.drift.p_value is not None
        assert e.drift.p_value is not None
        if col == "ints":  # few distinct values: counted exactly, so the raw path's own result
            assert b.drift.exact
            assert (b.metrics["ks"], b.drift.p_value) == (e.metrics["ks"], e.drift.p_value)
            continue
        # KS at the edges is a lower bound, the raw statistic within the stated bound above it; tested as
        # the raw path tests its statistic, so the p-value is never smaller than the raw one.
        assert not b.drift.exact
        assert b.drift.error_bound is not None
        assert b.metrics["ks"] <= e.metrics["ks"] <= b.metrics["ks"] + b.drift.error_bound
        assert b.drift.p_value >= e.drift.p_value
    wb = compare_data(ref, cur, method="wasserstein")
    for col in NUMERIC:
        d = wb[col].drift
        assert d is not None
        if col == "ints":
            assert d.exact
            assert d.statistic == pytest.approx(exact[col].metrics["wasserstein"], rel=1e-12)
            continue
        assert d.error_bound is not None
        assert abs(d.statistic - exact[col].metrics["wasserstein"]) <= d.error_bound  # type: ignore[operator]


def test_sketched_ks_stays_within_its_bound(
    ref_df: pd.DataFrame, cur_df: pd.DataFrame, exact: lw.metrics.Comparison
) -> None:
    sketched = compare_data(lw.profile(ref_df), lw.profile(cur_df))  # different edges: KLL path
    for col in ("normal", "lognormal", "with_nan"):  # "ints" has few values: compared exactly (discrete)
        d = sketched[col].drift
        assert d is not None
        assert not d.exact
        assert d.error_bound is not None
        assert abs(d.statistic - exact[col].metrics["ks"]) <= d.error_bound


def test_finds_known_drift_without_false_alarms() -> None:
    rng = np.random.default_rng(11)
    n = 100_000
    ref = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(10)})
    cur = pd.DataFrame({f"x{i}": rng.normal(0.03 if i < 4 else 0.0, 1, size=n) for i in range(10)})
    c = compare_data(ref, cur)
    assert set(c.drifted_columns) >= {"x0", "x1", "x2", "x3"}
    assert len(set(c.drifted_columns) - {"x0", "x1", "x2", "x3"}) <= 1
    # Benjamini-Hochberg, computed by hand on the raw p-values.
    p = np.array([col.drift.p_value for col in c.columns])  # type: ignore[union-attr]
    order = np.argsort(p)
    adj = np.minimum.accumulate((p[order] * len(p) / np.arange(1, len(p) + 1))[::-1])[::-1]
    expected = np.empty_like(adj)
    expected[order] = np.minimum(adj, 1)
    got = np.array([col.drift.p_value_adjusted for col in c.columns])  # type: ignore[union-attr]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_method_choice_per_call_and_column(ref_df: pd.DataFrame, cur_df: pd.DataFrame) -> None:
    c = compare_data(ref_df, cur_df, method="psi", methods={"normal": "wasserstein"})
    assert c["normal"].drift.method == "wasserstein"  # type: ignore[union-attr]
    assert c["lognormal"].drift.method == "psi"  # type: ignore[union-attr]
    assert c["cat"].drift.method == "psi"  # type: ignore[union-attr]
    c2 = compare_data(ref_df, cur_df, method="ks")
    assert c2["cat"].drift.method == "chisquare"  # type: ignore[union-attr]
    assert any("does not apply to" in w for w in c2.warnings)
    with pytest.raises(lw.UnknownNameError, match="unknown drift method 'pis'; valid names: chisquare"):
        compare_data(ref_df, cur_df, method="pis")
    with pytest.raises(lw.ParameterError, match=r"methods\['cat'\].*a method for categorical columns"):
        compare_data(ref_df, cur_df, methods={"cat": "ks"})


def test_different_columns_and_empty_columns_are_reported(ref_df: pd.DataFrame, cur_df: pd.DataFrame) -> None:
    cur = cur_df.drop(columns=["lognormal"]).assign(extra=1.0, normal=np.nan)
    c = compare_data(ref_df, cur)
    assert c.missing_columns == ["lognormal"]
    assert c.new_columns == ["extra"]
    assert c["normal"].drift is None
    assert "no usable values in the current" in (c["normal"].warning or "")
    assert c["normal"].quality is not None
    assert c["normal"].quality.missing_rate_current == 1.0


def test_quality_against_numpy(ref_df: pd.DataFrame) -> None:
    cur = ref_df.copy()
    cur.loc[:999, "normal"] = 100.0
    cur.loc[:499, "cat"] = "zzz"
    cur.loc[:1999, "lognormal"] = np.nan
    c = compare_data(ref_df, cur)
    q = c["normal"].quality
    assert q is not None
    assert q.out_of_range_share == pytest.approx(1000 / len(cur))
    qc = c["cat"].quality
    assert qc is not None
    assert qc.new_categories == ("zzz",)
    assert qc.new_category_share == pytest.approx(500 / len(cur))
    ql = c["lognormal"].quality
    assert ql is not None
    assert ql.missing_rate_change == pytest.approx(2000 / len(cur))
    same = compare_data(ref_df, pd.concat([ref_df.iloc[:100]] * 3))
    assert same.duplicate_share == pytest.approx(200 / 300)


def test_one_segment_from_raw_data_and_from_profiles(ref_df: pd.DataFrame, cur_df: pd.DataFrame) -> None:
    raw = compare_data(ref_df, cur_df, segment=("group", "g2"))
    r = _finite(ref_df.loc[ref_df["group"] == "g2", "normal"])
    c = _finite(cur_df.loc[cur_df["group"] == "g2", "normal"])
    assert raw.n_reference == r.size
    assert raw["normal"].metrics["ks"] == pytest.approx(stats.ks_2samp(r, c).statistic, abs=1e-12)
    ref = lw.profile(ref_df, segments=["group"])
    cur = lw.profile(cur_df, segments=["group"], reference=ref)
    prof = compare_data(ref, cur, segment=("group", "g2"))
    # The segment shares the whole reference's fine edges: its decile cuts are within one fine bin
    # of the segment's own, and the bins' counts are exact, so PSI agrees closely, not bit for bit.
    assert prof["normal"].metrics["psi"] == pytest.approx(raw["normal"].metrics["psi"], rel=0.05)
    psi = compare_data(ref, cur, segment=("group", "g2"), method="psi")["normal"].drift
    assert psi is not None
    cuts = np.array(psi.details["cuts"])
    seg_hist = ref.segment("group", "g2")["normal"].hist  # type: ignore[union-attr]
    assert seg_hist is not None
    widest = seg_hist.counts[1:-1].max() / r.size
    below = np.searchsorted(np.sort(r), cuts, side="left") / r.size
    assert np.all(np.abs(below - np.arange(1, 10) / 10) <= widest + 1 / r.size)
    with pytest.raises(lw.EmptyDataError, match="no rows of the reference data have group = 'g9'"):
        compare_data(ref_df, cur_df, segment=("group", "g9"))


def test_data_sharing_no_column_with_the_reference_is_an_error(ref_df: pd.DataFrame) -> None:
    """The trial's `lw.compare(train[["age"]], today[["income"]])` answered "no dataset drift: 0 of 0
    columns drifted": nothing compared read as a clean bill."""
    other = pd.DataFrame({"unrelated": np.arange(100.0)})
    with pytest.raises(
        lw.DataError, match=r"none of the reference's columns \(.*normal.*\); its columns: unrelated"
    ):
        lw.compare(ref_df, other)
    with pytest.raises(lw.DataError, match="none of the reference's columns"):
        lw.compare(lw.profile(ref_df), other)
    one = lw.compare(ref_df, ref_df[["normal"]])  # one column in common still compares it
    assert one.to_dict()["dataset"]["n_columns_compared"] == 1
