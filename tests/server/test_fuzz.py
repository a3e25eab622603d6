"""Bounded fuzzing: no request answers 5xx, and whatever a batch holds, once accepted, every read answers.

The hand-rolled fuzzing from before schemathesis was installable (test_schemathesis.py now runs it over the
typed document); kept, because its generators reach shapes schemathesis' do not, from the same OpenAPI
document: every route of ``/openapi.json``, called with each role's key (viewer, ingest, admin) and with
generated path, query and body values (JSON of any shape, bytes, Arrow and Parquet), must answer below 500.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import hypothesis.strategies as st
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from tests._fixtures import Running
from tests._fixtures.http import client, records, register, traffic

from .test_hardening import ARROW, PARQUET, arrow, reads_answer

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
# Strings that meant something to some route: names, times, segments, paths, numbers.
words = st.sampled_from(
    [
        "credit",
        "default",
        "purpose",
        "purpose=car",
        "race=a",
        "2026-11-20T08:00:00Z",
        "2026-02-30T00:00:00Z",
        "-1",
        "0",
        "1e400",
        "hour",
        "day",
        "../../etc/passwd.yaml",
        "\u0441redit",
        "",
    ]
) | st.text(
    st.characters(
        min_codepoint=32, max_codepoint=0x52F, exclude_characters="/?#%\x7f", exclude_categories=("Cc", "Cs")
    ),
    max_size=12,
)


def _suites() -> st.SearchStrategy[dict[str, Any]]:
    """Suites of the right shape with values anywhere: metric names from the catalog, odd conditions,
    params, columns and segments."""
    from loopwise.checks.evaluate import CATALOG

    condition = st.dictionaries(
        st.sampled_from(["lt", "le", "gt", "ge", "between", "eq", "lt_ref", "within_ref", "x"]),
        json_values,
        min_size=1,
        max_size=2,
    )
    check = st.fixed_dictionaries(
        {"metric": st.sampled_from(sorted(CATALOG)), "condition": condition},
        optional={
            "column": words | json_values,
            "segment": words | json_values,
            "params": st.dictionaries(
                st.sampled_from(["pos_label", "average", "metric", "method", "margin", "alpha", "n"]),
                json_values | words,
                max_size=2,
            )
            | json_values,
            "severity": words,
        },
    )
    return st.fixed_dictionaries(
        {"suite": st.just("s"), "checks": st.lists(check, min_size=1, max_size=3)},
        optional={"presets": st.lists(words, max_size=2)},
    )


def _tables() -> st.SearchStrategy[pa.Table]:
    columns = st.sampled_from(["request_id", "ts", "income", "purpose", "model_version", "x", "x"])
    arrays = st.sampled_from(
        [
            pa.array([1, 2]),
            pa.array(["a", None]),
            pa.array([1.5, float("nan")]),
            pa.array([2**62, -(2**62)]).cast(pa.timestamp("s")),
            pa.array([0, 1]).cast(pa.timestamp("ns", "Europe/Paris")),
            pa.array([True, False]),
            pa.DictionaryArray.from_arrays(pa.array([0, 0], pa.int32()), ["z"]),
        ]
    )
    return st.lists(st.tuples(columns, arrays), min_size=1, max_size=4).map(
        lambda cols: pa.Table.from_arrays([a for _, a in cols], names=[n for n, _ in cols])
    )


def _body(kind: str, value: Any, table: pa.Table, raw: bytes) -> tuple[bytes, dict[str, str]]:
    if kind == "json":
        return json.dumps(value).encode(), {"Content-Type": "application/json"}
    if kind == "arrow":
        return arrow(table), ARROW
    if kind == "parquet":
        return _parquet(table), PARQUET
    return raw, {"Content-Type": "application/octet-stream"}


def _operations(c: Any) -> list[tuple[str, str, list[str]]]:
    spec = c.get("/openapi.json").json()
    ops = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            query = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
            ops.append((method.upper(), path, query))
    return ops


def _fuzz_as(server: Running, role: str) -> None:
    admin = client(server)
    register(admin)
    assert admin.post("/v1/models/credit/predictions", json=records(traffic(30, seed=1))).status_code == 200
    c = client(server, server.key(role))
    ops = _operations(c)
    assert len(ops) >= 12  # every route, as the OpenAPI document lists them

    @FUZZ
    @given(
        op=st.sampled_from(ops),
        model=words,
        query=st.dictionaries(st.text(max_size=10), words, max_size=2),
        known=st.dictionaries(
            st.sampled_from(
                ["start", "end", "version", "segment", "reference", "name", "chunk_size", "bucket", "columns"]
            ),
            words,
            max_size=3,
        ),
        kind=st.sampled_from(["json", "json", "arrow", "parquet", "bytes"]),
        value=json_values
        | st.fixed_dictionaries(
            {"suite": json_values | words | _suites()},
            optional={"start": json_values | words, "reference": json_values | words, "version": words},
        )
        | st.lists(st.dictionaries(words, json_values | words, max_size=4), max_size=3),
        table=_tables(),
        raw=st.binary(max_size=64),
    )
    def one(
        op: Any, model: str, query: Any, known: Any, kind: str, value: Any, table: Any, raw: bytes
    ) -> None:
        method, path, names = op
        url = path.replace(
            "{model}", model if model not in ("", ".", "..") and "/" not in model else "credit"
        )
        params = {**query, **{k: v for k, v in known.items() if k in names}}
        content, headers = _body(kind, value, table, raw)
        r = c.request(
            method, url, params=params, content=content if method != "GET" else None, headers=headers
        )
        assert r.status_code < 500, f"{method} {url} {params} {kind}: {r.status_code} {r.text[:300]}"

    one()
    reads_answer(admin)


def test_no_5xx_as_a_viewer(server: Running) -> None:
    _fuzz_as(server, "viewer")


def test_no_5xx_as_an_ingest_key(server: Running) -> None:
    _fuzz_as(server, "ingest")


def test_no_5xx_as_an_admin(server: Running) -> None:
    _fuzz_as(server, "admin")


# --- whatever a client's accepted batch holds, later reads answer ---------

UNITS = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}
NOW = int(dt.datetime(2026, 11, 20, 8, tzinfo=dt.UTC).timestamp())


@st.composite
def batches(draw: Any) -> tuple[bytes, dict[str, str]]:
    n = draw(st.integers(1, 40))
    df = traffic(n, seed=draw(st.integers(0, 10**6)))
    df["request_id"] = [f"{draw(st.integers(0, 10**9))}-{i}" for i in range(n)]
    version = draw(st.sampled_from(["absent", "str", "int", "float", "bool", "mixed", "none"]))
    values: dict[str, Any] = {
        "str": ["v1"] * n,
        "int": [7] * n,
        "float": [1.5] * n,
        "bool": [True] * n,
        "mixed": ["v2", None] * (n // 2) + ["v2"] * (n % 2),
        "none": [None] * n,
    }
    if version != "absent":
        df["model_version"] = values[version]
    feature = draw(st.sampled_from(["plain", "nan", "inf", "huge", "unicode"]))
    if feature == "nan":
        df.loc[0, "income"] = np.nan
    elif feature == "inf":
        df.loc[0, "income"] = np.inf
    elif feature == "huge":
        df.loc[0, "income"] = 1e308
    elif feature == "unicode":
        df.loc[0, "purpose"] = "\u0441ar \U0001f697"
    fmt = draw(st.sampled_from(["json", "arrow", "parquet"]))
    # Times: a unit, a zone, and a count that may be anywhere an int64 reaches.
    unit = draw(st.sampled_from(list(UNITS)))
    zone = draw(st.sampled_from([None, "UTC", "Europe/Paris", "Asia/Kolkata"]))
    near = (NOW + draw(st.integers(-(10**9), 10**5))) * UNITS[unit]
    far = draw(st.integers(-(2**63) + 1, 2**63 - 1 - n))  # room for the batch's n consecutive counts
    count = draw(st.sampled_from([near, far]))
    counts = pa.array([count + i for i in range(n)], pa.int64())
    table = pa.Table.from_pandas(df.drop(columns=["ts", "repaid"]), preserve_index=False).append_column(
        "ts", counts.cast(pa.timestamp(unit, zone))
    )
    if fmt == "json":
        rows = records(df)
        offset = draw(st.sampled_from(["Z", "+02:00", "-09:30", "+14:00"]))
        day = draw(st.sampled_from(["2026-11-19", "2026-02-29", "2026-02-28", "2024-02-29", "2026-11-31"]))
        for r in rows:
            r["ts"] = f"{day}T{draw(st.integers(0, 23)):02d}:00:00{offset}"
            if (
                "model_version" in r
                and isinstance(r["model_version"], float)
                and np.isnan(r["model_version"])
            ):
                r["model_version"] = None
        text = json.dumps(rows, allow_nan=True).replace("Infinity", "1e999").replace("NaN", "null")
        return text.encode(), {"Content-Type": "application/json"}
    if fmt == "arrow":
        return arrow(table), ARROW
    return _parquet(table), PARQUET


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    try:
        pq.write_table(table, buf)
    except pa.ArrowInvalid:  # Parquet has no seconds: a time past year 294,247 cannot even be written
        return b"PAR1"
    return buf.getvalue()


def test_whatever_was_accepted_reads_back(server: Running) -> None:
    c = client(server)
    register(c)
    accepted = []

    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )
    @given(batch=batches())
    def one(batch: tuple[bytes, dict[str, str]]) -> None:
        content, headers = batch
        r = c.post("/v1/models/credit/predictions", content=content, headers=headers)
        assert r.status_code < 500, r.text[:300]
        if r.status_code == 200:
            accepted.append(r.json()["accepted"])
            reads_answer(c)

    one()
    assert accepted, "no generated batch was accepted: the generator tests nothing"
    reads_answer(c)


def test_no_5xx_from_suites_of_any_content(server: Running) -> None:
    """The route that runs the most code on what a (viewer) client sends: its suites, fuzzed by shape."""
    admin = client(server)
    register(admin)
    assert admin.post("/v1/models/credit/predictions", json=records(traffic(60, seed=1))).status_code == 200
    c = client(server, server.key("viewer"))

    @FUZZ
    @given(
        suite=_suites(),
        extra=st.dictionaries(st.sampled_from(["start", "end", "reference", "version"]), words),
    )
    def one(suite: dict[str, Any], extra: dict[str, Any]) -> None:
        r = c.post("/v1/models/credit/checks/run", json={"suite": suite, **extra})
        assert r.status_code < 500, f"{suite} {extra}: {r.status_code} {r.text[:300]}"

    one()


def test_no_5xx_from_feedback_of_any_content(server: Running) -> None:
    admin = client(server)
    register(admin)
    rows = records(traffic(20, seed=1))
    assert admin.post("/v1/models/credit/predictions", json=rows).status_code == 200
    c = client(server, server.key("ingest"))
    ids = [r["request_id"] for r in rows]

    record = st.fixed_dictionaries(
        {"event_id": st.sampled_from(ids) | words | json_values},
        optional={
            "label": json_values | words,
            "kind": st.sampled_from(["label", "correction", "rating", "comment"]) | words,
            "value": json_values,
            "comment": json_values,
        },
    )

    @FUZZ
    @given(batch=st.lists(record, min_size=1, max_size=5))
    def one(batch: list[dict[str, Any]]) -> None:
        r = c.post("/v1/models/credit/feedback", json=batch)
        assert r.status_code < 500, f"{batch}: {r.status_code} {r.text[:300]}"

    one()
    reads_answer(admin)
