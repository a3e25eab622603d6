"""A corpus of malformed requests: each gets a clear 4xx, nothing is written, and the API keeps working."""

from __future__ import annotations

import json
from typing import Any

import httpx
from tests._fixtures import Running
from tests._fixtures.http import client, records, register, traffic


def _base() -> list[dict[str, Any]]:
    return records(traffic(3, seed=9, start="2026-11-21T00:00:00Z"))


def _with(**changes: Any) -> list[dict[str, Any]]:
    rows = _base()
    for k, v in changes.items():
        rows[1][k] = v
    return rows


def _without(col: str) -> list[dict[str, Any]]:
    rows = _base()
    for r in rows:
        r.pop(col)
    return rows


P = "/v1/models/credit/predictions"
F = "/v1/models/credit/feedback"
JSON = {"Content-Type": "application/json"}
# (name, method, path, body (bytes, or JSON-able), headers, expected status, text the error must contain)
CORPUS: list[tuple[str, str, str, Any, dict[str, str], int, str]] = [
    ("NaN literal", "POST", P, b'{"records": [{"income": NaN}]}', JSON, 400, "NaN is not valid JSON"),
    ("Infinity literal", "POST", P, b'[{"income": Infinity}]', JSON, 400, "Infinity is not valid JSON"),
    ("-Infinity literal", "POST", P, b'[{"income": -Infinity}]', JSON, 400, "-Infinity is not valid JSON"),
    ("invalid UTF-8", "POST", P, b'[{"purpose": "\xff\xfe"}]', JSON, 400, "not valid UTF-8"),
    ("deep nesting", "POST", P, b"[" * 200_000 + b"]" * 200_000, JSON, 400, "nested too deeply"),
    ("not JSON", "POST", P, b"hello", JSON, 400, "invalid JSON"),
    ("empty body", "POST", P, b"", JSON, 400, "empty"),
    ("a JSON number", "POST", P, b"42", JSON, 400, "list of records"),
    ("a list of numbers", "POST", P, b"[1, 2]", JSON, 422, "row 0 is not a JSON object"),
    ("records not a list", "POST", P, {"records": 5}, JSON, 400, "list of records"),
    ("empty batch", "POST", P, [], JSON, 422, "no rows"),
    ("string in a numeric column", "POST", P, _with(income="abc"), JSON, 422, "income"),
    ("unknown column", "POST", P, _with(colour="red"), JSON, 422, "colour"),
    ("missing column", "POST", P, _without("age"), JSON, 422, "age"),
    ("nested value", "POST", P, _with(age={"years": 3}), JSON, 422, "nested values"),
    ("a list value", "POST", P, _with(region=["a"]), JSON, 422, "nested values"),
    ("mixed types in a column", "POST", P, _with(purpose=7), JSON, 422, "purpose"),
    ("an integer past 64 bits", "POST", P, _with(income=2**70), JSON, 422, "income"),
    ("boolean as a string", "POST", P, _with(has_cosigner="yes"), JSON, 422, "has_cosigner"),
    (
        "duplicate event ids",
        "POST",
        P,
        _with(request_id=_base()[0]["request_id"]),
        JSON,
        422,
        "appears twice",
    ),
    ("missing event id", "POST", P, _with(request_id=None), JSON, 422, "needs an id"),
    ("time before 2000", "POST", P, _with(ts="1970-01-01T00:00:00Z"), JSON, 422, "before 2000"),
    ("time in the far future", "POST", P, _with(ts="2099-01-01T00:00:00Z"), JSON, 422, "ahead"),
    ("unparseable time", "POST", P, _with(ts="yesterday"), JSON, 422, "ISO 8601"),
    ("the target in a prediction", "POST", P, _with(repaid=True), JSON, 422, "repaid"),
    ("a probability above 1", "POST", P, _with(p_approve=1.5), JSON, 422, "probability in [0, 1]"),
    ("unknown model", "POST", "/v1/models/nope/predictions", _base(), JSON, 404, "no model named 'nope'"),
    (
        "unsupported content type",
        "POST",
        P,
        b"a,b\n1,2",
        {"Content-Type": "text/csv"},
        415,
        "unsupported content type",
    ),
    (
        "broken Arrow IPC",
        "POST",
        P,
        b"not arrow",
        {"Content-Type": "application/vnd.apache.arrow.stream"},
        400,
        "not valid Arrow",
    ),
    (
        "broken Parquet",
        "POST",
        P,
        b"PAR1 nope",
        {"Content-Type": "application/x-parquet"},
        400,
        "not valid Parquet",
    ),
    ("body over the limit", "POST", P, b"[" + b" " * (3 * 2**20) + b"]", JSON, 413, "limit"),
    ("rows over the limit", "POST", P, [{"x": 1}] * 5001, JSON, 413, "limit is 5000"),
    (
        "version not a string",
        "POST",
        P,
        {"records": _base(), "version": 5},
        JSON,
        422,
        "version must be a string",
    ),
    ("feedback without event id", "POST", F, [{"label": True}], JSON, 422, "event_id"),
    (
        "feedback of an unknown kind",
        "POST",
        F,
        [{"event_id": "a", "kind": "vote", "label": 1}],
        JSON,
        422,
        "kind",
    ),
    ("feedback NaN label", "POST", F, b'[{"event_id": "a", "label": NaN}]', JSON, 400, "NaN"),
    ("feedback object label", "POST", F, [{"event_id": "a", "label": {"x": 1}}], JSON, 422, "finite scalar"),
    (
        "feedback twice in a batch",
        "POST",
        F,
        [{"event_id": "a", "label": 1}, {"event_id": "a", "label": 0}],
        JSON,
        422,
        "twice",
    ),
    ("feedback unknown field", "POST", F, [{"event_id": "a", "label": 1, "score": 3}], JSON, 422, "score"),
    ("feedback empty", "POST", F, [], JSON, 422, "no feedback"),
    ("metrics with a bad time", "GET", "/v1/models/credit/metrics?start=monday", None, {}, 422, "ISO 8601"),
    ("metrics of an unknown model", "GET", "/v1/models/nope/metrics", None, {}, 404, "no model"),
    (
        "a schema with an unknown key",
        "POST",
        "/v1/models",
        {"name": "m2", "schema": {"columns": {"x": {"knd": 1}}}},
        JSON,
        422,
        "unknown key",
    ),
    (
        "a model registered twice",
        "POST",
        "/v1/models",
        {"name": "credit", "schema": {"columns": {"id": {"role": "id"}, "ts": {"role": "timestamp"}}}},
        JSON,
        409,
        "already registered",
    ),
    (
        "a bad model name",
        "POST",
        "/v1/models",
        {"name": "a b/c", "schema": {"columns": {}}},
        JSON,
        422,
        "model name",
    ),
    (
        "a suite with a typo",
        "POST",
        "/v1/models/credit/checks/run",
        {"suite": {"suite": "s", "checks": [{"metric": "acuracy", "condition": {"ge": 1}}]}},
        JSON,
        422,
        "valid names",
    ),
    (
        "a corrupt reference",
        "POST",
        "/v1/models/credit/references",
        b"LWPF\x01\x00\x00\x00junk",
        {"Content-Type": "application/octet-stream"},
        422,
        "corrupt",
    ),
]


def _state(c: httpx.Client) -> tuple[int, int]:
    m = c.get("/v1/models/credit/metrics")
    assert m.status_code == 200, m.text
    return m.json()["operations"]["predictions"], m.json()["operations"]["feedback"]


def test_the_malformed_corpus(server: Running) -> None:
    assert len(CORPUS) >= 40
    c = client(server)
    register(c)
    ok = c.post(P, json=records(traffic(50, seed=1)))
    assert ok.status_code == 200, ok.text
    before = _state(c)
    failures = []
    for name, method, path, body, headers, status, text in CORPUS:
        content = (
            body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
        )
        r = c.request(method, path, content=content, headers=headers)
        if r.status_code != status or text not in r.text:
            failures.append(f"{name}: {r.status_code} {r.text[:200]}")
            continue
        assert "Traceback" not in r.text
        if _state(c) != before:
            failures.append(f"{name}: something was written")
        assert c.get("/v1/models").status_code == 200
    assert not failures, "\n".join(failures)


def test_no_nan_reaches_a_json_response(server: Running) -> None:
    # One event: variances, AUC and intervals are undefined (NaN inside), and must come out as null.
    c = client(server)
    register(c)
    assert c.post(P, json=records(traffic(1, seed=3))).status_code == 200
    body = c.get("/v1/models/credit/metrics").text
    assert json.loads(body)["window"]["n"] == 1
    assert "NaN" not in body
    assert "Infinity" not in body
