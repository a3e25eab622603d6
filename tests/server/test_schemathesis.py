"""schemathesis over the typed /openapi.json, per role, against a real server on loopback: no answer is a
5xx, and every answer conforms to the schema the document gives for its status (decision 0022).

Bodies the document declares as Arrow or Parquet are generated as real Arrow IPC and Parquet tables (with
odd columns and types), and as arbitrary bytes; JSON bodies from their models, and (negative mode) bodies
that break them. Half the cases name the registered model, so that they get past the 404.
"""

from __future__ import annotations

import io
import os

import httpx
import hypothesis.strategies as st
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests._fixtures import Running
from tests._fixtures.http import client, records, register, traffic

EXAMPLES = int(os.environ.get("LOOPWISE_FUZZ_EXAMPLES", "300"))  # per role: about 8 s each


def _tables(overflowing: bool) -> st.SearchStrategy[pa.Table]:
    """Small tables of the model's column names (and one it lacks) holding values of any type; with
    ``overflowing``, times past what microseconds reach (Parquet cannot even write those)."""
    columns = st.sampled_from(["request_id", "ts", "income", "purpose", "model_version", "x"])
    values = [
        pa.array(["r1", "r2"]),
        pa.array([1, 2]),
        pa.array([1.5, float("nan")]),
        pa.array(["2026-11-20T08:00:00Z", None]),
        pa.array([0, 1]).cast(pa.timestamp("ns", "Europe/Paris")),
        pa.array([True, False]),
    ]
    if overflowing:
        values.append(pa.array([2**62, -(2**62)]).cast(pa.timestamp("s")))
    arrays = st.sampled_from(values)
    return st.lists(st.tuples(columns, arrays), min_size=1, max_size=4, unique_by=lambda c: c[0]).map(
        lambda cols: pa.Table.from_arrays([a for _, a in cols], names=[n for n, _ in cols])
    )


def _arrow(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue()


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


_junk = st.binary(max_size=64)
schemathesis.openapi.media_type(
    "application/vnd.apache.arrow.stream",
    _tables(overflowing=True).map(_arrow) | _junk,
    aliases=["application/vnd.apache.arrow.file"],
)
schemathesis.openapi.media_type(
    "application/x-parquet",
    _tables(overflowing=False).map(_parquet) | _junk,
    aliases=["application/vnd.apache.parquet", "application/parquet"],
)
schemathesis.openapi.media_type("application/octet-stream", _junk)

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("role", ["viewer", "ingest", "admin"])
def test_every_route_answers_below_500_and_as_documented(server: Running, role: str) -> None:
    admin = client(server)
    register(admin)
    assert admin.post("/v1/models/credit/predictions", json=records(traffic(30, seed=1))).status_code == 200
    doc = httpx.get(server.url + "/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(doc)
    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) >= 13  # every route
    key = server.key(role)
    cases = st.one_of(
        *(
            schema.as_strategy(mode, path_parameters=fixed)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
            for fixed in ({"model": "credit"}, None)
        )
    )
    seen: set[tuple[str, int]] = set()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def one(case: schemathesis.Case) -> None:
        response = case.call_and_validate(
            base_url=server.url, session=session, headers={"Authorization": f"Bearer {key}"}, checks=CHECKS
        )
        seen.add((case.operation.label, response.status_code))

    # One session for the run, closed after it (a session per call leaves its sockets to the collector).
    with requests.Session() as session:
        one()
    # The run reached past authentication and the model lookup: some answers were successes.
    assert any(status < 300 for _, status in seen), seen
