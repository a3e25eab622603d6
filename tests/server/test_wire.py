"""The typed wire (decision 0022): /openapi.json describes every request and response body; each class of
the one error tree answers with its one status, and both clients raise the same class for the same mistake.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
import yaml
from tests._fixtures import Running
from tests._fixtures.http import client, sdk

import loopwise as lw
import loopwise.errors as tree
from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit

SCHEMA = yaml.safe_load(CREDIT_SCHEMA_YAML)


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_openapi_describes_every_body(server: Running) -> None:
    doc = httpx.get(server.url + "/openapi.json", timeout=30).json()  # no key needed: said in docs/server.md
    operations = [(m.upper(), p, op) for p, item in doc["paths"].items() for m, op in item.items()]
    assert len(operations) >= 13
    media: dict[str, set[str]] = {}
    for method, path, op in operations:
        success = next(op["responses"][s] for s in ("200", "201", "202") if s in op["responses"])
        # Every success answer names its media type and, for JSON, a schema with named fields.
        assert success.get("content"), (method, path)
        for mtype, body in success["content"].items():
            if mtype == "application/json":
                schema = _resolve(doc, body["schema"])
                assert schema.get("properties"), (method, path, schema)
        # Every error answer a route may give has the Problem body.
        for status, answer in op["responses"].items():
            if status.startswith(("4", "5")):
                assert answer["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"
                }
        if method == "POST":
            assert op["requestBody"]["required"] is True
            media[path] = set(op["requestBody"]["content"])
            for body in op["requestBody"]["content"].values():
                schema = body["schema"]
                assert "$ref" in schema or "oneOf" in schema or schema.get("format") == "binary"
                # A body's schema is among the components (a model left out of REQUEST_MODELS is not).
                for ref in [schema.get("$ref")] + [o.get("$ref") for o in schema.get("oneOf", [])]:
                    if ref is not None:
                        assert ref.rsplit("/", 1)[-1] in doc["components"]["schemas"], (method, path, ref)
    assert media["/v1/models/{model}/predictions"] == {
        "application/json",
        "application/vnd.apache.arrow.stream",
        "application/vnd.apache.arrow.file",
        "application/x-parquet",
        "application/vnd.apache.parquet",
        "application/parquet",
    }
    assert "application/x-parquet" in media["/v1/models/{model}/references"]
    # Serving (decision 0029): rows as JSON or Arrow; an artifact as base64 JSON or the raw body.
    assert media["/v1/models/{model}/predict"] == {"application/json", "application/vnd.apache.arrow.stream"}
    assert media["/v1/models/{model}/versions"] == {"application/json", "application/octet-stream"}
    started = doc["paths"]["/v1/models/{model}/versions/{version}/evaluations"]["post"]["responses"]
    assert (
        "202" in started and "304" in doc["paths"]["/v1/models/{model}/aliases/{alias}"]["get"]["responses"]
    )
    export = doc["paths"]["/v1/models/{model}/export"]["get"]["responses"]["200"]["content"]
    assert set(export) == {"application/x-parquet"}
    # The request models are components: today's count, with the ones they use.
    for name in ("RegisterModel", "PredictionBatch", "PredictionRecord", "FeedbackBatch", "RunChecks"):
        assert name in doc["components"]["schemas"], name
    run = doc["components"]["schemas"]["RunChecks"]
    assert run["required"] == ["suite"] and {"suite", "start", "end", "reference"} <= set(run["properties"])


def test_a_body_of_the_wrong_shape_is_a_422_naming_the_field(server: Running) -> None:
    c = client(server)
    r = c.post("/v1/models", json={"name": 7, "schema": SCHEMA})
    assert r.status_code == 422 and r.json()["type"] == "DataError"
    assert "RegisterModel" in r.json()["error"] and "name:" in r.json()["error"]
    assert c.post("/v1/models", json={"name": "credit", "schema": SCHEMA}).status_code == 201
    r = c.post("/v1/models/credit/references/pin", json={"chunk_size": True})
    assert r.status_code == 422 and "chunk_size" in r.json()["error"]
    r = c.get("/v1/models/credit/references", params={"chunk_size": "many"})  # no such GET route
    assert r.status_code == 405
    r = c.post("/v1/models/credit/references", params={"chunk_size": "many"}, content=b"x")
    assert (
        r.status_code == 422
        and r.json()["type"] == "ParameterError"
        and r.json()["parameter"] == "chunk_size"
    )


# --- one tree, one status per class ------------------------------------------------------------------

_LINE = re.compile(r"^(?P<indent>[ │]*)(?:[├└]── )?(?P<name>[A-Z]\w+)\b.*\((?P<status>\d{3})\)\s*$")


def test_the_drawing_in_errors_is_the_tree() -> None:
    """errors.py's docstring draws each class under its parent with its status; the classes agree."""
    drawn: dict[str, tuple[str | None, int]] = {}
    parents: list[tuple[int, str]] = []
    for line in (tree.__doc__ or "").splitlines():
        m = _LINE.match(line.removeprefix("    "))
        if not m:
            continue
        depth = len(m["indent"]) // 4 + (0 if m["name"] == "LoopwiseError" else 1)
        parents = [p for p in parents if p[0] < depth]
        drawn[m["name"]] = (parents[-1][1] if parents else None, int(m["status"]))
        parents.append((depth, m["name"]))
    classes = {c.__name__: c for c in tree.tree()}
    assert set(drawn) == set(classes)
    for name, (parent, status) in drawn.items():
        cls = classes[name]
        assert cls.http_status == status, name
        if parent is not None:
            assert cls.__bases__[0] is classes[parent], name


@pytest.mark.parametrize("cls", [c for c in tree.tree() if 400 <= c.http_status < 500])
def test_the_client_maps_each_status_back_to_the_class(cls: type[tree.LoopwiseError]) -> None:
    body = {"error": "what the server said", "type": cls.__name__}
    assert type(tree.from_http(cls.http_status, body)) is cls
    # A server that names no class: the tree's most general class with that status.
    assert tree.error_class(cls.http_status, None).http_status == cls.http_status


# --- the same mistake, the same class, through either client -----------------------------------------


def _mistakes(c: lw.Client) -> dict[str, BaseException]:
    model = c.register("credit", SCHEMA)
    frame = make_credit(300, seed=3).drop(columns=["repaid"])
    model.log(frame)
    seen: dict[str, BaseException] = {}
    oversized = pa.Table.from_pandas(make_credit(5001, seed=4).drop(columns=["repaid"]), preserve_index=False)
    forty = pa.Table.from_pandas(frame.assign(income="forty"), preserve_index=False)
    for what, call in {
        "unknown model": lambda: c.model("nope"),
        # The same schema again changes nothing (decision 0038); another one is a conflict.
        "duplicate registration": lambda: c.register(
            "credit", {**SCHEMA, "columns": {k: v for k, v in SCHEMA["columns"].items() if k != "age"}}
        ),
        # Past the 5,000 rows a batch may hold on both sides: the SDK splits frames below it, so the
        # transport is called as a client of another language would call the API.
        "oversized batch": lambda: c.transport.log("credit", oversized, None, str(uuid.uuid4())),
        # Caught by the SDK before it sends (model.log converts numbers read as text, or names the rows)...
        "schema violation": lambda: model.log(frame.assign(income="forty")),
        # ...and by the server when a client sends it anyway.
        "schema violation sent": lambda: c.transport.log("credit", forty, None, str(uuid.uuid4())),
        "unknown reference": lambda: model.metrics("2026-01-01", "2026-02-01", reference="nope"),
    }.items():
        with pytest.raises(lw.LoopwiseError) as err:
            call()
        seen[what] = err.value
    return seen


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_both_clients_raise_the_same_class_for_the_same_mistake(server: Running, tmp_path: Path) -> None:
    remote = _mistakes(sdk(server))
    with lw.Client.local(tmp_path / "lw.db", max_rows=5000) as embedded:
        local = _mistakes(embedded)
    assert set(remote) == set(local)
    for what in local:
        assert type(remote[what]) is type(local[what]), (what, remote[what], local[what])
    assert isinstance(local["unknown model"], lw.NotFoundError)
    assert isinstance(local["duplicate registration"], lw.ConflictError)
    assert isinstance(local["oversized batch"], lw.LimitError)
    assert isinstance(local["schema violation"], lw.SchemaValidationError)
    assert isinstance(local["schema violation sent"], lw.SchemaValidationError)
    assert isinstance(local["unknown reference"], lw.NotFoundError)
    # And the server answered each with its class's one status.
    for what, exc in remote.items():
        if what == "schema violation":
            assert not hasattr(exc, "status")  # never sent
            continue
        assert exc.status == type(exc).http_status, what  # type: ignore[attr-defined]


def test_the_error_answer_in_docs_server_md(server: Running) -> None:
    """docs/server.md shows the error body of an unknown model; the server answers exactly that."""
    text = (Path(__file__).resolve().parents[2] / "docs/server.md").read_text(encoding="utf-8")
    block = re.search(r"## API description.*?```json\n(.*?)```", text, re.S)
    assert block is not None
    r = httpx.get(server.url + "/v1/models/nope", headers={"Authorization": f"Bearer {server.admin_key}"})
    assert r.status_code == 404 and r.json() == json.loads(block.group(1))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_times_past_year_9999_in_any_column_are_refused(server: Running) -> None:
    """schemathesis found an Arrow batch whose id column held times past year 9999 answering 500: Python
    cannot hold them (pyarrow's own ``to_pylist`` fails on them, as the assertion shows)."""
    import io

    c = client(server)
    assert c.post("/v1/models", json={"name": "credit", "schema": SCHEMA}).status_code == 201
    frame = make_credit(3, seed=1).drop(columns=["repaid", "request_id"])
    table = pa.Table.from_pandas(frame, preserve_index=False)
    ids = pa.array([2**62, 1, 2]).cast(pa.timestamp("s"))
    with pytest.raises(OverflowError):
        ids.to_pylist()
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, (t := table.append_column("request_id", ids)).schema) as w:
        w.write_table(t)
    r = c.post(
        "/v1/models/credit/predictions",
        content=sink.getvalue(),
        headers={"Content-Type": "application/vnd.apache.arrow.stream"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["issues"][0]["column"] == "request_id"
    assert c.get("/v1/models/credit").json()["predictions"] == 0
