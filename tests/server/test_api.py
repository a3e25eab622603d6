"""The HTTP API on SQLite and PostgreSQL: ingestion, idempotency, feedback, windows, checks."""

from __future__ import annotations

import io
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import accuracy_score
from tests._fixtures import Running
from tests._fixtures.http import client, records, register, traffic

from loopwise.datasets import make_credit


def test_ingest_feedback_and_metrics(server: Running) -> None:
    c = client(server)
    register(c)
    df = traffic(3000, seed=1)
    r = c.post(
        "/v1/models/credit/predictions",
        json={"records": records(df[:1500])},
        headers={"Idempotency-Key": "batch-1"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1500
    # A retry with the same key replays the answer and stores nothing twice.
    again = c.post(
        "/v1/models/credit/predictions",
        json={"records": records(df[:1500])},
        headers={"Idempotency-Key": "batch-1"},
    )
    assert again.json()["accepted"] == 1500 and again.json()["replayed"] is True
    other = c.post(
        "/v1/models/credit/predictions",
        json={"records": records(df[:10])},
        headers={"Idempotency-Key": "batch-1"},
    )
    assert other.status_code == 422 and "different request body" in other.json()["error"]
    # Without a key, the event ids de-duplicate.
    dup = c.post("/v1/models/credit/predictions", json=records(df[1000:2000]))
    assert dup.json() == {"accepted": 500, "duplicates": 500, "batch_id": dup.json()["batch_id"]}
    # Feedback before its prediction arrives, and after.
    early = df.iloc[2500:2600]
    fb = c.post(
        "/v1/models/credit/feedback",
        json=[{"event_id": e, "label": bool(v)} for e, v in zip(early.request_id, early.repaid, strict=True)],
    )
    assert fb.json() == {"stored": 100, "replaced": 0, "joined": 0}
    c.post("/v1/models/credit/predictions", json=records(df[2000:]))
    late = df.iloc[:1000]
    fb = c.post(
        "/v1/models/credit/feedback",
        json={
            "records": [
                {"event_id": e, "label": bool(v)} for e, v in zip(late.request_id, late.repaid, strict=True)
            ]
        },
    )
    assert fb.json() == {"stored": 1000, "replaced": 0, "joined": 1000}
    m = c.get("/v1/models/credit/metrics").json()
    assert m["window"]["n"] == 3000
    labelled = pd.concat([late, early])
    acc = m["performance"]["accuracy"]
    assert acc["value"] == pytest.approx(accuracy_score(labelled.repaid, labelled.approved))
    assert acc["label_coverage"] == pytest.approx(1100 / 3000)
    assert m["operations"]["predictions"] == 3000
    # The index keeps each event's time to the microsecond, in UTC, on both databases.
    assert pd.Timestamp(m["operations"]["first"]) == df["ts"].min()
    assert pd.Timestamp(m["operations"]["last"]) == df["ts"].max()
    # Fairness from the stored buckets' per-segment task profiles, rebuilt when the labels came.
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

    fair = m["fairness"]["race"]["metrics"]
    assert fair["demographic_parity_difference"]["value"] == pytest.approx(
        demographic_parity_difference(df.approved, df.approved, sensitive_features=df.race)
    )  # selection: all rows
    assert fair["equalized_odds_difference"]["value"] == pytest.approx(
        equalized_odds_difference(labelled.repaid, labelled.approved, sensitive_features=labelled.race)
    )
    # A relabel replaces the old label, and says so in the audit log.
    first = late.iloc[0]
    c.post(
        "/v1/models/credit/feedback", json=[{"event_id": first.request_id, "label": not bool(first.repaid)}]
    )
    m2 = c.get("/v1/models/credit/metrics").json()
    changed = labelled.copy()
    changed.loc[changed.request_id == first.request_id, "repaid"] = not bool(first.repaid)
    assert m2["performance"]["accuracy"]["value"] == pytest.approx(
        accuracy_score(changed.repaid.astype(bool), changed.approved)
    )


def test_arrow_and_parquet_bodies_and_windows(server: Running) -> None:
    c = client(server)
    register(c)
    df = traffic(2000, seed=2)
    table = pa.Table.from_pandas(df.drop(columns=["repaid"]), preserve_index=False)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table.slice(0, 1000))
    r = c.post(
        "/v1/models/credit/predictions",
        content=sink.getvalue(),
        headers={"Content-Type": "application/vnd.apache.arrow.stream"},
    )
    assert r.status_code == 200, r.text
    buf = io.BytesIO()
    pq.write_table(table.slice(1000), buf)
    r = c.post(
        "/v1/models/credit/predictions?version=v2",
        content=buf.getvalue(),
        headers={"Content-Type": "application/x-parquet"},
    )
    assert r.json()["accepted"] == 1000
    assert c.get("/v1/models/credit/metrics", params={"version": "v2"}).json()["window"]["n"] == 1000
    # Windows are whole hourly buckets: [08:00, 09:00) holds events 0-1199 (3 s apart).
    w = c.get(
        "/v1/models/credit/metrics", params={"start": "2026-11-20T08:00:00Z", "end": "2026-11-20T09:00:00Z"}
    )
    assert w.json()["window"]["n"] == 1200
    # A reference from training data, then drift and estimated performance on the window.
    ref = make_credit(20_000, seed=3)
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(ref, preserve_index=False), buf)
    r = c.post(
        "/v1/models/credit/references",
        content=buf.getvalue(),
        headers={"Content-Type": "application/x-parquet"},
    )
    assert r.status_code == 201, r.text
    m = c.get("/v1/models/credit/metrics").json()
    assert m["drift"]["dataset"]["n_current"] == 2000
    assert m["estimated_performance"]["accuracy"]["estimate"] > 0.5
    suite = {
        "suite": "s",
        "checks": [
            {"metric": "drift_share", "condition": {"le": 0.5}},
            {"metric": "accuracy", "condition": {"ge": 0.5}},
        ],
    }
    res = c.post("/v1/models/credit/checks/run", json={"suite": suite}).json()
    assert res["checks"][0]["status"] in ("pass", "fail")
    assert res["checks"][1]["status"] == "error"  # no labels yet: not computable, not a pass
    pin = c.post(
        "/v1/models/credit/references/pin", json={"name": "last-window", "start": "2026-11-20T08:00:00Z"}
    )
    assert pin.status_code == 201 and pin.json()["rows"] == 2000


def test_export_a_window_to_parquet(server: Running) -> None:
    c = client(server)
    register(c)
    df = traffic(1500, seed=7)
    c.post("/v1/models/credit/predictions", json=records(df[:1000]), params={"version": "v1"})
    c.post("/v1/models/credit/predictions", json=records(df[1000:]), params={"version": "v2"})
    c.post(
        "/v1/models/credit/feedback",
        json=[
            {"event_id": e, "label": bool(v)} for e, v in zip(df.request_id[:10], df.repaid[:10], strict=True)
        ],
    )
    r = c.get("/v1/models/credit/export")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/x-parquet"
    got = pq.read_table(io.BytesIO(r.content)).to_pandas()
    assert len(got) == 1500
    assert list(got["request_id"]) == list(df["request_id"])  # sorted by time, as logged
    np.testing.assert_allclose(got["income"].to_numpy(dtype=float), df["income"].to_numpy(dtype=float))
    assert got["repaid"].iloc[:10].tolist() == df["repaid"].iloc[:10].tolist()
    assert got["repaid"].iloc[10:].isna().all()
    assert (got["model_version"] == np.where(np.arange(1500) < 1000, "v1", "v2")).all()
    hour = c.get(
        "/v1/models/credit/export", params={"start": "2026-11-20T08:00:00Z", "end": "2026-11-20T09:00:00Z"}
    )
    first = pq.read_table(io.BytesIO(hour.content)).to_pandas()  # the second batch cut at 09:00
    assert list(first["request_id"]) == list(df["request_id"][:1200])
    np.testing.assert_allclose(first["age"].to_numpy(dtype=float), df["age"][:1200].to_numpy(dtype=float))
    assert (first["model_version"] == np.where(np.arange(1200) < 1000, "v1", "v2")).all()
    assert c.get("/v1/models/credit/export", params={"start": "2030-01-01T00:00:00Z"}).status_code == 404


def test_series_per_hour_and_day(server: Running) -> None:
    c = client(server)
    register(c)
    df = traffic(3000, seed=8)  # 3 s apart from 08:00: 1200 events per hour
    c.post("/v1/models/credit/predictions", json=records(df))
    c.post(
        "/v1/models/credit/feedback",
        json=[
            {"event_id": e, "label": bool(v)}
            for e, v in zip(df.request_id[:600], df.repaid[:600], strict=True)
        ],
    )
    hours = c.get("/v1/models/credit/series", params={"columns": "income"}).json()["points"]
    assert [p["n"] for p in hours] == [1200, 1200, 600]
    first = df.iloc[:1200]
    assert hours[0]["accuracy"] == pytest.approx(accuracy_score(first.repaid[:600], first.approved[:600]))
    assert hours[0]["label_coverage"] == pytest.approx(0.5)
    assert hours[1]["accuracy"] is None and hours[1]["label_coverage"] == 0
    assert hours[0]["income"]["mean"] == pytest.approx(first["income"].mean())
    days = c.get("/v1/models/credit/series", params={"bucket": "day"}).json()["points"]
    assert [p["n"] for p in days] == [3000]
    assert c.get("/v1/models/credit/series", params={"bucket": "week"}).status_code == 422


def test_concurrent_batches_with_the_same_events_store_them_once(server: Running) -> None:
    import threading

    c = client(server)
    register(c)
    body = records(traffic(800, seed=11))
    results: list[int] = []

    def send() -> None:
        with client(server) as cc:
            results.append(cc.post("/v1/models/credit/predictions", json=body).status_code)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) <= {200, 409}  # a loser that exhausts its retries says so; never a 500
    assert 200 in results
    m = c.get("/v1/models/credit/metrics").json()
    assert m["operations"]["predictions"] == 800
    assert m["window"]["n"] == 800


def test_prometheus_exposition(server: Running) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    c = client(server)
    register(c)
    df = traffic(400, seed=12).assign(latency_ms=np.linspace(1, 100, 400))
    recs = records(df)
    for r, lat in zip(recs, df["latency_ms"], strict=True):
        r["latency_ms"] = float(lat)
    c.post("/v1/models/credit/predictions", json=recs, params={"version": "v7"})
    c.post("/v1/models/credit/feedback", json=[{"event_id": e, "label": True} for e in df.request_id[:50]])
    c.post("/v1/models/credit/predictions", json=[{"bad": 1}])
    text = httpx.get(server.url + "/metrics").text  # public: a scraper needs no key
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }
    assert samples[("loopwise_model_predictions_total", (("model", "credit"), ("version", "v7")))] == 400
    assert samples[("loopwise_model_feedback_total", (("model", "credit"),))] == 50
    p50 = samples[
        ("loopwise_model_latency_ms", (("model", "credit"), ("quantile", "0.5"), ("version", "v7")))
    ]
    assert p50 == pytest.approx(np.quantile(df["latency_ms"], 0.5), rel=0.02)
    assert samples[("loopwise_ingest_errors_total", (("kind", "predictions"),))] >= 1
    routes = {dict(k)["route"] for (n, k) in samples if n == "loopwise_http_requests_total"}
    assert "/v1/models/{model}/predictions" in routes and not any("credit" in r for r in routes)


def test_day_rollups_stay_fresh(server: Running) -> None:
    c = client(server)
    register(c)
    day = {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"}
    df = traffic(2000, seed=13)  # 08:00 to 09:40 on 2026-11-20
    c.post("/v1/models/credit/predictions", json=records(df[:1000]))
    first = c.get("/v1/models/credit/metrics", params=day).json()  # builds the day's rollup
    assert first["window"]["n"] == 1000
    c.post("/v1/models/credit/predictions", json=records(df[1000:]))  # more events in the same day
    assert c.get("/v1/models/credit/metrics", params=day).json()["window"]["n"] == 2000
    c.post(
        "/v1/models/credit/feedback",
        json=[{"event_id": e, "label": bool(v)} for e, v in zip(df.request_id, df.repaid, strict=True)],
    )
    m = c.get("/v1/models/credit/metrics", params=day).json()  # labels after the rollup: it is rebuilt
    assert m["performance"]["accuracy"]["value"] == pytest.approx(accuracy_score(df.repaid, df.approved))
    partial = c.get("/v1/models/credit/metrics", params={"start": "2026-11-20T09:00:00Z"}).json()
    assert partial["window"]["n"] == 800


def test_small_json_requests_sent_together_get_the_answers_they_get_alone(server: Running) -> None:
    # The writer converts the rows of queued small JSON requests to Arrow together when they share keys
    # and value types; each request must still get exactly its own answer, and store its own values.
    import threading

    c = client(server)
    register(c, "together")
    register(c, "alone")
    rows = records(traffic(72, seed=21))
    for i, r in enumerate(rows):
        kind = i % 6
        if kind == 1:
            r["age"] = int(r["age"])  # an int where other requests send floats
        elif kind == 2:
            r["income"] = None
        elif kind == 3:
            r["income"] = 2**70  # no 64-bit integer holds it
        elif kind == 4:
            r["income"] = "abc"
        elif kind == 5:
            r["p_approve"] = 1.5
    answers: dict[int, tuple[int, Any]] = {}

    def send(chunk: list[int]) -> None:
        with client(server) as cc:
            for i in chunk:
                r = cc.post("/v1/models/together/predictions", json=[rows[i]])
                answers[i] = (r.status_code, r.json())

    threads = [threading.Thread(target=send, args=(list(range(t, 72, 12)),)) for t in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, r in enumerate(rows):
        alone = c.post("/v1/models/alone/predictions", json=[r])
        status, body = answers[i]
        assert status == alone.status_code, (i, body, alone.text)
        if status == 200:
            assert (body["accepted"], body["duplicates"]) == (1, 0)
        else:
            assert body == alone.json(), i
    assert sorted(s for s, _ in answers.values()) == [200] * 36 + [422] * 36
    together = pq.read_table(io.BytesIO(c.get("/v1/models/together/export").content)).to_pandas()
    alone_df = pq.read_table(io.BytesIO(c.get("/v1/models/alone/export").content)).to_pandas()
    key = ["request_id"]
    pd.testing.assert_frame_equal(
        together.sort_values(key).reset_index(drop=True), alone_df.sort_values(key).reset_index(drop=True)
    )
    stored = together.set_index("request_id")
    for i in (0, 1, 2, 6, 7, 8):  # the values sent, as NumPy reads them
        assert stored.loc[rows[i]["request_id"], "age"] == pytest.approx(float(rows[i]["age"]))
        assert pd.isna(stored.loc[rows[i]["request_id"], "income"]) == (rows[i]["income"] is None)


def test_retried_events_in_a_group_of_new_ones_are_counted_once(server: Running) -> None:
    # The writer inserts a group optimistically; an id stored before fails the whole transaction, which
    # runs again looking ids up first: the retried requests say duplicate, the new ones are stored.
    import threading

    c = client(server)
    register(c)
    rows = records(traffic(40, seed=31))
    first = c.post("/v1/models/credit/predictions", json=rows[:10])
    assert first.json()["accepted"] == 10
    answers: dict[int, dict[str, Any]] = {}

    def send(chunk: list[int]) -> None:
        with client(server) as cc:
            for i in chunk:
                r = cc.post("/v1/models/credit/predictions", json=[rows[i]])
                assert r.status_code == 200, r.text
                answers[i] = r.json()

    threads = [threading.Thread(target=send, args=(list(range(t, 40, 8)),)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [(answers[i]["accepted"], answers[i]["duplicates"]) for i in range(40)] == [(0, 1)] * 10 + [
        (1, 0)
    ] * 30
    stored = pq.read_table(io.BytesIO(c.get("/v1/models/credit/export").content)).to_pandas()
    assert sorted(stored["request_id"]) == sorted(r["request_id"] for r in rows)
    assert c.get("/v1/models/credit/metrics").json()["window"]["n"] == 40


def test_large_batches_racing_over_the_same_ids_are_counted_once(server: Running) -> None:
    # Large batches are stored by their own requests side by side on PostgreSQL (by the writer on SQLite):
    # overlapping batches sent at once must still store each event once, and say which were duplicates.
    import threading

    c = client(server)
    register(c)
    df = traffic(1500, seed=41)
    rows = records(df)
    spans = [(i * 150, i * 150 + 300) for i in range(9)]  # each overlaps the next by half
    answers: dict[int, dict[str, Any]] = {}

    def send(i: int) -> None:
        start, end = spans[i]
        with client(server) as cc:
            r = cc.post("/v1/models/credit/predictions", json=rows[start:end])
            assert r.status_code == 200, r.text
            answers[i] = r.json()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(spans))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    unique = spans[-1][1]
    assert sum(a["accepted"] for a in answers.values()) == unique
    assert all(a["accepted"] + a["duplicates"] == 300 for a in answers.values())
    stored = pq.read_table(io.BytesIO(c.get("/v1/models/credit/export").content)).to_pandas()
    assert sorted(stored["request_id"]) == sorted(df["request_id"][:unique])
    assert c.get("/v1/models/credit/metrics").json()["window"]["n"] == unique
