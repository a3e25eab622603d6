"""The holes an outside probe found (issue 15): each request that broke the server, kept as a test.

Nothing a client sends names a server path; whatever a batch holds, once accepted, every later read
answers; a small request cannot stall a worker or exhaust memory; malformed input is a 4xx, never a 500.
"""

from __future__ import annotations

import datetime as dt
import io
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import text, update
from tests._fixtures import Running
from tests._fixtures.http import client, records, register, sdk, traffic

from loopwise.server.jobs import Compactor
from loopwise.store import make_engine, session_factory
from loopwise.store.tables import BucketPart

P = "/v1/models/credit/predictions"
SUITE = {"suite": "s", "checks": [{"metric": "row_count", "condition": {"ge": 0}}]}


def arrow(table: pa.Table, compression: str | None = None) -> bytes:
    sink = pa.BufferOutputStream()
    opts = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.ipc.new_stream(sink, table.schema, options=opts) as w:
        w.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


ARROW = {"Content-Type": "application/vnd.apache.arrow.stream"}
PARQUET = {"Content-Type": "application/x-parquet"}


def parquet(table: pa.Table, **kw: Any) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, **kw)
    return buf.getvalue()


def base_table(n: int = 3, seed: int = 2, ids: str = "t") -> pa.Table:
    df = traffic(n, seed=seed).drop(columns=["repaid"])
    df["request_id"] = [f"{ids}{i}" for i in range(n)]
    return pa.Table.from_pandas(df, preserve_index=False)


def with_ts(table: pa.Table, arr: pa.Array) -> pa.Table:
    return table.set_column(table.column_names.index("ts"), "ts", arr)


def reads_answer(c: Any, model: str = "credit") -> None:
    """Every read of a model answers: 200, or 404 when the window holds no traffic."""
    for path in ("metrics", "series", "export", "metrics?segment=race=a"):
        r = c.get(f"/v1/models/{model}/{path}")
        assert r.status_code in (200, 404), f"{path}: {r.status_code} {r.text[:300]}"
    r = c.post(f"/v1/models/{model}/checks/run", json={"suite": SUITE, "reference": None})
    assert r.status_code in (200, 404), r.text[:300]


# --- 1. nothing a client sends names a server path ---------------------------------------------------------


def test_a_suite_is_never_read_from_a_server_path(server: Running, tmp_path: Path) -> None:
    c = client(server)
    register(c)
    secret = tmp_path / "secrets.yml"
    secret.write_text("password: hunter2-7f3a\n", encoding="utf-8")
    viewer = client(server, server.key("viewer", model="credit"))
    relative = "../" * 12 + str(secret).lstrip("/")
    for spec in (str(secret), relative, str(tmp_path / "missing.yaml")):
        r = viewer.post("/v1/models/credit/checks/run", json={"suite": spec})
        assert r.status_code == 422, r.text
        assert "never read" in r.json()["error"]
        # Neither the file's keys, nor its values, nor whether it exists come back.
        assert "hunter2" not in r.text and "password" not in r.text and "no such" not in r.text


def test_path_strings_in_every_field_read_nothing(server: Running, tmp_path: Path) -> None:
    """The sweep: a path sent wherever a string goes (suite, schema, names, versions, segments) reads no
    file: the secret never comes back, and no answer is a 5xx."""
    c = client(server)
    register(c)
    assert c.post(P, json=records(traffic(20, seed=1))).status_code == 200
    secret = tmp_path / "key.yaml"
    secret.write_text("token: s3cr3t-81c2\n", encoding="utf-8")
    p = str(secret)
    answers = [
        c.post("/v1/models", json={"name": "m2", "schema": p}),
        c.post("/v1/models", json={"name": p, "schema": {"columns": {}}}),
        c.post(P, json={"records": records(traffic(2, seed=3)), "version": p}),
        c.post(P + f"?version={p}", json=records(traffic(2, seed=4))),
        c.post("/v1/models/credit/references", content=p.encode(), headers={"Content-Type": "text/plain"}),
        c.post("/v1/models/credit/references?name=" + p, content=p.encode()),
        c.post("/v1/models/credit/references/pin", json={"name": p, "version": p}),
        c.post("/v1/models/credit/checks/run", json={"suite": SUITE, "reference": p, "version": p}),
        c.get(f"/v1/models/credit/metrics?reference={p}&segment=race={p}&version={p}"),
        c.get(f"/v1/models/credit/series?columns={p}"),
        c.get(f"/v1/models/credit/export?version={p}"),
        c.post("/v1/models/credit/feedback", json=[{"event_id": p, "label": p}]),
    ]
    for r in answers:
        assert r.status_code < 500, r.text
        assert "s3cr3t" not in r.text and "token" not in r.text


def test_the_sdk_reads_a_suite_file_on_the_callers_side(server: Running, tmp_path: Path) -> None:
    c = client(server)
    register(c)
    assert c.post(P, json=records(traffic(20, seed=1))).status_code == 200
    gate = tmp_path / "gate.yaml"
    gate.write_text(
        "suite: gate\nchecks:\n  - metric: row_count\n    condition: {ge: 20}\n", encoding="utf-8"
    )
    model = sdk(server).model("credit")
    for spec in (str(gate), gate):
        out = model.check(spec, reference=None)
        assert out.suite == "gate" and out.status == "pass"
        assert out.results[0].actual == 20  # the events logged above


# --- 2. whatever was accepted reads back -------------------------------------------------------------------


def test_times_that_overflow_or_do_not_exist_are_refused(server: Running) -> None:
    c = client(server)
    register(c)
    t = base_table()
    target = int(dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC).timestamp())
    # Multiplied by 10**6, this seconds count wraps modulo 2**64 to 2026-11-20T10:00Z: it used to be stored.
    wrapped = target + 2**64 // 10**6
    bad = {
        "seconds past year 294,247": with_ts(
            t, pa.array([wrapped] * 3, pa.int64()).cast(pa.timestamp("s", "UTC"))
        ),
        "milliseconds past year 294,247": with_ts(
            t, pa.array([2**62] * 3, pa.int64()).cast(pa.timestamp("ms", "UTC"))
        ),
        "before 2000 in seconds": with_ts(t, pa.array([0] * 3, pa.int64()).cast(pa.timestamp("s"))),
    }
    for name, table in bad.items():
        r = c.post(P, content=arrow(table), headers=ARROW)
        assert r.status_code == 422, f"{name}: {r.text}"
        assert r.json()["issues"][0]["column"] == "ts"
    for when in (
        "2026-02-30T00:00:00Z",
        "2025-02-29T12:00:00Z",
        "2026-04-31T00:00:00+02:00",
    ):
        rows = records(traffic(1, seed=5))
        rows[0]["ts"] = when
        r = c.post(P, json=rows)
        assert r.status_code == 422 and "no such date" in r.text, f"{when}: {r.text}"
    rows = records(traffic(1, seed=5))
    rows[0]["ts"] = "2026-03-01T24:00:00Z"
    assert c.post(P, json=rows).status_code == 422
    assert c.get("/v1/models/credit/export").status_code == 404  # nothing was stored
    # A real leap day and an offset are fine.
    rows = records(traffic(2, seed=6))
    rows[0]["ts"], rows[1]["ts"] = "2024-02-29T23:00:00Z", "2026-03-01T00:30:00+01:00"
    assert c.post(P, json=rows).status_code == 200


def test_zones_and_numeric_versions_are_normalised(server: Running) -> None:
    """A tz-aware frame through the SDK and a JSON version sent as a number used to leave export at 500."""
    c = client(server)
    register(c)
    paris = traffic(40, seed=7).drop(columns=["repaid"])
    paris["ts"] = paris["ts"].dt.tz_convert("Europe/Paris")
    paris["request_id"] = [f"p{i}" for i in range(40)]
    handle = sdk(server).model("credit")
    assert handle.log(paris)["accepted"] == 40
    utc = records(traffic(10, seed=8))
    for i, r in enumerate(utc):
        r["request_id"], r["model_version"] = f"u{i}", 3
    assert c.post(P, json=utc).status_code == 200
    floats = [{**utc[0], "request_id": "f0", "model_version": 1.5}]
    r = c.post(P, json=floats)
    assert r.status_code == 422 and "model_version" in r.text
    reads_answer(c)
    got = pq.read_table(io.BytesIO(c.get("/v1/models/credit/export").content)).to_pandas()
    assert str(got["ts"].dt.tz) == "UTC" and got["model_version"].map(type).eq(str).all()
    by_id = got.set_index("request_id")
    # The same instants, in UTC (pandas' own conversion is the independent answer).
    expected = paris.set_index("request_id")["ts"].dt.tz_convert("UTC")
    assert (by_id.loc[expected.index, "ts"] == expected).all()
    assert set(by_id.loc[[f"u{i}" for i in range(10)], "model_version"]) == {"3"}
    m = c.get("/v1/models/credit/metrics?version=3")
    assert m.status_code == 200 and m.json()["window"]["n"] == 10


def test_one_bad_bucket_does_not_stop_compaction_for_others(server: Running) -> None:
    c = client(server)
    register(c)
    register(c, "other")
    assert c.post(P, json=records(traffic(30, seed=1, start="2026-11-19T01:00:00Z"))).status_code == 200
    assert c.post("/v1/models/other/predictions", json=records(traffic(30, seed=2))).status_code == 200
    engine = make_engine(server.db_url)
    sessions = session_factory(engine)
    with sessions() as s:
        credit = s.execute(text("SELECT id FROM models WHERE name = 'credit'")).scalar_one()
        other = s.execute(text("SELECT id FROM models WHERE name = 'other'")).scalar_one()
        # Damage credit's older bucket: what a bug, or a batch accepted before this fix, would leave.
        s.execute(
            update(BucketPart)
            .where(BucketPart.model_id == credit)
            .values(profile=b"LWPF\x01\x00\x01\x00junk")
        )
        s.commit()
    compactor = Compactor(sessions, session_factory(engine, readonly=True))
    compactor.run_once()

    def pending(mid: int) -> int:
        with sessions() as s:
            return int(
                s.execute(
                    text("SELECT count(*) FROM bucket_parts WHERE model_id = :m"), {"m": mid}
                ).scalar_one()
            )

    assert pending(other) == 0 and pending(credit) > 0
    assert len(compactor.failing) == 1 and compactor.failures == 1
    assert next(iter(compactor.failing))[0] == credit
    # More traffic for the other model keeps being folded; the bad bucket waits for its back-off.
    assert (
        c.post(
            "/v1/models/other/predictions",
            json=[{**r, "request_id": f"n{i}"} for i, r in enumerate(records(traffic(5, seed=3)))],
        ).status_code
        == 200
    )
    compactor.run_once()
    assert pending(other) == 0 and compactor.failures == 1
    prom = c.get("/metrics").text
    assert "loopwise_compaction_failing_buckets" in prom
    engine.dispose()


# --- 3 and 4. a small request cannot stall a worker or exhaust memory --------------------------------------


def test_many_unknown_columns_are_refused_before_anything_is_built(server: Running) -> None:
    c = client(server)
    register(c)
    rows = records(traffic(1, seed=1))
    wide = {**rows[0], **{f"c{i}": 1 for i in range(100_000)}}  # 1.7 MB, as the probe sent
    began = time.monotonic()
    r = c.post(P, json=[wide])
    assert r.status_code == 413 and "columns" in r.text
    few = {**rows[0], **{f"c{i}": 1 for i in range(500)}}
    r = c.post(P, json=[few])
    assert r.status_code == 422 and "c0" in r.text and "480 more" in r.text
    # The worker is free: a one-row batch right after is answered.
    assert c.post(P, json=rows).status_code == 200
    assert time.monotonic() - began < 60  # minutes before the fix; a generous bound, not a benchmark
    t = base_table().append_column("x", pa.array([1, 2, 3]))
    wide_arrow = pa.table({f"c{i}": pa.array([1], pa.int8()) for i in range(1_001)})
    assert c.post(P, content=arrow(wide_arrow), headers=ARROW).status_code == 413
    assert c.post(P, content=arrow(t), headers=ARROW).status_code == 422


def test_decompression_bombs_are_refused_before_decoding(server: Running) -> None:
    c = client(server)
    register(c)
    zeros = pa.table({"income": pa.array(np.zeros(25_000_000, dtype=np.int8))})
    bomb = parquet(zeros, compression="zstd")
    assert len(bomb) < 100_000
    r = c.post(P, content=bomb, headers=PARQUET)
    assert r.status_code == 413 and "values" in r.text
    r = c.post(P, content=arrow(zeros, "zstd"), headers=ARROW)
    assert r.status_code == 413 and "values" in r.text
    # One string of 1 KiB taken a million times: 4 MB of indices, a gigabyte once decoded.
    words = pa.DictionaryArray.from_arrays(pa.array(np.zeros(1_000_000, np.int32)), pa.array(["x" * 1024]))
    r = c.post(P, content=arrow(pa.table({"purpose": words}), "zstd"), headers=ARROW)
    assert r.status_code == 413 and "purpose" in r.text
    # A profile whose header declares a terabyte.
    fake = (
        b"LWPF" + (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + (2**40).to_bytes(8, "little") + b"x"
    )
    r = c.post(
        "/v1/models/credit/references", content=fake, headers={"Content-Type": "application/octet-stream"}
    )
    assert r.status_code == 413 and "decompresses" in r.text
    # Ten thousand versions in one batch: about 1 GB of profiles before.
    rows = records(traffic(200, seed=3))
    for i, r2 in enumerate(rows):
        r2["model_version"] = f"v{i}"
    r = c.post(P, json=rows)
    assert r.status_code == 413 and "model versions" in r.text
    assert c.post(P, json=rows[:100]).status_code == 200  # at the limit


def test_suites_are_bounded(server: Running) -> None:
    c = client(server)
    register(c)
    # Aliases: each level repeats the one before nine times, 9**7 values from a few hundred bytes.
    laughs = "a: &a [1,1,1,1,1,1,1,1,1]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(6)
    )
    r = c.post("/v1/models/credit/checks/run", json={"suite": laughs + "suite: s\nchecks: []\n"})
    assert r.status_code == 413 and "values" in r.text
    many = {"suite": "s", "checks": [{"metric": "row_count", "condition": {"ge": 0}}] * 501}
    assert c.post("/v1/models/credit/checks/run", json={"suite": many}).status_code == 413
    big = "suite: s\n# " + "x" * (1 << 20) + "\n"
    assert c.post("/v1/models/credit/checks/run", json={"suite": big}).status_code == 413


# --- 5. malformed requests that answered 500 ----------------------------------------------------------------


def test_the_requests_that_answered_500(server: Running) -> None:
    c = client(server)
    register(c)
    assert c.post(P, json=records(traffic(20, seed=1))).status_code == 200
    dup = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["income", "income"])
    cases: list[tuple[str, Any, int, str]] = [
        ("segment without =", c.get("/v1/models/credit/metrics?segment=purpose"), 422, "column=value"),
        ("unknown segment column", c.get("/v1/models/credit/metrics?segment=nope=1"), 404, "segment"),
        ("non-string start", c.post("/v1/models/credit/references/pin", json={"start": 5}), 422, "start"),
        (
            "non-string end",
            c.post("/v1/models/credit/checks/run", json={"suite": SUITE, "end": [1]}),
            422,
            "end",
        ),
        (
            "a string params",
            c.post(
                "/v1/models/credit/checks/run",
                json={
                    "suite": {
                        "suite": "s",
                        "checks": [{"metric": "accuracy", "condition": {"ge": 0}, "params": "x"}],
                    }
                },
            ),
            422,
            "params",
        ),
        (
            "broken Parquet as a reference",
            c.post("/v1/models/credit/references", content=b"PAR1garbagePAR1", headers=PARQUET),
            400,
            "not valid Parquet",
        ),
        (
            "a lone surrogate",
            c.post(P, content=b'[{"purpose": "\\ud800"}]', headers={"Content-Type": "application/json"}),
            400,
            "surrogate",
        ),
        ("duplicate Arrow columns", c.post(P, content=arrow(dup), headers=ARROW), 422, "twice"),
        (
            "a non-string reference",
            c.post("/v1/models/credit/checks/run", json={"suite": SUITE, "reference": 3}),
            422,
            "reference",
        ),
        (
            "a zero chunk size",
            c.post("/v1/models/credit/references?chunk_size=0", content=b"x"),
            422,
            "chunk_size",
        ),
    ]
    failures = [
        f"{n}: {r.status_code} {r.text[:200]}"
        for n, r, st, msg in cases
        if r.status_code != st or msg not in r.text
    ]
    assert not failures, "\n".join(failures)


def test_export_of_a_model_whose_name_is_not_latin1(server: Running) -> None:
    c = client(server)
    name = "\u0441redit"  # a Cyrillic es, as the probe used
    register(c, name)
    assert c.post(f"/v1/models/{name}/predictions", json=records(traffic(5, seed=1))).status_code == 200
    r = c.get(f"/v1/models/{name}/export")
    assert r.status_code == 200
    header = r.headers["content-disposition"]
    star = header.split("filename*=UTF-8''")[1]
    assert unquote(star) == f"{name}.parquet"
    assert pq.read_table(io.BytesIO(r.content)).num_rows == 5


def test_arrow_costs_are_read_from_headers_exactly() -> None:
    """What ``arrow_cost`` reads from the message headers equals what pyarrow decodes (its own buffers)."""
    from loopwise.server.limits import arrow_cost

    rng = np.random.default_rng(0)
    table = pa.table(
        {
            "x": pa.array(rng.normal(size=50_000)),
            "s": pa.array([f"w{i % 97}" for i in range(50_000)]),
            "d": pa.DictionaryArray.from_arrays(
                pa.array(rng.integers(0, 3, 50_000), pa.int32()), ["a", "b", "c"]
            ),
        }
    )
    for compression in (None, "zstd", "lz4"):
        body = arrow(table, compression)
        rows, decoded = arrow_cost(body)
        batches = pa.ipc.open_stream(body).read_all()
        buffers = sum(
            b.size
            for col in batches.columns
            for chunk in col.chunks
            for b in chunk.buffers()
            if b is not None
        ) + sum(
            b.size
            for chunk in batches.column("d").chunks
            for b in chunk.dictionary.buffers()
            if b is not None
        )
        assert rows == 50_000
        assert decoded == pytest.approx(buffers, rel=0.01), compression


def test_the_api_description_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """/openapi.json, /docs and /redoc answer without a key (they hold no data); an operator may drop them."""
    import asyncio

    import httpx

    from loopwise.server import Settings, create_app

    monkeypatch.setenv("LOOPWISE_API_DOCS", "0")
    off = create_app(Settings(database_url="sqlite://"))
    on = create_app(Settings(database_url="sqlite://", api_docs=True))

    async def status(app: Any, path: str) -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return (await c.get(path)).status_code

    for path in ("/openapi.json", "/docs", "/redoc"):
        assert asyncio.run(status(off, path)) == 404
        assert asyncio.run(status(on, path)) == 200
    assert asyncio.run(status(off, "/health")) == 200


@pytest.fixture
def five_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPWISE_MAX_VERSIONS_PER_MODEL", "5")


def test_versions_per_model_are_bounded(five_versions: None, server: Running) -> None:
    c = client(server)
    register(c)

    def batch(versions: list[str | None], tag: str) -> list[dict[str, Any]]:
        rows = records(traffic(len(versions), seed=len(tag)))
        for i, (r, v) in enumerate(zip(rows, versions, strict=True)):
            r["request_id"], r["model_version"] = f"{tag}{i}", v
        return rows

    assert c.post(P, json=batch(["v1", "v2", None], "a")).status_code == 200  # None: the default version
    assert c.post(P + "?version=v3", json=batch([None, "v4"], "b")).status_code == 200
    r = c.post(P, json=batch(["v5", "v6"], "c"))
    assert r.status_code == 413 and "7 versions" in r.text and "limit is 5" in r.text
    assert c.post(P, json=batch(["v1", "v4", "v2"], "d")).status_code == 200  # known ones cost nothing
    r = c.post(P, content=arrow(pa.Table.from_pylist(batch(["v9"], "f"))), headers=ARROW)
    assert r.status_code == 413 and "6 versions" in r.text
    got = pq.read_table(io.BytesIO(c.get("/v1/models/credit/export").content))
    assert set(got.column("model_version").to_pylist()) == {"default", "v1", "v2", "v3", "v4"}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_row_id_past_64_bits_in_a_path_is_a_422_not_a_500(server: Running) -> None:
    """schemathesis found GET /gates/12950430593626471923712 answering 500 (the driver's OverflowError)."""
    c = client(server)
    register(c)
    huge = 12950430593626471923712
    for method, path in (
        ("GET", f"/v1/models/credit/gates/{huge}"),
        ("POST", f"/v1/models/credit/promotions/{huge}/approve"),
        ("GET", f"/v1/models/credit/monitors/m/runs/{huge}"),
    ):
        r = c.request(method, path, json={} if method == "POST" else None)
        assert r.status_code == 422, (path, r.status_code, r.text)
    assert c.get("/v1/models/credit/gates/9223372036854775807").status_code == 404  # the largest id: none
