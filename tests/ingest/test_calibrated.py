"""Calibrated thresholds on the server: a reference uploaded with chunk_size, windows compared with them."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests._fixtures import Running
from tests._fixtures.http import client, records, register, traffic

import loopwise as lw
from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit


def _parquet(df: object) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), buf)  # type: ignore[arg-type]
    return buf.getvalue()


def test_windows_use_the_reference_chunks_for_their_thresholds(server: Running) -> None:
    c = client(server)
    register(c)
    ref = make_credit(20_000, seed=3)
    r = c.post(
        "/v1/models/credit/references",
        params={"chunk_size": 2000},
        content=_parquet(ref),
        headers={"Content-Type": "application/x-parquet"},
    )
    assert r.status_code == 201, r.text
    assert r.json() == {"name": "default", "rows": 20_000, "chunk_size": 2000, "chunks": 10}
    r = c.post(
        "/v1/models/credit/references",
        params={"name": "plain"},
        content=_parquet(ref),
        headers={"Content-Type": "application/x-parquet"},
    )
    assert r.json()["chunks"] is None
    df = traffic(3600, seed=4)  # three hourly buckets of 1,200 events
    assert c.post("/v1/models/credit/predictions", json=records(df)).status_code == 200

    hour = {"start": "2026-11-20T08:00:00Z", "end": "2026-11-20T09:00:00Z"}
    drift = c.get("/v1/models/credit/metrics", params=hour).json()["drift"]
    assert drift["dataset"]["thresholds"] == "calibrated"
    # The same comparison in the library, on the raw rows of the hour: the same statistics and thresholds.
    schema = lw.Schema.from_yaml(CREDIT_SCHEMA_YAML)
    local = lw.compare(lw.profile(ref, schema=schema, chunk_size=2000), df.iloc[:1200], schema).to_dict()
    expected = {col["name"]: col for col in local["columns"]}
    for col in drift["columns"]:
        if col["method"] is None:
            continue
        assert col["threshold_kind"] == "calibrated"
        assert col["calibration"]["chunk_size"] == 2000 and col["calibration"]["n_chunks"] == 10
        assert col["statistic"] == pytest.approx(expected[col["name"]]["statistic"], abs=1e-12)
        assert col["threshold"] == pytest.approx(expected[col["name"]]["threshold"], rel=1e-12)
        assert col["drift_detected"] == (col["statistic"] > col["threshold"])
    plain = c.get("/v1/models/credit/metrics", params={**hour, "reference": "plain"}).json()["drift"]
    assert plain["dataset"]["thresholds"] == "plain"

    # Checks run on the same comparison.
    suite = {"suite": "s", "checks": [{"metric": "drifted", "column": "income", "condition": {"eq": 0}}]}
    res = c.post("/v1/models/credit/checks/run", json={"suite": suite, **hour}).json()
    assert res["checks"][0]["evidence"]["threshold_kind"] == "calibrated"

    # A window pinned as a reference gets chunks of whole hourly buckets.
    pin = c.post(
        "/v1/models/credit/references/pin",
        json={"name": "hours", "start": "2026-11-20T08:00:00Z", "chunk_size": 1000},
    )
    assert pin.status_code == 201, pin.text
    assert pin.json() == {"name": "hours", "rows": 3600, "chunk_size": 1000, "chunks": 3}
    drift = c.get("/v1/models/credit/metrics", params={**hour, "reference": "hours"}).json()["drift"]
    assert drift["dataset"]["thresholds"] == "calibrated"
    too_big = c.post("/v1/models/credit/references/pin", json={"name": "x", "chunk_size": 2000})
    assert too_big.status_code == 422 and "chunk_size" in too_big.text


def test_a_profile_upload_carries_its_own_chunks(server: Running) -> None:
    c = client(server)
    register(c)
    schema = lw.Schema.from_yaml(CREDIT_SCHEMA_YAML)
    prof = lw.profile(make_credit(6000, seed=5), schema=schema, chunk_size=1500)
    r = c.post("/v1/models/credit/references", content=prof.to_bytes())
    assert r.json()["chunks"] == 4
    r = c.post("/v1/models/credit/references", params={"chunk_size": 500}, content=prof.to_bytes())
    assert r.status_code == 422 and "carries its own chunks" in r.text
