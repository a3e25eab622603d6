"""A model whose classes are words ("approve"/"reject") declares its positive class in the schema; every
score-based figure of the gate and of compare_versions is about that class: checked against scikit-learn's
metrics with ``pos_label`` on the raw outputs, and a calibration error computed here with NumPy.

The positive class is "approve", the first in alphabetical order: scikit-learn's default positive class (the
greater label) is the other one, so a figure that fell back to a default would differ."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from tests._fixtures.registry import OPENED, applicants

import loopwise as lw
from loopwise.checks import Check, Suite, ge, le, non_inferior
from loopwise.client.base import ModelHandle
from loopwise.registry import RegistrySettings

DAY = {"start": "2026-12-01T00:00:00Z", "end": "2026-12-02T00:00:00Z"}
N = 3000
SCHEMA = {
    "positive": "approve",
    "columns": {
        "id": {"role": "id"},
        "ts": {"role": "timestamp"},
        "income": {"kind": "numeric"},
        "age": {"kind": "numeric"},
        "decision": {"role": "prediction", "kind": "categorical", "values": ["approve", "reject"]},
        "p_approve": {"role": "score"},
    },
}


def words(y: pd.Series) -> np.ndarray:
    return np.where(y.to_numpy(), "approve", "reject")


@pytest.fixture(scope="module")
def versions() -> tuple[Pipeline, Pipeline]:
    X, y = applicants(2000, 1)
    good = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, words(y))
    weak = make_pipeline(StandardScaler(), LogisticRegression()).fit(X.assign(age=0.0), words(y))
    return good, weak


def served_and_replayed(
    db_url: str, tmp_path: Path, good: Pipeline, weak: Pipeline
) -> tuple[ModelHandle, Any]:
    """v1 (weak) served the day and is champion; v2 (good) is replayed on it; every label has arrived."""
    client = lw.Client.local(db_url, registry=RegistrySettings(artifact_dir=tmp_path / "artifacts"))
    OPENED.append(client)
    model = client.register("loans", SCHEMA)
    X, y = applicants(N, 7)
    model.register_version("v1", weak, sample=X.head(50))
    model.register_version("v2", good, sample=X.head(50))
    model.set_alias("champion", "v1")
    ids = [f"e{i}" for i in range(N)]
    approve = list(weak.classes_).index("approve")
    model.log(
        X.assign(
            id=ids,
            ts=pd.Timestamp("2026-12-01 08:00", tz="UTC") + pd.to_timedelta(np.arange(N) * 5, unit="s"),
            decision=weak.predict(X),
            p_approve=weak.predict_proba(X)[:, approve],
        ),
        version="v1",
    )
    model.evaluate_version("v2", **DAY)
    model.log_feedback(ids, words(y))
    return model, (X, words(y))


def top_label_ece(y: np.ndarray, predicted: np.ndarray, p_approve: np.ndarray, bins: int = 20) -> float:
    """Expected calibration error of the predicted class's probability, in equal-width bins."""
    confidence = np.where(predicted == "approve", p_approve, 1 - p_approve)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    right = (predicted == y).astype(float)
    return float(
        sum(abs(right[which == b].sum() - confidence[which == b].sum()) for b in range(bins)) / y.size
    )


def test_the_default_gate_and_every_score_check_use_the_declared_positive_class(
    db_url: str, tmp_path: Path, versions: tuple[Pipeline, Pipeline]
) -> None:
    good, weak = versions
    model, (X, y) = served_and_replayed(db_url, tmp_path, good, weak)
    pa_, pb = weak.predict_proba(X)[:, 0], good.predict_proba(X)[:, 0]  # classes_: approve, reject
    assert list(good.classes_) == ["approve", "reject"]

    # The default gate (accuracy and ROC AUC non-inferiority): the ROC AUC check errored (pos_label None).
    default = model.gate("v2", **DAY)
    assert default.status == "pass", default.verdict
    auc = next(c for c in default.comparisons if c["metric"] == "roc_auc")
    assert auc["champion"] == pytest.approx(roc_auc_score(y == "approve", pa_), abs=1e-12)
    assert auc["challenger"] == pytest.approx(roc_auc_score(y == "approve", pb), abs=1e-12)
    assert auc["champion"] > 0.5  # the probability of "approve" ranks approvals first

    # A gate's other checks are about the challenger's outputs, read with the positive class: a ROC AUC
    # and PR AUC floor (from the score histograms: within their bin width), the Brier score, the
    # calibration error, and precision of "approve".
    suite = Suite(
        "floors",
        [
            non_inferior("roc_auc", margin=0.01),
            Check("roc_auc", ge(0.5)),
            Check("average_precision", ge(0.5)),
            Check("brier_score", le(0.5)),
            Check("expected_calibration_error", le(0.5)),
            Check("precision", ge(0.5)),
        ],
    )
    floors = model.gate("v2", suite, **DAY)
    got = {c["metric"]: c for c in floors.checks["checks"]}
    assert all(c["status"] == "pass" for c in got.values()), got
    assert got["roc_auc"]["actual"] == pytest.approx(roc_auc_score(y == "approve", pb), abs=1e-3)
    assert got["average_precision"]["actual"] == pytest.approx(
        average_precision_score(y, pb, pos_label="approve"), abs=2e-3
    )
    assert got["brier_score"]["actual"] == pytest.approx(
        brier_score_loss(y, pb, pos_label="approve"), abs=1e-9
    )
    assert got["expected_calibration_error"]["actual"] == pytest.approx(
        top_label_ece(y, good.predict(X), pb), abs=1e-9
    )
    assert got["precision"]["actual"] == pytest.approx(
        precision_score(y, good.predict(X), pos_label="approve"), abs=1e-12
    )


def test_compare_versions_reads_every_score_as_the_positive_class(
    db_url: str, tmp_path: Path, versions: tuple[Pipeline, Pipeline]
) -> None:
    good, weak = versions
    model, (X, y) = served_and_replayed(db_url, tmp_path, good, weak)
    pa_, pb = weak.predict_proba(X)[:, 0], good.predict_proba(X)[:, 0]
    found = model.compare_versions(champion="champion", challenger="v2", **DAY)
    assert [c["metric"] for c in found.comparisons] == ["accuracy", "roc_auc"]
    auc = found.comparisons[1]
    assert auc["test"] == "delong"
    assert (auc["champion"], auc["challenger"]) == pytest.approx(
        (roc_auc_score(y == "approve", pa_), roc_auc_score(y == "approve", pb)), abs=1e-12
    )
    deltas = auc["deltas"]
    assert deltas["average_precision"]["champion"] == pytest.approx(
        average_precision_score(y, pa_, pos_label="approve"), abs=1e-12
    )
    assert deltas["average_precision"]["challenger"] == pytest.approx(
        average_precision_score(y, pb, pos_label="approve"), abs=1e-12
    )
    ece = deltas["expected_calibration_error"]
    assert ece["champion"] == pytest.approx(top_label_ece(y, weak.predict(X), pa_), abs=1e-9)
    assert ece["challenger"] == pytest.approx(top_label_ece(y, good.predict(X), pb), abs=1e-9)


def test_the_library_reads_a_declared_positive_class_without_a_task() -> None:
    """Suite.run and fairness on raw rows whose schema declares ``positive`` but leaves the task open (the
    task inferred from words used to drop the declared class)."""
    rng = np.random.default_rng(3)
    n = 1500
    y = rng.choice(["approve", "reject"], n)
    p = np.clip(np.where(y == "approve", 0.65, 0.35) + rng.normal(0, 0.2, n), 0, 1)
    pred = np.where(p > 0.5, "approve", "reject")
    g = rng.choice(["a", "b"], n)
    df = pd.DataFrame({"decision": pred, "outcome": y, "p_approve": p, "g": g})
    schema = lw.Schema.from_dict(
        {
            "positive": "approve",
            "columns": {
                "decision": {"role": "prediction"},
                "outcome": {"role": "target"},
                "p_approve": {"role": "score"},
                "g": {"role": "segment"},
            },
        }
    )
    results = Suite("s", [Check("roc_auc", ge(0)), Check("recall", ge(0))]).run(df, schema=schema).results
    assert results[0].actual == pytest.approx(roc_auc_score(y == "approve", p), abs=1e-3)
    assert results[1].actual == pytest.approx(recall_score(y, pred, pos_label="approve"), abs=1e-12)
    declared = lw.fairness(df, "g", schema)["demographic_parity_difference"].value
    named = lw.fairness(df, "g", schema, pos_label="approve")["demographic_parity_difference"].value
    rates = [np.mean(pred[g == k] == "approve") for k in ("a", "b")]
    assert declared == named == pytest.approx(abs(rates[0] - rates[1]), abs=1e-12)
