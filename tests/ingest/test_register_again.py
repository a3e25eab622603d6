"""Registering a model again: with the schema it has (kinds the data fixed since included) it is a no-op
that returns the model, through both clients and the CLI; with another schema a ConflictError (409) that
names what differs (decision 0038)."""

from __future__ import annotations

import copy
from pathlib import Path

import httpx
import pytest
import yaml
from tests._fixtures import Running, run_cli
from tests._fixtures.http import sdk

import loopwise as lw
from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit

SCHEMA = yaml.safe_load(CREDIT_SCHEMA_YAML)


def _changed(**columns: dict[str, str] | None) -> dict[str, object]:
    spec = copy.deepcopy(SCHEMA)
    for name, body in columns.items():
        if body is None:
            del spec["columns"][name]
        else:
            spec["columns"][name] = body
    return spec


def _check(client: lw.Client) -> None:
    model = client.register("credit", SCHEMA)
    model.log(make_credit(200, seed=1).drop(columns=["repaid"]))  # fixes the open kinds (approved, ...)
    fixed = client.describe("credit")["schema"]
    assert fixed != lw.Schema.from_dict(SCHEMA).to_dict()  # the data filled something in
    again = client.register("credit", SCHEMA)
    assert again.name == "credit"
    assert client.describe("credit")["schema"] == fixed  # nothing changed
    assert [e["action"] for e in model.audit()].count("model.register") == 1

    with pytest.raises(lw.ConflictError) as kind:
        client.register("credit", _changed(age={"kind": "categorical"}))
    assert str(kind.value) == (
        "model 'credit' is already registered with another schema: column 'age': kind numeric registered, "
        "categorical given; a model's schema is not changed by registering it again (register a model of "
        "another name)"
    )
    with pytest.raises(
        lw.ConflictError, match=r"column 'score2' is not in the registered schema \(and 1 more"
    ):
        client.register("credit", _changed(score2={"kind": "numeric"}, age=None))
    with pytest.raises(lw.ConflictError, match="positive class none registered, 'true' given"):
        client.register("credit", {**SCHEMA, "positive": True})
    with pytest.raises(lw.ConflictError, match="column 'race': role segment registered, feature given"):
        client.register("credit", _changed(race={"kind": "categorical"}))


def test_the_local_client_and_the_cli(tmp_path: Path) -> None:
    with lw.Client.local(tmp_path / "lw.db") as client:
        _check(client)
    (tmp_path / "credit.yaml").write_text(CREDIT_SCHEMA_YAML, encoding="utf-8")
    r = run_cli("models", "register", "credit", "--schema", "credit.yaml", "--local", "lw.db", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (tmp_path / "other.yaml").write_text(
        CREDIT_SCHEMA_YAML.replace("{kind: numeric}", "{kind: categorical}", 1)
    )
    r = run_cli("models", "register", "credit", "--schema", "other.yaml", "--local", "lw.db", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "error: model 'credit' is already registered with another schema: column 'age': kind numeric "
        "registered, categorical given; a model's schema is not changed by registering it again (register a "
        "model of another name)"
    ]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_over_http(server: Running) -> None:
    _check(sdk(server))
    headers = {"Authorization": f"Bearer {server.admin_key}"}
    r = httpx.post(f"{server.url}/v1/models", json={"name": "credit", "schema": SCHEMA}, headers=headers)
    assert r.status_code == 200 and r.json()["name"] == "credit"  # 200: nothing new was made
    r = httpx.post(f"{server.url}/v1/models", json={"name": "fresh", "schema": SCHEMA}, headers=headers)
    assert r.status_code == 201
    r = httpx.post(
        f"{server.url}/v1/models", json={"name": "fresh", "schema": _changed(age=None)}, headers=headers
    )
    assert r.status_code == 409 and r.json() == {
        "error": "model 'fresh' is already registered with another schema: the registered schema has column "
        "'age', which this one lacks; a model's schema is not changed by registering it again (register a "
        "model of another name)",
        "type": "ConflictError",
    }
