"""A challenger on replayed traffic: its stored outputs, idempotency, live shadow, and the paired comparison
checked against scikit-learn, statsmodels and the library's tested functions on arrays joined with pandas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sqlalchemy import select
from statsmodels.stats.contingency_tables import mcnemar
from tests._fixtures import Running
from tests._fixtures.registry import OPENED, SCHEMA, applicants, http_client, open_model

import loopwise as lw
from loopwise.client.base import ModelHandle
from loopwise.errors import DataError, NotFoundError, ServerError
from loopwise.metrics.champion import compare_models
from loopwise.registry import RegistrySettings
from loopwise.store.tables import OutputBatch

START, END = "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z"
T0 = pd.Timestamp("2026-12-01 09:00", tz="UTC")


@pytest.fixture(scope="module")
def challenger(train: tuple[pd.DataFrame, pd.Series]) -> Pipeline:
    """A weaker version: it sees income only (age is constant in its training data)."""
    X, y = train
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X.assign(age=0.0), y)


def traffic(n: int, seed: int, first: int, served_by: Pipeline) -> tuple[pd.DataFrame, pd.Series]:
    X, y = applicants(n, seed)
    ids = [f"e{first + i}" for i in range(n)]
    frame = X.assign(
        id=ids,
        ts=T0 + pd.to_timedelta((first + np.arange(n)) * 20, unit="s"),
        approved=served_by.predict(X),
        p_approved=served_by.predict_proba(X)[:, 1],
    )
    return frame, y.set_axis(ids)


def _decoded(model: ModelHandle, version: str | None = None) -> pd.DataFrame:
    """The stored outputs, each blob read with SQLAlchemy and decoded by pyarrow itself (the format: event
    ids, predictions, JSON text when marked so, a ``score:<class>`` column per class)."""
    transport = model.transport
    q = select(OutputBatch.version, OutputBatch.source, OutputBatch.arrow).order_by(OutputBatch.id)
    frames = []
    with transport.read_sessions() as s:  # type: ignore[attr-defined]
        for v, source, blob in s.execute(q if version is None else q.where(OutputBatch.version == version)):
            table = pa.ipc.open_stream(pa.py_buffer(blob)).read_all()
            meta = table.schema.field("prediction").metadata or {}
            predictions = table.column("prediction").to_pylist()
            if meta.get(b"json") == b"1":
                predictions = [None if p is None else json.loads(p) for p in predictions]
            classes = [c for c in table.column_names if c.startswith("score:")]
            per_class = {c.removeprefix("score:"): table.column(c).to_pylist() for c in classes}
            scores = [
                {c: x[i] for c, x in per_class.items() if x[i] is not None} or None
                for i in range(table.num_rows)
            ]
            frames.append(
                pd.DataFrame(
                    {
                        "id": table.column("event_id").to_pylist(),
                        "version": v,
                        "prediction": pd.Series(predictions, dtype=object),
                        "scores": pd.Series(scores, dtype=object),
                        "source": source,
                    }
                )
            )
    empty = pd.DataFrame(columns=["id", "version", "prediction", "scores", "source"])
    return pd.concat(frames, ignore_index=True) if frames else empty


def stored(model: ModelHandle, version: str) -> pd.DataFrame:
    """The stored outputs of a version by event id; each (event, version) is stored once."""
    found = _decoded(model, version)
    assert not found.id.duplicated().any(), "an (event, version) stored twice"
    return found.drop(columns="version").set_index("id")


def count(model: ModelHandle) -> int:
    """The stored outputs of every version."""
    found = _decoded(model)
    assert not found.duplicated(["id", "version"]).any(), "an (event, version) stored twice"
    return len(found)


@pytest.fixture
def served(
    db_url: str,
    tmp_path: Path,
    pipeline: Pipeline,
    challenger: Pipeline,
    train: tuple[pd.DataFrame, pd.Series],
) -> tuple[ModelHandle, pd.DataFrame, pd.Series]:
    """600 events served by v1, with v2 registered beside it; no labels yet."""
    model = open_model(db_url, tmp_path / "artifacts")
    sample = train[0].head(50)
    model.register_version("v1", pipeline, sample=sample)
    model.register_version("v2", challenger, sample=sample)
    frame, y = traffic(600, 2, 0, pipeline)
    model.log(frame, version="v1")
    return model, frame, y


def test_replayed_outputs_equal_the_estimators_own_and_are_stored_once(
    served: tuple[ModelHandle, pd.DataFrame, pd.Series], challenger: Pipeline, pipeline: Pipeline
) -> None:
    model, frame, _ = served
    first = model.evaluate_version("v2", start=START, end=END, batch_rows=250)
    assert (first.events, first.evaluated, first.already, first.served_by_version) == (600, 600, 0, 0)
    assert [b.rows for b in first.batches] == [250, 250, 100]
    assert all(b.seconds > 0 and b.rows_per_second > 0 for b in first.batches)
    assert 0 < first.latency["p50_ms"] <= first.latency["p99_ms"] and 1 <= first.latency["rows"] <= 50

    got = stored(model, "v2").loc[frame.id]
    features = frame[["income", "age"]]
    np.testing.assert_array_equal(got.prediction.to_numpy(bool), challenger.predict(features))
    proba = challenger.predict_proba(features)
    np.testing.assert_allclose([s["false"] for s in got.scores], proba[:, 0], rtol=1e-12)
    np.testing.assert_allclose([s["true"] for s in got.scores], proba[:, 1], rtol=1e-12)
    assert set(got.source) == {"replay"}

    again = model.evaluate_version("v2", start=START, end=END)
    assert (again.evaluated, again.already, again.batches) == (0, 600, [])
    assert count(model) == 600

    more, _ = traffic(100, 3, 600, pipeline)
    model.log(more, version="v1")
    later = model.evaluate_version("v2", start=START, end=END)
    assert (later.events, later.evaluated, later.already) == (700, 100, 600)
    assert count(model) == 700
    # The version that served the events is not replayed on them: its outputs are the logged ones.
    own = model.evaluate_version("v1", start=START, end=END)
    assert (own.served_by_version, own.evaluated, count(model)) == (700, 0, 700)


def _replayed_equal_own(model: ModelHandle, frame: pd.DataFrame, challenger: Pipeline) -> None:
    """The stored outputs of v2 for ``frame``'s events equal the estimator's own answers on their rows."""
    got = stored(model, "v2").loc[frame.id]
    features = frame[["income", "age"]]
    np.testing.assert_array_equal(got.prediction.to_numpy(bool), challenger.predict(features))
    proba = challenger.predict_proba(features)
    np.testing.assert_allclose([s["true"] for s in got.scores], proba[:, 1], rtol=1e-12)


def test_a_window_inside_the_stored_batches_replays_exactly_its_events(
    db_url: str,
    tmp_path: Path,
    pipeline: Pipeline,
    challenger: Pipeline,
    train: tuple[pd.DataFrame, pd.Series],
) -> None:
    # Three stored batches of 200 events; the window starts inside the first and ends inside the third, and
    # replay batches of 70 rows straddle the stored ones: each row must come from its own batch and place.
    model = open_model(db_url, tmp_path / "artifacts")
    model.register_version("v1", pipeline, sample=train[0].head(50))
    model.register_version("v2", challenger, sample=train[0].head(50))
    parts = [traffic(200, 10 + k, 200 * k, pipeline)[0] for k in range(3)]
    for part in parts:
        model.log(part, version="v1")
    frame = pd.concat(parts, ignore_index=True)
    start, end = T0 + pd.Timedelta(seconds=1000), T0 + pd.Timedelta(seconds=9000)  # events 50 .. 449
    inside = frame[(frame.ts >= start) & (frame.ts < end)]
    run = model.evaluate_version("v2", start=start.isoformat(), end=end.isoformat(), batch_rows=70)
    assert (run.events, run.evaluated, [b.rows for b in run.batches]) == (400, 400, [70] * 5 + [50])
    assert set(stored(model, "v2").index) == set(inside.id)
    _replayed_equal_own(model, inside, challenger)

    rest = model.evaluate_version("v2", start=START, end=END, batch_rows=70)  # skips the stored 400
    assert (rest.events, rest.evaluated, rest.already) == (600, 200, 400)
    _replayed_equal_own(model, frame, challenger)


def test_event_ids_that_need_escaping_are_stored_as_given(
    served: tuple[ModelHandle, pd.DataFrame, pd.Series], pipeline: Pipeline, challenger: Pipeline
) -> None:
    # Backslashes, tabs, newlines and quotes are escaped for COPY's text and JSON on the way in.
    model, _, _ = served
    odd = ["a\\tb", "tab\there", "new\nline", 'quote"d', "cr\rx", "ünï", "back\\"]
    frame, _ = traffic(len(odd), 7, 900, pipeline)
    frame = frame.assign(id=odd)
    model.log(frame, version="v1")
    model.evaluate_version("v2", start=START, end=END)
    assert set(odd) <= set(stored(model, "v2").index)
    _replayed_equal_own(model, frame, challenger)


def _joined(model: ModelHandle, frame: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    """Served outputs (the logged frame), the challenger's stored outputs and the labels, joined by id."""
    other = stored(model, "v2")
    return (
        frame.set_index("id")[["approved", "p_approved"]]
        .join(other[["prediction", "scores"]], how="inner")
        .join(labels.rename("label"), how="inner")
    )


def test_the_comparison_matches_statsmodels_and_grows_with_labels(
    served: tuple[ModelHandle, pd.DataFrame, pd.Series], challenger: Pipeline, pipeline: Pipeline
) -> None:
    model, frame, y = served
    model.evaluate_version("v2", start=START, end=END)
    model.set_alias("champion", "v1")

    none = model.compare_versions(champion="champion", challenger="v2", start=START, end=END)
    features = frame[["income", "age"]]
    agree = np.mean(pipeline.predict(features) == challenger.predict(features))
    assert (none.champion, none.paired, none.labels, none.verdict) == ("v1", 600, 0, "inconclusive: 0 labels")
    assert none.agreement == pytest.approx(agree)

    few = frame.id[:40]
    model.log_feedback(few, y[few])
    small = model.compare_versions(champion="v1", challenger="v2", start=START, end=END)
    assert small.labels == 40
    accuracy = small.comparisons[0]
    joined = _joined(model, frame, y[few])
    ok_a = joined.approved == joined.label
    ok_b = joined.prediction.astype(bool) == joined.label
    table = pd.crosstab(ok_a, ok_b).reindex(index=[True, False], columns=[True, False], fill_value=0)
    discordant = int(table.loc[True, False] + table.loc[False, True])
    expected = mcnemar(table.to_numpy(), exact=discordant <= 25, correction=True)
    assert accuracy["metric"] == "accuracy"
    assert accuracy["p_value"] == pytest.approx(expected.pvalue, rel=1e-9)
    # "needs about m": McNemar's standard error of the difference on these 40 pairs, the effect detectable
    # at 80% power, and the labels at which it shrinks to the difference observed (se ~ 1/sqrt(n)).
    b, c = int(table.loc[True, False]), int(table.loc[False, True])
    se = np.sqrt(b + c - (c - b) ** 2 / 40) / 40
    mde = (norm.ppf(0.975) + norm.ppf(0.8)) * se
    needed = int(np.ceil(40 * (mde / abs((c - b) / 40)) ** 2))
    assert small.needed == needed and needed > 40
    assert small.verdict == f"inconclusive: 40 labels, needs about {needed}"

    model.log_feedback(frame.id, y[frame.id])
    full = model.compare_versions(champion="v1", challenger="v2", start=START, end=END)
    joined = _joined(model, frame, y)
    ok_a = joined.approved == joined.label
    ok_b = joined.prediction.astype(bool) == joined.label
    b, c = int((ok_a & ~ok_b).sum()), int((~ok_a & ok_b).sum())
    expected = mcnemar([[int((ok_a & ok_b).sum()), b], [c, int((~ok_a & ~ok_b).sum())]], exact=False)
    accuracy, auc = full.comparisons
    assert full.labels == 600
    assert accuracy["p_value"] == pytest.approx(expected.pvalue, rel=1e-9)
    assert accuracy["difference"] == pytest.approx(ok_b.mean() - ok_a.mean())
    challenger_scores = [s["true"] for s in joined.scores]
    assert auc["champion"] == pytest.approx(roc_auc_score(joined.label, joined.p_approved))
    assert auc["challenger"] == pytest.approx(roc_auc_score(joined.label, challenger_scores))
    direct = compare_models(
        joined.approved.to_numpy(),
        joined.prediction.astype(bool).to_numpy(),
        joined.label.to_numpy(),
        metric="roc_auc",
        champion_scores=joined.p_approved.to_numpy(),
        challenger_scores=np.array(challenger_scores),
    )
    assert auc["test"] == "delong" and auc["p_value"] == pytest.approx(direct.p_value, rel=1e-9)
    # The challenger is truly weaker (0.845 vs 0.875 accuracy on these rows): 600 labels show it.
    assert full.verdict == "challenger worse" and full.needed is None
    assert full.challenger_ms_per_row is not None and full.challenger_ms_per_row > 0


def test_a_version_logged_before_it_was_registered_is_compared_by_its_label(
    db_url: str,
    tmp_path: Path,
    pipeline: Pipeline,
    challenger: Pipeline,
    train: tuple[pd.DataFrame, pd.Series],
) -> None:
    """The trial: events logged with version="legacy" (never registered) answered "no version or alias
    named 'legacy'"; their served outputs are what a challenger should be compared with."""
    model = open_model(db_url, tmp_path / "artifacts")
    model.register_version("v2", challenger, sample=train[0].head(50))
    frame, y = traffic(300, 7, 0, pipeline)
    model.log(frame, version="legacy")
    model.evaluate_version("v2", start=START, end=END)
    model.log_feedback(frame.id, y[frame.id])
    found = model.compare_versions(champion="legacy", challenger="v2", start=START, end=END)
    features = frame[["income", "age"]]
    assert (found.champion, found.paired, found.labels) == ("legacy", 300, 300)
    assert found.agreement == pytest.approx(
        np.mean(frame.approved.to_numpy() == challenger.predict(features))
    )
    with pytest.raises(NotFoundError, match="no version, alias or logged version named 'legasy'") as err:
        model.compare_versions(champion="legasy", challenger="v2", start=START, end=END)
    assert str(err.value).endswith("named 'legasy'")  # a name mistyped: no word of aliases
    # No alias is set yet (the first gate's usual case, where the defaults name nothing): say so, and which
    # option names the version instead.
    for role, kwargs in (("champion", {"challenger": "v2"}), ("challenger", {"champion": "legacy"})):
        with pytest.raises(NotFoundError) as err:
            model.compare_versions(**kwargs, start=START, end=END)  # type: ignore[arg-type]
        hint = f"; no alias is set yet: name the version to compare with (--{role} VERSION in the CLI)"
        assert str(err.value).endswith(f"named {role!r}{hint}")


def test_log_shadow_refuses_unknown_events_and_unregistered_versions(
    served: tuple[ModelHandle, pd.DataFrame, pd.Series], challenger: Pipeline
) -> None:
    model, frame, _ = served
    ids = list(frame.id[:5])
    with pytest.raises(DataError, match=r"2 event ids not logged for model 'credit': 'nope-1', 'nope-2'"):
        model.log_shadow("v2", [*ids, "nope-1", "nope-2"], [True] * 7)
    with pytest.raises(NotFoundError, match="no version named 'v9'"):
        model.log_shadow("v9", ids, [True] * 5)
    with pytest.raises(DataError, match="served 5 of these events"):
        model.log_shadow("v1", ids, [True] * 5)
    assert count(model) == 0

    rows = frame[frame.id.isin(ids)]
    proba = challenger.predict_proba(rows[["income", "age"]])[:, 1]
    assert model.log_shadow("v2", ids, challenger.predict(rows[["income", "age"]]), proba) == {
        "stored": 5,
        "already": 0,
    }
    assert model.log_shadow("v2", ids, [False] * 5) == {"stored": 0, "already": 5}
    got = stored(model, "v2").loc[ids]
    assert list(got.prediction) == challenger.predict(rows[["income", "age"]]).tolist()
    np.testing.assert_allclose([s["true"] for s in got.scores], proba)
    assert set(got.source) == {"shadow"}
    # Replay skips what shadow traffic already answered.
    assert model.evaluate_version("v2", start=START, end=END).evaluated == 595


def test_per_segment_changes_equal_pandas_groupby(
    tmp_path: Path, pipeline: Pipeline, challenger: Pipeline, train: tuple[pd.DataFrame, pd.Series]
) -> None:
    from loopwise.store import sqlite_url

    client = lw.Client.local(
        sqlite_url(tmp_path / "seg.db"), registry=RegistrySettings(artifact_dir=tmp_path / "a")
    )
    OPENED.append(client)
    schema = {"columns": {**SCHEMA["columns"], "region": {"role": "segment", "kind": "categorical"}}}
    model = client.register("credit", schema)
    model.register_version("v1", pipeline, sample=train[0].head(50))
    model.register_version("v2", challenger, sample=train[0].head(50))
    frame, y = traffic(400, 4, 0, pipeline)
    frame["region"] = np.where(frame.income > 50, "north", "south")
    model.log(frame, version="v1")
    model.evaluate_version("v2", start=START, end=END)
    model.log_feedback(frame.id, y[frame.id])
    found = model.compare_versions(champion="v1", challenger="v2", start=START, end=END)

    features = frame[["income", "age"]]
    right = pd.DataFrame(
        {
            "region": frame.region.to_numpy(),
            "champion": pipeline.predict(features) == y.to_numpy(),
            "challenger": challenger.predict(features) == y.to_numpy(),
        }
    )
    expected = right.groupby("region").agg(["mean", "size"])
    for region, row in expected.iterrows():
        got = found.segments["region"][str(region)]
        assert got["n"] == row[("champion", "size")]
        assert got["champion"] == pytest.approx(row[("champion", "mean")])
        assert got["challenger"] == pytest.approx(row[("challenger", "mean")])
        assert got["change"] == pytest.approx(row[("challenger", "mean")] - row[("champion", "mean")])
    # Fairness across the segment, before and after: the library's deltas, as fairlearn computes them.
    from fairlearn.metrics import demographic_parity_difference

    deltas = found.comparisons[0]["deltas"]["demographic_parity_difference"]
    for who, estimator in (("champion", pipeline), ("challenger", challenger)):
        expected_dpd = demographic_parity_difference(
            y.to_numpy(), estimator.predict(features), sensitive_features=frame.region.to_numpy()
        )
        assert deltas[who] == pytest.approx(expected_dpd)


@pytest.fixture
def served_over_http(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str, request: pytest.FixtureRequest
) -> Running:
    monkeypatch.setenv("LOOPWISE_ARTIFACT_DIR", str(tmp_path / "served-artifacts"))
    running: Running = request.getfixturevalue("server")
    return running


def test_evaluate_shadow_and_compare_over_http(
    served_over_http: Running,
    tmp_path: Path,
    pipeline: Pipeline,
    challenger: Pipeline,
    train: tuple[pd.DataFrame, pd.Series],
) -> None:
    server = served_over_http
    http_client(server.url, server.admin_key).register("credit", SCHEMA)
    maintainer = http_client(server.url, server.key("maintainer")).model("credit")
    # An ingest key may not read the model's schema (Client.model does): its handle is made directly.
    ingest = ModelHandle("credit", http_client(server.url, server.key("ingest")).transport, "id")
    viewer = http_client(server.url, server.key("viewer")).model("credit")
    sample = train[0].head(50)
    maintainer.register_version("v1", pipeline, sample=sample)
    maintainer.register_version("v2", challenger, sample=sample)
    maintainer.register_version("v3", pipeline, sample=sample)
    frame, y = traffic(300, 5, 0, pipeline)
    ingest.log(frame, version="v1")

    with pytest.raises(ServerError) as refused:
        viewer.evaluate_version("v2", start=START, end=END)
    assert refused.value.status == 403
    run = maintainer.evaluate_version("v2", start=START, end=END, batch_rows=100)
    assert (run.events, run.evaluated, [b.rows for b in run.batches]) == (300, 300, [100, 100, 100])
    assert maintainer.evaluate_version("v2", start=START, end=END).already == 300

    ids = list(frame.id[:10])
    with pytest.raises(DataError, match=r"1 event id not logged for model 'credit': 'ghost'"):
        ingest.log_shadow("v3", [*ids, "ghost"], [True] * 11)
    with pytest.raises(NotFoundError, match="no version named 'v9'"):
        ingest.log_shadow("v9", ids, [True] * 10)
    with pytest.raises(ServerError) as refused:
        viewer.log_shadow("v3", ids, [True] * 10)
    assert refused.value.status == 403
    rows = frame.set_index("id").loc[ids, ["income", "age"]]
    assert ingest.log_shadow("v3", ids, pipeline.predict(rows), pipeline.predict_proba(rows)[:, 1]) == {
        "stored": 10,
        "already": 0,
    }

    ingest.log_feedback(frame.id, y[frame.id])
    over_http = viewer.compare_versions(champion="v1", challenger="v2", start=START, end=END)
    local = lw.Client.local(server.db_url, registry=RegistrySettings(artifact_dir=tmp_path / "unused"))
    OPENED.append(local)
    here = local.model("credit").compare_versions(champion="v1", challenger="v2", start=START, end=END)
    assert over_http == here
    assert (over_http.paired, over_http.labels) == (300, 300)
    joined = _joined_http(frame, y, challenger)
    ok_a, ok_b = joined.approved == joined.label, joined.challenger == joined.label
    b, c = int((ok_a & ~ok_b).sum()), int((~ok_a & ok_b).sum())
    table = [[int((ok_a & ok_b).sum()), b], [c, int((~ok_a & ~ok_b).sum())]]
    expected = mcnemar(table, exact=b + c <= 25, correction=True)
    assert over_http.comparisons[0]["p_value"] == pytest.approx(expected.pvalue, rel=1e-9)
    # v3 answered only ten events (shadow): the comparison pairs those ten alone.
    shadowed = viewer.compare_versions(champion="v1", challenger="v3", start=START, end=END)
    assert (shadowed.paired, shadowed.labels, shadowed.agreement) == (10, 10, 1.0)


def _joined_http(frame: pd.DataFrame, y: pd.Series, challenger: Pipeline) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "approved": frame.approved.to_numpy(),
            "challenger": challenger.predict(frame[["income", "age"]]),
            "label": y[frame.id].to_numpy(),
        }
    )


def test_two_evaluations_at_once_store_each_event_once(
    served: tuple[ModelHandle, pd.DataFrame, pd.Series], challenger: Pipeline
) -> None:
    """Both runs find the 600 events pending; the version's writers take turns (SQLite's one writer, an
    advisory lock on PostgreSQL) and each write leaves out what a blob stored meanwhile holds."""
    import threading

    model, frame, _ = served
    runs: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            runs.append(model.evaluate_version("v2", start=START, end=END, batch_rows=50))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert count(model) == 600  # and none twice: count() checks it
    _replayed_equal_own(model, frame, challenger)


def test_the_comparison_reads_the_labels_ingest_would(
    served: tuple[ModelHandle, pd.DataFrame, pd.Series], challenger: Pipeline
) -> None:
    """Ground truth first, else the latest reviewer label or correction: pair() reads the window's labels
    in bulk, and its choice is ``ingest.labels_for``'s, event by event; an event served by the challenger
    itself pairs with its logged outputs."""
    import datetime as dt

    from loopwise.ingest import get_model, labels_for
    from loopwise.registry.comparison import pair
    from loopwise.registry.values import to_list

    model, frame, y = served
    model.evaluate_version("v2", start=START, end=END)
    ids = list(frame.id)
    model.log_feedback(ids[:200], y[ids[:200]])
    model.log_feedback(ids[100:300], ~y[ids[100:300]], source="reviewer:ann")
    model.log_feedback(ids[250:350], y[ids[250:350]], source="reviewer:bob", kind="correction")
    model.log_feedback(ids[340:360], ["maybe"] * 20, source="reviewer:cy")
    # 50 events served by v2 itself: its outputs for them are the logged ones.
    more, _ = traffic(50, 9, 700, challenger)
    model.log(more, version="v2")
    window = (dt.datetime(2026, 12, 1, tzinfo=dt.UTC), dt.datetime(2026, 12, 2, tzinfo=dt.UTC))
    with model.transport.read_sessions() as s:  # type: ignore[attr-defined]
        p = pair(s, "credit", "v1", "v2", *window)
        expected = labels_for(s, get_model(s, "credit").id, ids)
    assert p.ids.to_pylist() == ids and p.logged == 650  # v1 did not answer v2's 50: unpaired
    assert p.label_of() == expected and len(expected) == 360
    assert to_list(p.labels)[340:360] == ["maybe"] * 20 and to_list(p.labels)[360:] == [None] * 240
    other = stored(model, "v2").loc[ids]
    assert to_list(p.challenger_predictions) == other.prediction.tolist()
    assert p.challenger_scores.to_pylist() == [sc["true"] for sc in other.scores]
    assert to_list(p.champion_predictions) == frame.approved.tolist()
    assert p.champion_scores.to_pylist() == frame.p_approved.tolist()
    with model.transport.read_sessions() as s:  # type: ignore[attr-defined]
        back = pair(s, "credit", "v2", "v1", *window)
    assert (back.ids.to_pylist(), to_list(back.champion_predictions)) == (ids, other.prediction.tolist())
    assert len(back.challenger_ms) == 0  # v1 was not replayed
    assert len(p.challenger_ms) == 600 and all(ms > 0 for ms in p.challenger_ms)
