"""Multivariate drift against independent answers: numpy on the rows, scikit-learn's PCA and CV, KS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats
from sklearn.decomposition import PCA
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.preprocessing import StandardScaler

import loopwise as lw
from loopwise.errors import DataError
from loopwise.metrics.multivariate.classifier import ClassifierDrift, classifier, cv_auc
from loopwise.metrics.multivariate.pca import PCAModel
from loopwise.profiles.comoments import CoMoments, merge_all

COLS = ["a", "b", "c"]
finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
rows = arrays(np.float64, st.tuples(st.integers(1, 30), st.just(3)), elements=finite)


@settings(max_examples=60, deadline=None)
@given(rows, rows, rows)
def test_comoments_merge_laws_and_numpy(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> None:
    a, b, c = (CoMoments.of(v, COLS) for v in (x, y, z))
    whole = np.concatenate([x, y, z])
    for m in (a.merge(b).merge(c), a.merge(b.merge(c)), c.merge(a).merge(b)):
        assert m.count == len(whole)
        np.testing.assert_allclose(m.mean, whole.mean(axis=0), rtol=1e-9, atol=1e-9)
        expected = np.cov(whole, rowvar=False) if len(whole) > 1 else np.zeros((3, 3))
        np.testing.assert_allclose(m.covariance() if len(whole) > 1 else m.m2, expected, rtol=1e-7, atol=1e-6)
    empty = CoMoments.empty(COLS)
    np.testing.assert_array_equal(a.merge(empty).m2, a.m2)
    back = CoMoments.from_bytes(a.merge(b).to_bytes())
    np.testing.assert_array_equal(back.m2, a.merge(b).m2)
    np.testing.assert_allclose(a.merge(b).without(a).m2, b.m2, rtol=1e-6, atol=1e-5)


def _correlated(rng: np.random.Generator, n: int, sign: float = 1.0) -> pd.DataFrame:
    a = rng.normal(size=n)
    return pd.DataFrame(
        {
            "a": a,
            "b": sign * 0.8 * a + 0.6 * rng.normal(size=n),
            "c": rng.normal(size=n),
            "g": rng.choice(["x", "y", "z"], n, p=[0.5, 0.3, 0.2]),
        }
    )


def test_squared_error_equals_sklearn_pca_and_rows() -> None:
    rng = np.random.default_rng(1)
    x = _correlated(rng, 5000)[["a", "b", "c"]].to_numpy()
    y = _correlated(rng, 700, sign=-1.0)[["a", "b", "c"]].to_numpy()
    model = PCAModel.fit(CoMoments.of(x, COLS))
    scaler = StandardScaler().fit(x)
    sk = PCA(0.65).fit(scaler.transform(x))
    assert model.n_components == sk.n_components_
    zc = scaler.transform(y)
    sk_error = np.mean(np.sum((zc - sk.inverse_transform(sk.transform(zc))) ** 2, axis=1))
    from_moments = model.squared_error(CoMoments.of(y, COLS))
    assert from_moments == pytest.approx(sk_error, rel=1e-9)
    assert from_moments == pytest.approx(np.mean(model.row_errors(y) ** 2), rel=1e-9)
    # merged co-moments of two halves of the current give the same error
    halves = CoMoments.of(y[:300], COLS).merge(CoMoments.of(y[300:], COLS))
    assert model.squared_error(halves) == pytest.approx(from_moments, rel=1e-9)


def test_broken_correlation_is_caught_where_ks_is_not() -> None:
    rng = np.random.default_rng(2)
    ref, cur = _correlated(rng, 20_000), _correlated(rng, 2000, sign=-1.0)
    assert min(stats.ks_2samp(ref[c], cur[c]).pvalue for c in ("a", "b", "c")) > 0.01  # marginals kept
    assert lw.multivariate_drift(ref, cur).drift_detected
    r = lw.multivariate_drift(ref, cur, method="classifier", cap=3000, folds=3, n_chunks=3)
    assert r.drift_detected and r.statistic > 0.6


def test_no_drift_on_iid_data_at_about_the_stated_rate() -> None:
    rate, seeds, alarms = 0.1, 200, 0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        ref, cur = _correlated(rng, 4000), _correlated(rng, 400)
        alarms += lw.multivariate_drift(ref, cur, false_alarm_rate=rate).drift_detected
    # binomial(200, 0.1): mean 20, sd 4.2; the rule promises at most the rate
    assert alarms / seeds <= rate + 3 * np.sqrt(rate * (1 - rate) / seeds)


def test_classifier_auc_equals_sklearn_cross_val_score() -> None:
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(size=(400, 3)), rng.normal(0.3, 1, size=(300, 3))])
    y = np.r_[np.zeros(400), np.ones(300)].astype(np.int8)
    cat = np.zeros(3, dtype=bool)
    ours = cv_auc(x, y, cat, 4, seed=7)
    folds = StratifiedKFold(n_splits=4, shuffle=True, random_state=7)
    theirs = cross_val_score(classifier(7, cat), x, y, cv=folds, scoring="roc_auc")
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_stored_test_and_summaries_give_the_rows_answer(tmp_path: object) -> None:
    rng = np.random.default_rng(4)
    ref, cur = _correlated(rng, 10_000), _correlated(rng, 3000, sign=-1.0)
    test = lw.MultivariateDrift("pca").fit(ref)
    stored = lw.MultivariateDrift.from_bytes(test.to_bytes())
    window = merge_all([stored.summarize(cur.iloc[i : i + 1000]) for i in range(0, 3000, 1000)])
    a, b = test.compare(cur), stored.compare(window)
    assert b.statistic == pytest.approx(a.statistic, rel=1e-9)
    assert (a.threshold, a.drift_detected) == (pytest.approx(b.threshold), b.drift_detected)


def test_raw_rows_are_required_where_they_are() -> None:
    rng = np.random.default_rng(5)
    ref = _correlated(rng, 3000)
    with pytest.raises(DataError, match="needs raw rows"):
        lw.multivariate_drift(lw.profile(ref), ref)
    test = ClassifierDrift.fit(
        pa.Table.from_pandas(ref), ["a", "b"], ["numeric", "numeric"], cap=500, folds=3
    )
    assert test.compare(pa.Table.from_pandas(ref.iloc[:500])).needs_rows
    fitted = lw.MultivariateDrift("classifier", cap=500, folds=3).fit(ref)
    with pytest.raises(DataError, match="needs the current's raw rows"):
        fitted.compare(lw.MultivariateDrift("pca").fit(ref).summarize(ref))


def test_suite_metrics_from_yaml() -> None:
    rng = np.random.default_rng(6)
    ref, same, broken = _correlated(rng, 10_000), _correlated(rng, 2000), _correlated(rng, 2000, sign=-1.0)
    suite = lw.Suite.from_yaml(
        """
suite: multivariate
checks:
  - metric: multivariate_drift
    condition: {eq: 0}
  - metric: domain_classifier_auc
    params: {cap: 2000, folds: 3}
    condition: {le: 0.6}
"""
    )
    good, bad = suite.run(same, ref), suite.run(broken, ref)
    assert good.status == "pass" and bad.status == "fail"
    direct = lw.multivariate_drift(ref, broken)
    assert bad.results[0].evidence["statistic"] == pytest.approx(direct.statistic)
    assert bad.results[1].actual > 0.6


def test_report_section() -> None:
    rng = np.random.default_rng(7)
    ref, cur = _correlated(rng, 10_000), _correlated(rng, 2000, sign=-1.0)
    report = lw.compare(ref, cur, multivariate=True)
    (entry,) = report.to_dict()["multivariate"]
    direct = lw.multivariate_drift(ref, cur)
    assert entry["drift_detected"] and entry["statistic"] == pytest.approx(direct.statistic)
    assert "Multivariate drift" in report.to_html() and lw.compare(ref, cur).to_dict()["multivariate"] == []


def test_the_documented_snippets_run() -> None:
    text = (Path(__file__).parents[2] / "docs" / "drift-methods.md").read_text(encoding="utf-8")
    section = text[text.index("## Multivariate drift") :]
    blocks = [b for b in section.split("\n\n") if b.startswith("    ")]
    assert len(blocks) == 2
    rng = np.random.default_rng(8)
    env: dict[str, object] = {
        "reference_df": _correlated(rng, 6000),
        "current_df": _correlated(rng, 1500, sign=-1.0),
        "batch_1": _correlated(rng, 500),
        "batch_2": _correlated(rng, 500),
    }
    for block in blocks:
        exec("\n".join(line[4:] for line in block.splitlines()), env)
    assert env["result"].drift_detected  # type: ignore[attr-defined]


def test_the_documented_suite_parses_with_the_multivariate_checks() -> None:
    text = (Path(__file__).parents[2] / "docs" / "checks.md").read_text(encoding="utf-8")
    schema = lw.Schema.infer(_correlated(np.random.default_rng(9), 100).assign(income=1.0, race="a"))
    suite = lw.Suite.from_yaml(text.split("```yaml\n", 1)[1].split("```", 1)[0], schema)
    names = [c.metric for c in suite.checks]
    assert "multivariate_drift" in names and "domain_classifier_auc" in names


def test_two_uncorrelated_columns_keep_a_direction_to_reconstruct_and_do_not_alarm_on_noise() -> None:
    # At 65% of the variance both components of two independent columns would be kept, leaving an error
    # of zero up to rounding: every window then "drifted" (a user's trial). One direction is always left.
    alarms = []
    for seed in range(60):
        rng = np.random.default_rng(seed)
        ref = pd.DataFrame({"a": rng.normal(size=10_000), "b": rng.normal(size=10_000)})
        cur = pd.DataFrame({"a": rng.normal(size=1_000), "b": rng.normal(size=1_000)})
        result = lw.multivariate_drift(ref, cur)
        assert result.details["n_components"] == 1
        assert result.statistic > 0.5  # the left-out direction's variance, about 1 in standard units
        alarms.append(result.drift_detected)
    hi = stats.binom.ppf(0.999, len(alarms), 0.05) / len(alarms)
    assert np.mean(alarms) <= hi, np.mean(alarms)


def test_stored_co_moments_and_tests_refuse_damaged_or_newer_bytes_in_one_error() -> None:
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"a": rng.normal(size=3000), "b": rng.normal(size=3000), "c": rng.normal(size=3000)})
    blobs = {
        "co-moments": CoMoments.of(ref.to_numpy(), COLS).to_bytes(),
        "reconstruction drift test": lw.MultivariateDrift("pca").fit(ref).to_bytes(),
    }
    for what, blob in blobs.items():
        newer = blob[:4] + (99).to_bytes(2, "little") + blob[6:]
        for bad, message in (
            (b"XXXX" + blob[4:], "do not start"),
            (newer, "newer loopwise"),
            (blob[:-3], "truncated|corrupt"),
        ):
            with pytest.raises(lw.ProfileFormatError, match=message):
                (CoMoments if what == "co-moments" else lw.MultivariateDrift).from_bytes(bad)
