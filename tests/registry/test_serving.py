"""Serving from the registry (decision 0029), on both databases with real scikit-learn models: replayed
outputs with one model call equal the estimator's own, a loaded alias follows its moves, the champion's
predictions are logged under its version and counted, the shadow's outputs arrive, evaluations run as
jobs, and raw artifact uploads are streamed under the size limit."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from tests._fixtures import Running, wait_for
from tests._fixtures.registry import SCHEMA, applicants, http_client, open_model, stored_files
from tests.registry.test_replay import END, START, stored, traffic

from loopwise.client.base import ModelHandle
from loopwise.errors import DataError, LimitError, NotFoundError
from loopwise.registry.outputs import (
    decode_predictions,
    encode_predictions,
    is_json,
    output_table,
    pack,
    probabilities,
    score_dicts,
    unpack,
)


@pytest.fixture
def _artifact_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "served-artifacts"
    monkeypatch.setenv("LOOPWISE_ARTIFACT_DIR", str(folder))
    return folder


@pytest.fixture
def server(_artifact_env: Path, server: Running) -> Running:
    """The shared server, started after its artifact folder is set to the test's own (read at start-up;
    else a server on PostgreSQL would store under ./artifacts)."""
    return server


@pytest.fixture(scope="module")
def challenger(train: tuple[pd.DataFrame, pd.Series]) -> Pipeline:
    X, y = train
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X.assign(age=0.0), y)


def test_predictions_and_probabilities_come_back_from_a_blob_as_they_were_given() -> None:
    values = np.array([0.1, 1e300, float("nan"), -float("inf"), 3.0])
    texts = np.array(['say "hi"', "b\\c", "ünï", 'say "hi"'], dtype=object)
    cases: list[tuple[Any, list[Any]]] = [
        (values, [0.1, 1e300, None, None, 3.0]),  # non-finite numbers as null, as JSON had them
        (np.array([True, False]), [True, False]),
        (np.array([3, -2], dtype=np.int64), [3, -2]),
        (np.array([7], dtype=np.uint64), [7]),
        (texts, texts.tolist()),
        (["a", 1, None], ["a", 1, None]),  # mixed types, as a shadow caller may send: JSON text
        ([True, 1], [True, 1]),  # NumPy would have made two integers of these
        ([[1, 2], {"k": "v"}], [[1, 2], {"k": "v"}]),
        ([2**70, "x\udcff"], [2**70, "x\udcff"]),  # past 64 bits, a lone surrogate: as JSON
    ]
    for given, expected in cases:
        preds = encode_predictions(given)
        proba = np.array([[0.25, 0.75]] * len(expected))
        blob = pack(
            output_table([f"e{i}" for i in range(len(expected))], preds, probabilities([False, True], proba))
        )
        table = pa.ipc.open_stream(pa.py_buffer(blob)).read_all()
        back = decode_predictions(table.column("prediction"), is_json(table))
        assert back == expected and [type(v) for v in back] == [type(v) for v in expected], given
        assert table.column("score:true").to_pylist() == [0.75] * len(expected)
        assert unpack(blob, ["event_id", "score:false", "nope"]).column_names == ["event_id", "score:false"]
    scores = score_dicts([{"no": 0.4, "yes": 0.6}, None, {"yes": 1.0}])
    assert {k: v.to_pylist() for k, v in scores.items()} == {
        "score:no": [0.4, None, None],
        "score:yes": [0.6, None, 1.0],
    }


@pytest.fixture
def hgb_model(
    db_url: str, tmp_path: Path
) -> tuple[ModelHandle, pd.DataFrame, HistGradientBoostingClassifier]:
    """A histogram gradient boosting version (trusted by the operator) and 2,000 events served by another."""
    X, y = applicants(2000, 11)
    est = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(X, y)
    path = tmp_path / "hgb.skops"
    sio.dump(est, path)
    model = open_model(db_url, tmp_path / "artifacts", trusted_types=sio.get_untrusted_types(file=path))
    model.register_version("hgb", path, sample=X.head(50))
    frame, _ = traffic(2000, 12, 0, make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y))
    model.log(frame, version="served")
    return model, frame, est


def test_replay_with_one_model_call_equals_predict_and_predict_proba(
    hgb_model: tuple[ModelHandle, pd.DataFrame, HistGradientBoostingClassifier],
) -> None:
    model, frame, est = hgb_model
    run = model.evaluate_version("hgb", start=START, end=END, batch_rows=700)
    assert run.evaluated == 2000
    got = stored(model, "hgb").loc[frame.id]
    features = frame[["income", "age"]]
    # The label derived from the probabilities is the estimator's own predict, row for row.
    np.testing.assert_array_equal(got.prediction.to_numpy(bool), est.predict(features))
    proba = est.predict_proba(features)
    np.testing.assert_array_equal([s["true"] for s in got.scores], proba[:, 1])
    np.testing.assert_array_equal([s["false"] for s in got.scores], proba[:, 0])


def test_a_classifier_whose_label_is_not_the_argmax_is_called_twice(
    db_url: str, tmp_path: Path, train: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = train
    # A decision threshold of 0.8: predict is not the most probable class for scores between 0.5 and 0.8.
    strict = FixedThresholdClassifier(
        make_pipeline(StandardScaler(), LogisticRegression()), threshold=0.8, response_method="predict_proba"
    ).fit(X, y)
    path = tmp_path / "strict.skops"
    sio.dump(strict, path)
    model = open_model(db_url, tmp_path / "artifacts", trusted_types=sio.get_untrusted_types(file=path))
    model.register_version("strict", path, sample=X.head(50))
    frame, _ = traffic(500, 13, 0, make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y))
    model.log(frame, version="served")
    model.evaluate_version("strict", start=START, end=END)
    got = stored(model, "strict").loc[frame.id].prediction.to_numpy(bool)
    expected = strict.predict(frame[["income", "age"]])
    proba = strict.predict_proba(frame[["income", "age"]])
    assert (expected != strict.classes_[proba.argmax(axis=1)]).any()  # the case is real
    np.testing.assert_array_equal(got, expected)
    assert model.load_version("strict").check_label_from_scores(frame[["income", "age"]]) is False


def _champion_and_shadow(
    model: ModelHandle, pipeline: Pipeline, challenger: Pipeline, sample: pd.DataFrame
) -> None:
    model.register_version("v1", pipeline, sample=sample)
    model.register_version("v2", challenger, sample=sample)
    model.set_alias("champion", "v1")


def test_load_follows_the_alias_and_logs_the_version_that_served(
    db_url: str,
    tmp_path: Path,
    pipeline: Pipeline,
    challenger: Pipeline,
    train: tuple[pd.DataFrame, pd.Series],
) -> None:
    model = open_model(db_url, tmp_path / "artifacts")
    X = train[0]
    _champion_and_shadow(model, pipeline, challenger, X.head(50))
    loaded = model.load("champion", check_every=0)
    assert loaded.version == "v1"
    np.testing.assert_array_equal(loaded.predict(X), pipeline.predict(X))
    model.promote("v2", force=True, reason="the test moves the alias")
    wait_for(lambda: loaded.refresh() == "v2", "the loaded model to follow the alias to v2")
    np.testing.assert_array_equal(loaded.predict_proba(X), challenger.predict_proba(X))
    frame, _ = traffic(40, 21, 0, challenger)
    loaded.log(frame)
    assert model.served(START, END) == {"v2": 40}


def test_over_http_load_checks_with_an_etag_and_reloads_after_a_move(
    server: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pipeline: Pipeline, challenger: Pipeline
) -> None:
    admin = http_client(server.url, server.admin_key)
    admin.register("credit", SCHEMA)
    maintainer = http_client(server.url, server.key("maintainer")).model("credit")
    X, _ = applicants(200, 40)
    _champion_and_shadow(maintainer, pipeline, challenger, X)
    viewer_key = server.key("viewer")
    loaded = http_client(server.url, viewer_key).model("credit").load("champion", check_every=0)
    assert (loaded.version, type(loaded.estimator)) == ("v1", Pipeline)

    url = f"{server.url}/v1/models/credit/aliases/champion"
    auth = {"Authorization": f"Bearer {viewer_key}"}
    first = httpx.get(url, headers=auth)
    assert (first.status_code, first.json()["version"]) == (200, "v1")
    unchanged = httpx.get(url, headers={**auth, "If-None-Match": first.headers["etag"]})
    assert (unchanged.status_code, unchanged.content) == (304, b"")

    admin.model("credit").promote("v2", force=True, reason="the test moves the alias")
    moved = httpx.get(url, headers={**auth, "If-None-Match": first.headers["etag"]})
    assert (moved.status_code, moved.json()["version"]) == (200, "v2")
    wait_for(lambda: loaded.refresh() == "v2", "the loaded model to reload v2")
    np.testing.assert_array_equal(loaded.predict(X), challenger.predict(X))


def test_predict_logs_the_champions_answers_and_the_shadow_answers_beside(
    server: Running,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pipeline: Pipeline,
    challenger: Pipeline,
) -> None:
    admin = http_client(server.url, server.admin_key)
    admin.register("credit", SCHEMA)
    maintainer = http_client(server.url, server.key("maintainer")).model("credit")
    X, _ = applicants(300, 50)
    # An ingest key may not read the model's description: the handle is made with the id column named.
    ingest = ModelHandle("credit", http_client(server.url, server.key("ingest")).transport, "id")
    with pytest.raises(DataError, match="has no champion"):
        ingest.predict(X.head(3))
    _champion_and_shadow(maintainer, pipeline, challenger, X)
    maintainer.set_alias("shadow", "v2")

    rows = X.assign(id=[f"p{i}" for i in range(300)], ts=pd.Timestamp("2026-12-01 10:00", tz="UTC"))
    out = ingest.predict(rows)
    assert (out.version, out.shadow, out.accepted, out.event_ids[:2]) == ("v1", "v2", 300, ["p0", "p1"])
    np.testing.assert_array_equal(out.predictions, pipeline.predict(X))
    assert out.scores is not None
    np.testing.assert_allclose([s["true"] for s in out.scores], pipeline.predict_proba(X)[:, 1], rtol=1e-12)
    # The logged rows are counted by the windows as the champion's, with its scores.
    assert maintainer.served(START, END) == {"v1": 300}
    assert maintainer.metrics(start=START, end=END)["window"]["n"] == 300

    local = open_model(server.db_url, tmp_path / "unused")  # reads the table the server wrote
    wait_for(lambda: len(stored(local, "v2")) == 300, "the shadow's 300 outputs")
    got = stored(local, "v2").loc[[f"p{i}" for i in range(300)]]
    np.testing.assert_array_equal(got.prediction.to_numpy(bool), challenger.predict(X))
    np.testing.assert_allclose([s["true"] for s in got.scores], challenger.predict_proba(X)[:, 1], rtol=1e-12)
    assert set(got.source) == {"shadow"}

    # JSON rows without ids or times get generated ones; a row holding an output is refused.
    r = httpx.post(
        f"{server.url}/v1/models/credit/predict",
        json={"rows": [{"income": 50.0, "age": 30.0}]},
        headers={"Authorization": f"Bearer {server.key('ingest')}"},
    )
    assert r.status_code == 200 and len(r.json()["event_ids"][0]) == 32
    assert (
        r.json()["predictions"] == pipeline.predict(pd.DataFrame({"income": [50.0], "age": [30.0]})).tolist()
    )
    with pytest.raises(DataError, match="'approved', an output"):
        ingest.predict(X.head(2).assign(approved=True))
    with pytest.raises(DataError, match="income"):
        ingest.predict(X.head(2).assign(income="lots"))


def test_predict_in_process_logs_and_shadows(
    db_url: str,
    tmp_path: Path,
    pipeline: Pipeline,
    challenger: Pipeline,
    train: tuple[pd.DataFrame, pd.Series],
) -> None:
    model = open_model(db_url, tmp_path / "artifacts")
    X = train[0].head(100)
    _champion_and_shadow(model, pipeline, challenger, X)
    model.set_alias("shadow", "v2")
    out = model.predict(X.assign(ts=pd.Timestamp("2026-12-01 11:00", tz="UTC")))
    np.testing.assert_array_equal(out.predictions, pipeline.predict(X))
    assert model.served(START, END) == {"v1": 100}
    got = stored(model, "v2").loc[out.event_ids]
    np.testing.assert_array_equal(got.prediction.to_numpy(bool), challenger.predict(X))
    # The same rows again (a retried request: the ids were made by the client): logged once.
    again = model.predict(X.assign(id=out.event_ids, ts=pd.Timestamp("2026-12-01 11:00", tz="UTC")))
    assert (again.accepted, again.duplicates, again.event_ids) == (0, 100, out.event_ids)
    assert model.served(START, END) == {"v1": 100}


def test_an_evaluation_job_runs_in_the_background_to_its_result(
    server: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pipeline: Pipeline, challenger: Pipeline
) -> None:
    admin = http_client(server.url, server.admin_key)
    admin.register("credit", SCHEMA)
    maintainer = http_client(server.url, server.key("maintainer")).model("credit")
    X, _ = applicants(100, 60)
    _champion_and_shadow(maintainer, pipeline, challenger, X)
    frame, _ = traffic(900, 61, 0, pipeline)
    maintainer.log(frame, version="v1")

    r = httpx.post(
        f"{server.url}/v1/models/credit/versions/v2/evaluations",
        json={"start": START, "end": END, "batch_rows": 200},
        headers={"Authorization": f"Bearer {server.key('maintainer')}"},
    )
    assert r.status_code == 202 and r.json()["state"] in ("queued", "running", "done")
    assert r.headers["location"] == f"/v1/models/credit/jobs/{r.json()['id']}"
    viewer = http_client(server.url, server.key("viewer")).model("credit")
    job = viewer.job(r.json()["id"])
    run = job.wait(timeout=120)
    assert (job.state, job.progress, run.evaluated, len(run.batches)) == (
        "done",
        {"done": 900, "total": 900},
        900,
        5,
    )
    local = open_model(server.db_url, tmp_path / "unused")
    np.testing.assert_array_equal(
        stored(local, "v2").loc[frame.id].prediction.to_numpy(bool),
        challenger.predict(frame[["income", "age"]]),
    )
    # A second job stores nothing twice; a job that cannot load its version ends failed, saying why.
    again = maintainer.start_evaluation("v2", start=START, end=END).wait(timeout=120)
    assert (again.evaluated, again.already) == (0, 900)
    with pytest.raises(NotFoundError, match="no version named 'v9'"):
        maintainer.start_evaluation("v9", start=START, end=END)


def test_a_job_that_fails_records_the_error(
    db_url: str, tmp_path: Path, train: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = train
    est = HistGradientBoostingClassifier(max_iter=5).fit(X, y)
    path = tmp_path / "hgb.skops"
    sio.dump(est, path)
    trusting = open_model(db_url, tmp_path / "artifacts", trusted_types=sio.get_untrusted_types(file=path))
    trusting.register_version("hgb", path, sample=X.head(20))
    trusting.log(traffic(50, 70, 0, make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y))[0])
    strict = open_model(db_url, tmp_path / "artifacts")  # the operator withdrew the type since
    job = strict.start_evaluation("hgb", start=START, end=END)
    wait_for(lambda: job.refresh().done, "the job to end")
    assert job.state == "failed" and "outside the allow-list" in (job.error or "")


def test_a_raw_upload_is_streamed_and_an_oversized_one_is_refused_before_it_is_stored(
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    pipeline: Pipeline,
) -> None:
    artifacts = tmp_path / "served-artifacts"
    monkeypatch.setenv("LOOPWISE_ARTIFACT_DIR", str(artifacts))
    monkeypatch.setenv("LOOPWISE_MAX_ARTIFACT_BYTES", "200000")
    server: Running = request.getfixturevalue("server")
    admin = http_client(server.url, server.admin_key)
    admin.register("credit", SCHEMA)
    maintainer = http_client(server.url, server.key("maintainer")).model("credit")
    frame, _ = traffic(60, 80, 0, pipeline)
    maintainer.log(frame, version="v0")  # the dry prediction's rows, as no sample travels with a raw upload
    path = tmp_path / "m.skops"
    sio.dump(pipeline, path)

    v = maintainer.register_version("v1", path, lineage={"code_version": "abc", "params": {"C": 1.0}})
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert (v.sha256, v.lineage["code_version"], v.dry_run["rows"]) == (digest, "abc", 60)
    assert [p.name for p in stored_files(artifacts)] == [v.sha256]

    auth = {"Authorization": f"Bearer {server.key('maintainer')}", "Content-Type": "application/octet-stream"}
    url = f"{server.url}/v1/models/credit/versions"
    declared = httpx.post(url, params={"name": "big"}, content=b"\0" * 300_000, headers=auth)
    assert declared.status_code == 413

    def chunked() -> Iterator[bytes]:  # no Content-Length: refused while streaming, past the limit
        for _ in range(80):
            yield b"\1" * 65536

    streamed = httpx.post(url, params={"name": "big"}, content=chunked(), headers=auth)
    assert streamed.status_code == 413 and "larger than the limit" in streamed.json()["error"]
    assert [p.name for p in stored_files(artifacts)] == [v.sha256]  # nothing else, not even a temporary file
    assert [x.name for x in maintainer.versions()] == ["v1"]
    with pytest.raises(LimitError):
        maintainer.register_version("v2", b"\0" * 300_000)


def test_stored_outputs_keep_the_first_answer_and_odd_ids_round_trip(db_url: str, tmp_path: Path) -> None:
    """Ids with tabs, newlines, backslashes and quotes come back as they were; a second write of some stored
    keys keeps their first answers and adds the rest; small shadow writes fold into one blob."""
    import datetime as dt

    from sqlalchemy import select

    from loopwise.registry.outputs import FOLD_ROWS, store_outputs
    from loopwise.store import transaction
    from loopwise.store.tables import OutputBatch

    model = open_model(db_url, tmp_path / "artifacts")
    sessions = model.transport.sessions  # type: ignore[attr-defined]
    ids = ["a\tb", "c\\d", 'e"f\ng', "h\ri", "plain"]
    t0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    t1 = t0 + dt.timedelta(hours=1)
    proba = np.array([[0.1, 0.9], [0.5, 0.5], [0.7, 0.3], [1.0, 0.0], [0.25, 0.75]])
    labels = encode_predictions(np.array(["x\\y", "z", "x\\y", "q\tr", "z"], dtype=object))
    with transaction(sessions) as s:
        first = output_table(ids, labels, probabilities(["no", "yes"], proba))
        assert store_outputs(s, 1, "v", "replay", first, t0, t1, 0.5).rows == 5
    with transaction(sessions) as s:
        more = output_table([*ids[:2], "new"], encode_predictions(np.array([1, 2, 3])), {})
        assert store_outputs(s, 1, "v", "shadow", more, t0, t1).rows == 1
    got = stored(model, "v")
    assert sorted(got.index) == sorted([*ids, "new"])
    assert [got.prediction[e] for e in ids] == ["x\\y", "z", "x\\y", "q\tr", "z"]
    assert [got.scores[e] for e in ids] == [{"no": p[0], "yes": p[1]} for p in proba.tolist()]
    assert [got.source[e] for e in ids] == ["replay"] * 5 and got.source["new"] == "shadow"
    assert (got.prediction["new"], got.scores["new"]) == (3, None)

    # Live shadow traffic, a few events a request: folded into the version's last shadow blob while the two
    # hold at most FOLD_ROWS rows, so the blobs stay few; a blob's times cover its events'.
    for k in range(30):
        one = output_table([f"s{k}"], encode_predictions([bool(k % 2)]), {})
        with transaction(sessions) as s:
            store_outputs(
                s, 1, "w", "shadow", one, t0 + dt.timedelta(minutes=k), t0 + dt.timedelta(minutes=k)
            )
    with model.transport.read_sessions() as s:  # type: ignore[attr-defined]
        blobs = s.execute(
            select(
                OutputBatch.version,
                OutputBatch.n_rows,
                OutputBatch.first_ts,
                OutputBatch.last_ts,
                OutputBatch.latency_ms,
            ).order_by(OutputBatch.id)
        ).all()
    assert [(b[0], b[1]) for b in blobs] == [("v", 5), ("v", 1), ("w", 30)] and FOLD_ROWS > 30
    assert (blobs[2][2], blobs[2][3]) == (t0, t0 + dt.timedelta(minutes=29))
    assert [b[4] for b in blobs] == [0.5, None, None]
    assert stored(model, "w").prediction.to_dict() == {f"s{k}": bool(k % 2) for k in range(30)}


def test_a_running_job_whose_heartbeat_stopped_is_reported_stalled(
    db_url: str, tmp_path: Path, pipeline: Pipeline, train: tuple[pd.DataFrame, pd.Series]
) -> None:
    import datetime as dt

    from loopwise.registry.jobs import STALLED_AFTER, start_evaluation
    from loopwise.store import transaction
    from loopwise.store.tables import Job

    model = open_model(db_url, tmp_path / "artifacts")
    model.register_version("v1", pipeline, sample=train[0].head(20))
    sessions = model.transport.sessions  # type: ignore[attr-defined]
    with transaction(sessions) as s:  # a job as a process that stopped mid-run leaves it
        job_id = start_evaluation(
            s,
            "credit",
            "v1",
            dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
            dt.datetime(2026, 12, 2, tzinfo=dt.UTC),
            actor="local",
        )
    with transaction(sessions) as s:
        row = s.get(Job, job_id)
        assert row is not None
        row.state, row.heartbeat_at = "running", dt.datetime.now(dt.UTC) - STALLED_AFTER / 2
    assert (model.job(job_id).state, model.job(job_id).stalled) == ("running", False)
    with transaction(sessions) as s:
        row = s.get(Job, job_id)
        assert row is not None
        row.heartbeat_at = dt.datetime.now(dt.UTC) - STALLED_AFTER * 2
    assert (model.job(job_id).state, model.job(job_id).stalled) == ("running", True)


def test_the_shell_predicts_starts_an_evaluation_and_follows_its_job(
    server: Running, tmp_path: Path, pipeline: Pipeline, challenger: Pipeline
) -> None:
    """The trial found no command for `predict` or for a background evaluation's job."""
    from tests._fixtures import run_cli

    admin = http_client(server.url, server.admin_key)
    admin.register("credit", SCHEMA)
    maintainer = http_client(server.url, server.key("maintainer")).model("credit")
    X, _ = applicants(120, 70)
    _champion_and_shadow(maintainer, pipeline, challenger, X)
    key = ["--url", server.url, "--api-key", server.key("maintainer")]
    X.assign(ts=pd.Timestamp("2026-12-01 12:00", tz="UTC")).to_csv(tmp_path / "rows.csv", index=False)

    r = run_cli(
        "versions", "predict", "credit", str(tmp_path / "rows.csv"), "-o", str(tmp_path / "a.parquet"), *key
    )
    assert r.returncode == 0, r.stderr
    assert "120 rows answered by 'v1' and logged (120 new, 0 already stored)" in r.stderr
    answers = pd.read_parquet(tmp_path / "a.parquet")
    np.testing.assert_array_equal(answers.prediction.to_numpy(bool), pipeline.predict(X))
    np.testing.assert_allclose(answers.p_true, pipeline.predict_proba(X)[:, 1], rtol=1e-12)
    assert set(answers.version) == {"v1"} and maintainer.served(START, END) == {"v1": 120}

    r = run_cli("versions", "start-evaluation", "credit", "v2", "--start", START, "--end", END, *key)
    assert r.returncode == 0, r.stderr
    job_id = r.stdout.strip()
    r = run_cli("versions", "job", "credit", job_id, "--wait", *key)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"job {job_id}: done, 120 of 120 events"
    local = open_model(server.db_url, tmp_path / "unused")
    np.testing.assert_array_equal(
        stored(local, "v2").loc[answers.event_id].prediction.to_numpy(bool), challenger.predict(X)
    )
    # One-line errors, exit 2: an unknown job, a local start (its process would end with the command).
    for args in (
        ["versions", "job", "credit", "nope", *key],
        ["versions", "start-evaluation", "credit", "v2", "--start", START, "--end", END],
    ):
        r = run_cli(*args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
