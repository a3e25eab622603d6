"""Performance metrics from task profiles against scikit-learn on the raw data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from statsmodels.stats.proportion import proportion_confint

import loopwise as lw
from loopwise.metrics import performance as perf
from loopwise.profiles.task import ClassificationProfile, RegressionProfile


@pytest.fixture(scope="module")
def binary() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    n = 30_000
    y = rng.random(n) < 0.3
    s = np.clip(0.3 + 0.4 * (y - 0.3) + rng.normal(0, 0.2, n), 0, 1)
    return y, s >= 0.5, s


def _profile(
    y: np.ndarray, pred: np.ndarray, scores: dict[object, np.ndarray] | None, parts: int = 3
) -> ClassificationProfile:
    # Built in parts and merged, so every check is also a check of the merge.
    out = ClassificationProfile()
    for idx in np.array_split(np.arange(len(y)), parts):
        p = ClassificationProfile()
        p.update(y[idx], pred[idx], {k: v[idx] for k, v in scores.items()} if scores else None)
        out = out.merge(p)
    return out


def test_binary_metrics_match_sklearn(binary: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    y, pred, s = binary
    p = _profile(y, pred, {True: s})
    exact = {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred),
        "recall": skm.recall_score(y, pred),
        "f1": skm.f1_score(y, pred),
        "log_loss": skm.log_loss(y, s),
        "brier_score": skm.brier_score_loss(y, s),
    }
    for name, want in exact.items():
        r = perf.compute(name, p)
        assert r.value == pytest.approx(want, rel=1e-9), name
        assert r.ci_low is not None and r.ci_high is not None
        assert r.ci_low <= r.value <= r.ci_high, name
        assert r.label_coverage == 1.0
    auc = perf.compute("roc_auc", p)
    assert auc.error_bound is not None
    assert abs(auc.value - skm.roc_auc_score(y, s)) <= auc.error_bound  # type: ignore[operator]
    ap = perf.compute("average_precision", p)
    assert ap.value == pytest.approx(skm.average_precision_score(y, s), abs=0.01)
    # The same AP is exact on the scores as the histogram sees them (rounded down to 1/4096).
    assert ap.ci_low is not None and ap.ci_high is not None
    assert ap.ci_low <= ap.value <= ap.ci_high  # type: ignore[operator]
    ece = perf.compute("expected_calibration_error", p)
    assert ece.ci_low is not None and ece.ci_high is not None
    assert ece.ci_low <= ece.value <= ece.ci_high  # type: ignore[operator]
    quantized = np.minimum(np.floor(s * 4096), 4095) / 4096
    assert ap.value == pytest.approx(skm.average_precision_score(y, quantized), rel=1e-9)


def test_rows_labelled_later_add_up_to_the_rows_labelled_at_once(
    binary: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """A backfill's shape: every prediction first without its label, the labels later (``label_part`` adds
    what they add). Unlabelled rows make no histogram of labelled rows (no zeros to store per bucket), and
    the result is the profile of the labelled rows made at once: every array and count, AUC and AP as
    scikit-learn's to their bound."""
    y, pred, s = binary
    unlabelled = _profile(np.full(len(y), None), pred, {True: s})
    assert not unlabelled.pos_hist and not unlabelled.neg_hist
    assert not unlabelled.est_labeled and not unlabelled.est_hit
    assert set(unlabelled.est_all) == {
        '["false", "true"]',
        '["true", "true"]',
        '["false", "false"]',
        '["true", "false"]',
    }
    later = unlabelled.merge(_profile(y, pred, {True: s}).label_part())
    at_once = _profile(y, pred, {True: s})
    meta, blobs = later.to_state()
    want_meta, want_blobs = at_once.to_state()
    for key in ("n", "n_labeled", "confusion", "predicted", "n_scored", "arrays"):
        assert meta[key] == want_meta[key], key
    assert blobs == want_blobs
    assert perf.compute("roc_auc", later).value == perf.compute("roc_auc", at_once).value
    auc = perf.compute("roc_auc", later)
    assert abs(auc.value - skm.roc_auc_score(y, s)) <= auc.error_bound  # type: ignore[operator]
    assert perf.compute("roc_auc", unlabelled).warning == "no labelled rows"


def test_intervals_against_statsmodels(binary: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    y, pred, _s = binary
    p = _profile(y, pred, None)
    r = perf.compute("accuracy", p)
    lo, hi = proportion_confint(int((y == pred).sum()), len(y), alpha=0.05, method="wilson")
    assert (r.ci_low, r.ci_high) == pytest.approx((lo, hi), rel=1e-9)
    prec = perf.compute("precision", p)
    tp, predicted = int((y & pred).sum()), int(pred.sum())
    lo, hi = proportion_confint(tp, predicted, alpha=0.05, method="wilson")
    assert (prec.ci_low, prec.ci_high) == pytest.approx((lo, hi), rel=1e-9)


def test_multiclass_string_labels_match_sklearn() -> None:
    rng = np.random.default_rng(1)
    n = 20_000
    classes = np.array(["cat", "dog", "emu"])
    y = classes[rng.choice(3, n, p=[0.5, 0.3, 0.2])]
    logits = rng.normal(0, 1, (n, 3)) + 1.5 * (y[:, None] == classes[None, :])
    prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = classes[prob.argmax(axis=1)]
    p = _profile(y, pred, {c: prob[:, i] for i, c in enumerate(classes)})
    for avg in ("macro", "weighted", "micro"):
        assert perf.compute("f1", p, average=avg).value == pytest.approx(
            skm.f1_score(y, pred, average=avg), rel=1e-9
        )
        assert perf.compute("precision", p, average=avg).value == pytest.approx(
            skm.precision_score(y, pred, average=avg), rel=1e-9
        )
    assert perf.compute("recall", p, label="emu").value == pytest.approx(
        skm.recall_score(y, pred, labels=["emu"], average="macro"), rel=1e-9
    )
    assert perf.compute("log_loss", p).value == pytest.approx(skm.log_loss(y, prob, labels=classes), rel=1e-9)
    auc = perf.compute("roc_auc", p)
    assert abs(auc.value - skm.roc_auc_score(y, prob, multi_class="ovr", labels=classes)) <= auc.error_bound  # type: ignore[operator]
    onehot = (y[:, None] == classes[None, :]).astype(float)
    assert perf.compute("brier_score", p).value == pytest.approx(
        np.mean(np.sum((prob - onehot) ** 2, axis=1)), rel=1e-9
    )
    # Top-label ECE with 20 equal-width bins, by hand.
    conf, hit = prob.max(axis=1), (pred == y).astype(float)
    b = np.minimum((conf * 20).astype(int), 19)
    ece = sum(abs(hit[b == i].sum() - conf[b == i].sum()) for i in range(20)) / n
    assert perf.compute("expected_calibration_error", p).value == pytest.approx(ece, rel=1e-9)


def test_regression_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(2)
    y = rng.lognormal(3, 0.5, 10_000)
    pred = y * rng.normal(1.02, 0.1, y.size)
    p = RegressionProfile()
    for idx in np.array_split(np.arange(y.size), 4):
        q = RegressionProfile()
        q.update(y[idx], pred[idx])
        p = p.merge(q)
    assert perf.compute("mae", p).value == pytest.approx(skm.mean_absolute_error(y, pred), rel=1e-9)
    assert perf.compute("mse", p).value == pytest.approx(skm.mean_squared_error(y, pred), rel=1e-9)
    assert perf.compute("rmse", p).value == pytest.approx(skm.root_mean_squared_error(y, pred), rel=1e-9)
    assert perf.compute("mape", p).value == pytest.approx(
        skm.mean_absolute_percentage_error(y, pred), rel=1e-9
    )
    assert perf.compute("r2", p).value == pytest.approx(skm.r2_score(y, pred), rel=1e-9)
    assert perf.compute("mean_error", p).value == pytest.approx(np.mean(pred - y), rel=1e-9)
    q90 = perf.compute("error_quantile", p, q=0.9)
    true_rank = np.mean((pred - y) <= q90.value)
    assert abs(true_rank - 0.9) <= (q90.error_bound or 0) + 1e-3


def test_label_coverage_and_profiles_from_a_schema() -> None:
    from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit

    df = make_credit(5000, seed=3)
    df["repaid"] = df["repaid"].astype(object)
    df.loc[df.index[:1000], "repaid"] = None  # labels not yet arrived
    prof = lw.profile(df, schema=lw.Schema.from_yaml(CREDIT_SCHEMA_YAML))
    r = perf.compute("accuracy", prof.task)  # type: ignore[arg-type]
    labelled = df.iloc[1000:]
    assert r.label_coverage == pytest.approx(0.8)
    assert r.value == pytest.approx(skm.accuracy_score(labelled["repaid"].astype(bool), labelled["approved"]))
    back = lw.Profile.from_bytes(prof.to_bytes())
    assert perf.compute("roc_auc", back.task).value == perf.compute("roc_auc", prof.task).value  # type: ignore[arg-type]


def test_bad_scores_and_rows_are_clear_errors() -> None:
    p = ClassificationProfile()
    with pytest.raises(lw.DataError, match=r"probability in \[0, 1\]; row 1 holds 1.5"):
        p.update([1, 0], [1, 0], {1: np.array([0.9, 1.5])})
    with pytest.raises(lw.DataError, match="must sum to 1; row 0"):
        p.update(["a", "b"], ["a", "b"], {"a": np.array([0.5, 0.5]), "b": np.array([0.6, 0.5])})
    with pytest.raises(lw.DataError, match="same rows"):
        p.update([1, 0, 1], [1, 0], None)
    with pytest.raises(lw.DataError, match="needs 'label:'"):
        p.update(["x", "y"], ["x", "y"], {None: np.array([0.2, 0.7])})  # type: ignore[dict-item]
    with pytest.raises(
        lw.UnknownNameError, match="unknown performance metric 'acuracy'; valid names: accuracy"
    ):
        perf.compute("acuracy", p)
    single = ClassificationProfile()
    single.update([1, 1, 1], [1, 0, 1], {1: np.array([0.9, 0.2, 0.8])})
    assert "no negative labels" in (perf.compute("roc_auc", single).warning or "")
