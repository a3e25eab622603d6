"""Performance estimated without labels, against exact expectations on data with known, calibrated scores."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)
from threadpoolctl import threadpool_limits

import loopwise as lw
from loopwise.profiles.serialize import dumps, loads
from loopwise.profiles.task import ClassificationProfile

DOCS = Path(__file__).parents[2] / "docs" / "performance.md"
CLASSES = ["a", "b", "c"]
MC_SCHEMA = lw.Schema.from_dict(
    {
        "columns": {
            "prediction": {"role": "prediction", "kind": "categorical"},
            "label": {"role": "target", "kind": "categorical"},
            **{f"p_{c}": {"role": "score", "label": c} for c in CLASSES},
        }
    }
)


def binary(n: int, shift: float, seed: int, concept: float = 0.0) -> pd.DataFrame:
    """Scores calibrated by construction: the label is drawn from the score (``concept`` moves the logit)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1, n)
    p = 1 / (1 + np.exp(-2 * x))
    y = rng.random(n) < 1 / (1 + np.exp(-(2 * x + concept)))
    return pd.DataFrame({"x": x, "p_yes": p, "prediction": p >= 0.5, "label": y})


def multiclass(n: int, shift: float, seed: int) -> pd.DataFrame:
    """Three classes, softmax scores, labels drawn from the scores; ``shift`` moves the inputs."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1, (n, 2))
    logits = np.column_stack([1.5 * x[:, 0], 1.5 * x[:, 1], 0.8 - x[:, 0] - x[:, 1]])
    prob = np.exp(logits - logits.max(axis=1, keepdims=True))
    prob = np.round(prob / prob.sum(axis=1, keepdims=True), 6)
    prob[:, 2] = 1 - prob[:, 0] - prob[:, 1]
    y = (rng.random(n)[:, None] > np.cumsum(prob, axis=1)).sum(axis=1).clip(0, 2)
    out = pd.DataFrame({f"p_{c}": prob[:, i] for i, c in enumerate(CLASSES)})
    out["prediction"] = np.array(CLASSES)[prob.argmax(axis=1)]
    out["label"] = np.array(CLASSES)[y]
    return out


def expected_confusion(df: pd.DataFrame) -> np.ndarray:
    """E[C[true, predicted]]: sums of the calibrated probabilities over the rows predicted each class."""
    prob = df[[f"p_{c}" for c in CLASSES]].to_numpy()
    pred = df["prediction"].map(CLASSES.index).to_numpy()
    return np.array([[prob[pred == j, i].sum() for j in range(3)] for i in range(3)])


def test_realized_values_equal_scikit_learn() -> None:
    ref, cur = multiclass(20_000, 0.0, 1), multiclass(5_000, 0.3, 2)
    for average in ("macro", "micro", "weighted"):
        est = lw.estimate_performance(
            ref, cur, MC_SCHEMA, average=average, metrics=["precision", "recall", "f1"]
        )
        assert est["precision"].realized == pytest.approx(
            precision_score(cur["label"], cur["prediction"], average=average)
        )
        assert est["recall"].realized == pytest.approx(
            recall_score(cur["label"], cur["prediction"], average=average)
        )
        assert est["f1"].realized == pytest.approx(f1_score(cur["label"], cur["prediction"], average=average))
    est = lw.estimate_performance(ref, cur, MC_SCHEMA, metrics=["accuracy", "roc_auc", "confusion_matrix"])
    assert est["accuracy"].realized == pytest.approx(accuracy_score(cur["label"], cur["prediction"]))
    auc = roc_auc_score(cur["label"], cur[[f"p_{c}" for c in CLASSES]], multi_class="ovr", labels=CLASSES)
    assert est["roc_auc"].realized == pytest.approx(auc, abs=2e-3)  # 4096 score bins
    cm = confusion_matrix(cur["label"], cur["prediction"], labels=CLASSES)
    for i, t in enumerate(CLASSES):
        for j, p in enumerate(CLASSES):
            assert est[f"true_{t}_pred_{p}"].realized == cm[i, j]
    b_ref, b_cur = binary(20_000, 0.0, 3), binary(5_000, 0.5, 4)
    est = lw.estimate_performance(b_ref, b_cur, metrics=["specificity", "f1", "roc_auc"])
    tn, fp, _fn, _tp = confusion_matrix(b_cur["label"], b_cur["prediction"]).ravel()
    assert est["specificity"].realized == pytest.approx(tn / (tn + fp))
    assert est["f1"].realized == pytest.approx(f1_score(b_cur["label"], b_cur["prediction"]))
    assert est["roc_auc"].realized == pytest.approx(roc_auc_score(b_cur["label"], b_cur["p_yes"]), abs=1e-3)


@pytest.mark.parametrize("shift", [0.0, 0.8, -0.6])
def test_binary_estimates_equal_the_exact_expectation(shift: float) -> None:
    ref, cur = binary(100_000, 0.0, seed=5), binary(20_000, shift, seed=6 + int(10 * shift))
    est = lw.estimate_performance(ref, cur, metrics=["accuracy", "precision", "recall", "roc_auc"])
    p, pred = cur["p_yes"].to_numpy(), cur["prediction"].to_numpy()
    tp, fp, fn = p[pred].sum(), (1 - p[pred]).sum(), p[~pred].sum()
    assert est["accuracy"].estimate == pytest.approx(np.mean(np.maximum(p, 1 - p)), abs=0.005)
    assert est["precision"].estimate == pytest.approx(tp / (tp + fp), abs=0.005)
    assert est["recall"].estimate == pytest.approx(tp / (tp + fn), abs=0.005)
    # Expected ROC AUC over the labels the scores would draw: Monte Carlo, 200 draws.
    rng = np.random.default_rng(0)
    truth = np.mean([roc_auc_score(rng.random(p.size) < p, p) for _ in range(200)])
    assert est["roc_auc"].estimate == pytest.approx(truth, abs=0.004)


def test_multiclass_is_unbiased_on_undrifted_data_without_a_positive_label() -> None:
    # The old estimator counted a wrong prediction of another class as a missed positive: recall -0.15.
    ref, cur = multiclass(60_000, 0.0, 7), multiclass(30_000, 0.0, 8)
    est = lw.estimate_performance(ref, cur, MC_SCHEMA)
    m = expected_confusion(cur)
    tp, pred, true = np.diag(m), m.sum(axis=0), m.sum(axis=1)
    per_class = {
        "precision": tp / pred,
        "recall": tp / true,
        "f1": 2 * tp / (pred + true),
        "specificity": (m.sum() - pred - true + tp) / (m.sum() - true),
    }
    assert est["accuracy"].estimate == pytest.approx(tp.sum() / m.sum(), abs=0.005)
    for name, values in per_class.items():
        assert est[name].details["average"] == "macro"
        assert est[name].estimate == pytest.approx(values.mean(), abs=0.01), name
        for c, v in zip(CLASSES, values, strict=True):
            assert est[name].per_class is not None
            assert est[name].per_class[c]["estimate"] == pytest.approx(v, abs=0.015), (name, c)


def test_multiclass_under_covariate_shift_follows_the_expected_confusion() -> None:
    ref, cur = multiclass(60_000, 0.0, 9), multiclass(20_000, 0.7, 10)
    est = lw.estimate_performance(ref, cur, MC_SCHEMA, metrics=["confusion_matrix", "accuracy"])
    m = expected_confusion(cur)
    for i, t in enumerate(CLASSES):
        for j, p in enumerate(CLASSES):
            assert est[f"true_{t}_pred_{p}"].estimate == pytest.approx(m[i, j], rel=0.05, abs=30), (t, p)
    assert est["accuracy"].estimate == pytest.approx(np.trace(m) / m.sum(), abs=0.005)
    # Business value: a linear function of the confusion matrix, as NannyML defines it.
    worth = np.array([[5.0, -1.0, -2.0], [-1.0, 3.0, 0.0], [-4.0, -1.0, 8.0]])  # [true, predicted]
    bv = lw.estimate_performance(
        ref, cur, MC_SCHEMA, metrics=["business_value"], business_value_matrix=worth
    )["business_value"]
    assert bv.estimate == pytest.approx(np.sum(worth * m), rel=0.02)
    cm = confusion_matrix(cur["label"], cur["prediction"], labels=CLASSES)
    assert bv.realized == pytest.approx(np.sum(worth * cm))
    assert bv.ci_low < bv.estimate < bv.ci_high
    with pytest.raises(lw.ParameterError, match="business_value_matrix"):
        lw.estimate_performance(
            ref, cur, MC_SCHEMA, metrics=["business_value"], business_value_matrix=[[1, 2]]
        )


def test_intervals_cover_the_realized_value_at_the_stated_rate() -> None:
    # 60 seeded currents of 2,000 rows against one reference, three metrics: 180 cells. The nominal 95%
    # must hold within a one-sided binomial margin (2.33 standard errors).
    ref = lw.profile(binary(20_000, 0.0, 11))
    est = lw.PerformanceEstimator(metrics=["accuracy", "f1", "roc_auc"]).fit(ref)
    cells = [
        e.realized_within_interval
        for s in range(60)
        for e in est.estimate(binary(2_000, 0.3, 100 + s)).values()
    ]
    rate = float(np.mean(cells))
    assert rate >= 0.95 - 2.33 * np.sqrt(0.95 * 0.05 / len(cells))


def test_profiles_give_the_same_answer_as_raw_rows_and_merge_like_the_whole() -> None:
    ref, cur = binary(30_000, 0.0, 12), binary(10_000, 0.8, 13)
    blind = cur.assign(label=pd.Series([None] * len(cur), dtype=object))
    raw = lw.estimate_performance(ref, blind)
    schema = lw.Schema.infer(ref)
    halves = lw.profile(blind.iloc[:4_000], schema=schema).merge(
        lw.profile(blind.iloc[4_000:], schema=schema)
    )
    stored = loads(dumps(halves))
    from_profiles = lw.estimate_performance(lw.profile(ref, schema=schema), stored)
    for name, e in raw.items():
        assert e.realized is None and e.label_coverage == 0
        assert from_profiles[name].estimate == pytest.approx(e.estimate, rel=1e-12), name


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(0, 2**31), min_size=3, max_size=3),
    st.lists(st.integers(1, 60), min_size=3, max_size=3),
)
def test_estimation_histograms_merge_as_a_monoid(seeds: list[int], sizes: list[int]) -> None:
    parts = [multiclass(n, 0.0, s) for s, n in zip(seeds, sizes, strict=True)]
    profiles = []
    for df in parts:
        p = ClassificationProfile()
        p.update(df["label"], df["prediction"], {c: df[f"p_{c}"] for c in CLASSES})
        profiles.append(p)
    whole = ClassificationProfile()
    allrows = pd.concat(parts)
    whole.update(allrows["label"], allrows["prediction"], {c: allrows[f"p_{c}"] for c in CLASSES})
    a, b, c = profiles
    for merged in (a.merge(b).merge(c), a.merge(b.merge(c)), c.merge(a).merge(b)):
        for field in ("est_all", "est_labeled", "est_hit"):
            got, want = getattr(merged, field), getattr(whole, field)
            assert set(got) == set(want)
            for k in want:
                np.testing.assert_array_equal(got[k], want[k])
    round_trip = ClassificationProfile.from_state(*whole.to_state())
    for k, v in whole.est_hit.items():
        np.testing.assert_array_equal(round_trip.est_hit[k], v)


def test_an_older_profile_without_histograms_is_a_clear_error() -> None:
    ref, cur = binary(5_000, 0.0, 14), binary(1_000, 0.0, 15)
    old = lw.profile(ref)
    assert isinstance(old.task, ClassificationProfile)
    meta, blobs = old.task.to_state()
    keep = [name for name in meta["arrays"] if not name.startswith("est_")]
    sizes = {name: len(meta["arrays"][name]) for name in meta["arrays"]}
    kept_blobs, i = [], 0
    for name in meta["arrays"]:
        if name in keep:
            kept_blobs += blobs[i : i + sizes[name]]
        i += sizes[name]
    meta["arrays"] = {name: meta["arrays"][name] for name in keep}
    old.task = ClassificationProfile.from_state(meta, kept_blobs)
    with pytest.raises(lw.DataError, match="profile the reference again"):
        lw.estimate_performance(old, cur)


def test_concept_shift_is_stated_and_extrapolation_is_warned() -> None:
    ref, cur = binary(50_000, 0.0, 16), binary(20_000, 0.0, 17, concept=1.5)
    e = lw.estimate_performance(ref, cur)["accuracy"]
    assert abs(e.estimate - accuracy_score(ref["label"], ref["prediction"])) < 0.01
    assert e.realized_within_interval is False  # the documented blind spot...
    assert "no concept shift" in e.to_dict()["assumption"]  # ... said in the result itself
    assert e.warnings == ()
    # Scores where the reference has (almost) no labelled rows: most current rows are not vouched for.
    narrow = binary(50_000, 0.0, 18)
    narrow = narrow[(narrow["p_yes"] > 0.3) & (narrow["p_yes"] < 0.7)]
    far_all = lw.estimate_performance(
        narrow, binary(5_000, 2.5, 19), metrics=["accuracy", "specificity", "roc_auc"]
    )
    far = far_all["accuracy"]
    assert far.warnings and "fewer than 10 labelled rows" in far.warnings[0]
    # Far from the reference the interval is wide, but stays within the metric's range.
    assert all(0.0 <= e.ci_low <= e.estimate <= e.ci_high <= 1.0 for e in far_all.values())


@pytest.fixture
def one_thread() -> object:
    # Shared CI cores: OpenMP's spinning threads made these small gradient-boosting fits 40 times slower
    # under load (0.3 s alone, 14 s with two threads on two busy cores).
    with threadpool_limits(1, "openmp"):
        yield


@pytest.mark.usefixtures("one_thread")
def test_the_documented_example_runs_as_written() -> None:
    section = DOCS.read_text().split("## Performance without labels")[1].split("\n## ")[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    exec(compile(code, str(DOCS), "exec"), {})


@pytest.mark.usefixtures("one_thread")
def test_regression_by_direct_loss_estimation_with_heteroscedastic_noise() -> None:
    rng = np.random.default_rng(20)

    def rows(n: int, lo: float, hi: float) -> pd.DataFrame:
        x = rng.uniform(lo, hi, n)
        sd = 0.2 + 2.0 * x  # the noise grows with x: the expected loss is known per row
        pred = 3 * x
        return pd.DataFrame({"x": x, "prediction": pred, "target": pred + rng.normal(0, sd)})

    schema = lw.Schema.from_dict(
        {
            "columns": {
                "x": {"kind": "numeric"},
                "prediction": {"role": "prediction"},
                "target": {"role": "target"},
            }
        }
    )
    est = lw.PerformanceEstimator(schema, ["mae", "mse", "rmse"]).fit(rows(20_000, 0.0, 1.0))
    for lo, hi in ((0.0, 1.0), (0.6, 1.0), (0.0, 0.3)):
        cur = rows(5_000, lo, hi)
        sd = 0.2 + 2.0 * cur["x"].to_numpy()
        out = est.estimate(cur)
        assert out["mae"].estimate == pytest.approx(np.mean(sd) * np.sqrt(2 / np.pi), rel=0.05)
        assert out["mse"].estimate == pytest.approx(np.mean(sd**2), rel=0.07)
        assert out["rmse"].estimate == pytest.approx(np.sqrt(out["mse"].estimate))
        err = (cur["prediction"] - cur["target"]).to_numpy()
        assert out["mae"].realized == pytest.approx(np.mean(np.abs(err)))
        assert out["mae"].method == "direct loss estimation"
    with pytest.raises(lw.DataError, match="raw rows"):
        lw.estimate_performance(lw.profile(rows(1_000, 0, 1), schema=schema), rows(1_000, 0, 1), schema)


def test_bad_input_is_a_one_line_error_and_suites_see_every_metric() -> None:
    ref, cur = binary(20_000, 0.0, 21), binary(5_000, 1.0, 22)
    r = lw.Suite("s", [lw.Check("estimated_roc_auc", lw.checks.ge(0.8))]).run(cur, ref).results[0]
    assert r.status == "pass" and r.evidence["method"] == "confidence-based performance estimation"
    with pytest.raises(lw.DataError, match=r"no score columns|estimation histograms"):
        lw.estimate_performance(ref.drop(columns=["p_yes"]), cur.drop(columns=["p_yes"]))
    with pytest.raises(lw.ParameterError, match="'metrics'"):
        lw.estimate_performance(ref, cur, metrics=["r2"])
    with pytest.raises(lw.ParameterError, match="'average'"):
        lw.estimate_performance(ref, cur, average="samples")
