"""A paired comparison read as columns (decision 0058): ``compare_versions`` and the gate on a window where
each version served some events and the other answered them (replayed or shadow), some events have several
labels and some none, checked against statsmodels, scikit-learn and pandas on the raw outputs and labels;
the labels read by one scan of the feedback equal those read per event."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from statsmodels.stats.contingency_tables import mcnemar
from tests._fixtures.registry import OPENED, SCHEMA, applicants

import loopwise as lw
from loopwise.checks import Suite, fairness_budget, non_inferior, superior
from loopwise.client.base import ModelHandle
from loopwise.registry import RegistrySettings, comparison
from loopwise.registry.values import to_list

DAY = {"start": "2026-12-01T00:00:00Z", "end": "2026-12-02T00:00:00Z"}
T0 = pd.Timestamp("2026-12-01 08:00", tz="UTC")
SEGMENTED = {"columns": {**SCHEMA["columns"], "region": {"role": "segment", "kind": "categorical"}}}


def _model(url: str, artifacts: Path) -> ModelHandle:
    client = lw.Client.local(url, registry=RegistrySettings(artifact_dir=artifacts))
    OPENED.append(client)
    client.register("seg", SEGMENTED)
    return client.model("seg")


def _traffic(
    model: ModelHandle, good: Pipeline, weak: Pipeline
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, object]]:
    """1,500 events served by v1 (weak) in two batches, 100 served by v2 (good) with v1's shadow outputs;
    v2 replayed on the day. Labels: ground truth for 1,000 (100 of them also a reviewer's opposite label),
    a reviewer's opposite label only for 100 more, none for the rest."""
    X, y = applicants(1600, 23)
    model.register_version("v1", weak, sample=X.head(50))
    model.register_version("v2", good, sample=X.head(50))
    ids = [f"s{i}" for i in range(1600)]
    frame = X.assign(
        id=ids,
        ts=T0 + pd.to_timedelta(np.arange(1600) * 7, unit="s"),
        region=np.where(X.income > 50, "north", np.where(X.age > 50, "south", "west")),
    )
    a, b = weak.predict(X), good.predict(X)
    sa, sb = weak.predict_proba(X)[:, 1], good.predict_proba(X)[:, 1]
    for lo, hi in ((0, 700), (700, 1500)):
        part = frame.iloc[lo:hi]
        model.log(part.assign(approved=a[lo:hi], p_approved=sa[lo:hi]), version="v1")
    model.log(frame.iloc[1500:].assign(approved=b[1500:], p_approved=sb[1500:]), version="v2")
    model.log_shadow("v1", ids[1500:], a[1500:].tolist(), sa[1500:].tolist())
    model.evaluate_version("v2", **DAY)
    truth = y.to_numpy()
    model.log_feedback(ids[:1000], truth[:1000])
    model.log_feedback(ids[900:1100], ~truth[900:1100], source="reviewer:ann")
    labels: dict[str, object] = {e: bool(t) for e, t in zip(ids[:1000], truth[:1000], strict=True)}
    labels.update({e: not t for e, t in zip(ids[1000:1100], truth[1000:1100], strict=True)})
    return frame, a, b, sa, sb, labels


@pytest.mark.parametrize("scan", [True, False], ids=["labels-scanned", "labels-per-event"])
def test_compare_and_gate_on_columns_equal_statsmodels_sklearn_pandas(
    tmp_path: Path, db_url: str, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, scan: bool
) -> None:
    X, y = applicants(2000, 1)
    weak = make_pipeline(StandardScaler(), LogisticRegression()).fit(X.assign(age=0.0), y)
    model = _model(db_url, tmp_path / "artifacts")
    frame, a, b, sa, sb, labels = _traffic(model, pipeline, weak)
    if not scan:  # the feedback is never small enough: each event's labels probed by its key
        monkeypatch.setattr(comparison, "SCAN_PER_EVENT", 0)
    ids = frame.id.tolist()

    from loopwise.registry.comparison import pair

    with model.transport.read_sessions() as s:  # type: ignore[attr-defined]
        p = pair(s, "seg", "v1", "v2", pd.Timestamp(DAY["start"]), pd.Timestamp(DAY["end"]), ["region"])
    assert p.ids.to_pylist() == ids and p.logged == 1600
    assert to_list(p.champion_predictions) == a.tolist() and to_list(p.challenger_predictions) == b.tolist()
    assert p.champion_scores.to_pylist() == pytest.approx(sa.tolist(), abs=1e-15)
    assert p.challenger_scores.to_pylist() == pytest.approx(sb.tolist(), abs=1e-15)
    assert p.label_of() == labels  # ground truth first (labels_for), else the reviewer's
    assert to_list(p.labels)[1100:] == [None] * 500
    assert len(p.challenger_ms) == 1500  # replayed: v1's 1,500 events

    found = model.compare_versions(champion="v1", challenger="v2", **DAY)
    at = np.array([e in labels for e in ids])
    yy = np.array([labels[e] for e in np.array(ids)[at]], dtype=bool)
    ok_a, ok_b = a[at] == yy, b[at] == yy
    n01, n10 = int(np.sum(ok_a & ~ok_b)), int(np.sum(~ok_a & ok_b))
    table = [[int(np.sum(ok_a & ok_b)), n01], [n10, int(np.sum(~ok_a & ~ok_b))]]
    accuracy, auc = found.comparisons
    assert (found.paired, found.labels) == (1600, 1100)
    assert found.agreement == pytest.approx(float(np.mean(a == b)), abs=1e-15)
    assert accuracy["p_value"] == pytest.approx(mcnemar(table, exact=False, correction=True).pvalue, rel=1e-9)
    assert accuracy["difference"] == pytest.approx(ok_b.mean() - ok_a.mean(), abs=1e-15)
    assert auc["champion"] == pytest.approx(roc_auc_score(yy, sa[at]), abs=1e-12)
    assert auc["challenger"] == pytest.approx(roc_auc_score(yy, sb[at]), abs=1e-12)
    assert found.challenger_ms_per_row is not None and found.challenger_ms_per_row > 0
    hits = pd.DataFrame({"g": frame.region[at], "a": ok_a, "b": ok_b})
    by = hits.groupby("g")
    expected = {
        g: {
            "n": int(n),
            "metric": "accuracy",
            "champion": float(by.a.mean()[g]),
            "challenger": float(by.b.mean()[g]),
            "change": float(by.b.mean()[g] - by.a.mean()[g]),
        }
        for g, n in by.size().items()
    }
    assert found.segments["region"] == expected

    gate = model.gate(
        "v2",
        Suite(
            "g", [superior("accuracy"), non_inferior("roc_auc", margin=0.01), fairness_budget("region", 0.5)]
        ),
        champion="v1",
        **DAY,
    )
    assert (gate.inputs["paired"], gate.inputs["labels"]) == (1600, 1100)
    tested = gate.comparisons[0]
    assert tested["p_value"] == pytest.approx(accuracy["p_value"], rel=1e-12)
    change = by.b.mean() - by.a.mean()
    assert gate.checks["checks"][2]["actual"] == pytest.approx(change.min(), abs=1e-12)


def test_the_two_label_reads_give_one_comparison(
    tmp_path: Path, db_url: str, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan of the feedback and the probe per event: the same comparison, figure for figure, and the
    same gate; the scan reads every model's feedback, this model's labels only count."""
    X, y = applicants(2000, 1)
    weak = make_pipeline(StandardScaler(), LogisticRegression()).fit(X.assign(age=0.0), y)
    model = _model(db_url, tmp_path / "artifacts")
    frame, *_ = _traffic(model, pipeline, weak)
    # Another model's labels for the same event ids must not count.
    client = lw.Client.local(db_url, registry=RegistrySettings(artifact_dir=tmp_path / "a2"))
    OPENED.append(client)
    client.register("other", SCHEMA)
    twin = client.model("other")
    twin.log(
        frame.drop(columns=["region"]).assign(approved=True, p_approved=0.5).iloc[1200:1300], version="x"
    )
    twin.log_feedback(frame.id.iloc[1200:1300], [True] * 100)
    suite = Suite("g", [superior("accuracy"), fairness_budget("region", 0.5)])
    scanned = model.compare_versions(champion="v1", challenger="v2", **DAY).to_dict()
    gated = model.gate("v2", suite, champion="v1", **DAY)
    monkeypatch.setattr(comparison, "SCAN_PER_EVENT", 0)
    probed = model.compare_versions(champion="v1", challenger="v2", **DAY).to_dict()
    again = model.gate("v2", suite, champion="v1", **DAY)
    assert scanned == probed and scanned["labels"] == 1100
    assert gated.checks["checks"] == again.checks["checks"] and gated.comparisons == again.comparisons
