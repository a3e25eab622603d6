"""Kinds a served model's schema leaves open are fixed once, from the first data, into the stored schema.

Issue 15: with the demo's schema (prediction and target without a kind) the server compared 12 columns
and found 6 drifted where the offline report on the same data found 8 of 14; a roles-only schema compared
nothing and said "no drift". The offline report is the independent answer here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from tests._fixtures import Running
from tests._fixtures.http import sdk

import loopwise as lw
from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit

SCHEMA = yaml.safe_load(CREDIT_SCHEMA_YAML)
ROLES_ONLY = {
    "columns": {
        "request_id": {"role": "id"},
        "ts": {"role": "timestamp"},
        "race": {"role": "segment"},
        "p_approve": {"role": "score"},
        "approved": {"role": "prediction"},
        "repaid": {"role": "target"},
    }
}


def _demo_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    # The demo's own data (``loopwise demo --rows 20000``): reference, and drifted current traffic
    # logged over the last three hours, as the demo logs it.
    ref, cur = make_credit(20_000, seed=7), make_credit(8_000, seed=7, drift=True)
    start = pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta(hours=3)
    cur["ts"] = start + pd.to_timedelta(np.arange(len(cur)) * (3 * 3600 / len(cur)), unit="s")
    return ref, cur


def _offline(ref: pd.DataFrame, cur: pd.DataFrame, spec: dict[str, Any]) -> lw.Report:
    schema = lw.Schema.from_dict(spec)
    return lw.compare(ref[schema.names], cur[schema.names], schema=schema)


def _drifted(metrics: dict[str, Any]) -> tuple[list[str], int]:
    dataset = metrics["drift"]["dataset"]
    return sorted(dataset["drifted_columns"]), int(dataset["n_columns_compared"])


def _serve(
    client: lw.Client, spec: dict[str, Any], ref: pd.DataFrame, cur: pd.DataFrame, *, reference_first: bool
) -> dict[str, Any]:
    schema = lw.Schema.from_dict(spec)
    model = client.register("credit", spec)
    reference = lw.profile(ref[schema.names], schema=schema)
    if reference_first:
        model.set_reference(reference)
    model.log(cur[schema.names].drop(columns=["repaid"]))
    model.log_feedback(cur["request_id"], cur["repaid"])
    if not reference_first:
        model.set_reference(reference)
    return model.metrics()


@pytest.mark.parametrize("reference_first", [True, False], ids=["reference-first", "traffic-first"])
def test_the_demo_through_the_server_finds_what_the_offline_report_finds(
    tmp_path: Path, reference_first: bool
) -> None:
    ref, cur = _demo_data()
    offline = _offline(ref, cur, SCHEMA)
    served = _serve(lw.Client.local(tmp_path / "m.db"), SCHEMA, ref, cur, reference_first=reference_first)
    drifted, compared = _drifted(served)
    assert len(offline.comparison.compared) == 14 and compared == 14
    assert drifted == sorted(offline.drifted_columns)
    assert {"approved", "repaid"} <= set(drifted)
    assert served["warnings"] == []


def test_a_roles_only_schema_compares_its_outputs_over_http(server: Running) -> None:
    ref, cur = _demo_data()
    offline = _offline(ref, cur, ROLES_ONLY)
    served = _serve(sdk(server), ROLES_ONLY, ref, cur, reference_first=False)
    drifted, compared = _drifted(served)
    assert compared == len(offline.comparison.compared) == 4  # race, p_approve, approved, repaid
    assert drifted == sorted(offline.drifted_columns) and drifted


def test_the_fixed_kinds_are_stored_with_when_and_from_what(tmp_path: Path) -> None:
    ref, cur = _demo_data()
    client = lw.Client.local(tmp_path / "m.db")
    _serve(client, ROLES_ONLY, ref, cur, reference_first=False)
    stored = client.transport.describe("credit")["schema"]  # type: ignore[attr-defined]
    columns, inferred = stored["columns"], stored["inferred"]
    # Independent answer: the Arrow types of what was logged (booleans, strings for race).
    assert columns["approved"]["kind"] == "boolean" and columns["repaid"]["kind"] == "boolean"
    assert columns["race"]["kind"] == "categorical"
    assert inferred["approved"]["from"].startswith("the first predictions batch")
    assert inferred["repaid"]["from"] == "the first labels"
    assert pd.Timestamp(inferred["approved"]["at"]) <= pd.Timestamp.now(tz="UTC")
    # The stored schema reads back as a Schema, and the record survives the round trip.
    assert lw.Schema.from_dict(stored).inferred["repaid"]["kind"] == "boolean"


def test_a_comparison_that_cannot_be_made_is_a_warning_in_the_metrics_answer(tmp_path: Path) -> None:
    ref, cur = _demo_data()
    client = lw.Client.local(tmp_path / "m.db")
    model = client.register("credit", SCHEMA)
    model.log(cur.drop(columns=["repaid"]))  # fixes approved: boolean
    # A reference whose outputs are 0/1 numbers: numeric columns, where the traffic's approved is boolean.
    odd = ref.assign(approved=ref["approved"].astype(int), repaid=ref["repaid"].astype(int))
    model.set_reference(lw.profile(odd, schema=lw.Schema.from_dict(SCHEMA)))
    m = model.metrics()
    assert any("'approved' not compared" in w and "kind differs" in w for w in m["warnings"])
    assert any("not compared" in w for w in m["drift"]["dataset"]["warnings"])
    assert "approved" not in m["drift"]["dataset"]["drifted_columns"]
