"""A reference is training data: every feature, the label and segments when held, and no event ids, times or
served outputs needed. Every route (``set_reference``, ``loopwise models reference``, ``loopwise profile
--schema``, ``lw.compare``, a version's lineage reference) takes the same file (the trial: all but the
last refused it, naming the id, the time and the outputs, and suggested the label for the prediction)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests._fixtures import run_cli

import loopwise as lw
from loopwise.errors import did_you_mean
from loopwise.ingest import get_reference
from loopwise.profiles.numeric import NumericProfile
from loopwise.schema.numbers import missing_columns

SCHEMA = """\
columns:
  request_id: {role: id}
  ts: {role: timestamp}
  income: {kind: numeric}
  age: {kind: numeric}
  region: {role: segment, kind: categorical}
  default_pred: {role: prediction, kind: boolean}
  p_default: {role: score}
  defaulted: {role: target, kind: boolean}
"""


def training(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income, age = rng.normal(50, 10, n), rng.integers(18, 80, n).astype(float)
    region = rng.choice(["north", "south", "west"], n)
    return pd.DataFrame(
        {"income": income, "age": age, "region": region, "defaulted": income + rng.normal(0, 8, n) < 45}
    )


def test_training_data_becomes_a_reference_by_every_route(tmp_path: Path) -> None:
    train = training(3000, 1)
    path = tmp_path / "train.parquet"
    train.to_parquet(path)
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    db = tmp_path / "lw.db"
    client = lw.Client.local(f"sqlite:///{db}")
    client.register("credit", lw.Schema.from_yaml(SCHEMA))
    model = client.model("credit")

    stored = model.set_reference(train)
    assert stored["rows"] == 3000
    with model.transport.read_sessions() as s:  # type: ignore[attr-defined]
        ref = get_reference(s, "credit")
    assert sorted(ref.columns) == ["age", "defaulted", "income", "region"]
    income = ref["income"]
    assert isinstance(income, NumericProfile) and income.n == 3000
    assert income.moments.mean == pytest.approx(train.income.mean(), rel=1e-12)
    assert sorted(ref.segments["region"]) == ["north", "south", "west"]
    client.close()

    r = run_cli("models", "reference", "credit", str(path), "--name", "train", "--local", str(db))
    assert r.returncode == 0, r.stderr
    assert "reference 'train' of 'credit': 3,000 rows" in r.stderr
    r = run_cli(
        "profile", str(path), "--schema", str(tmp_path / "schema.yaml"), "-o", str(tmp_path / "r.lwp")
    )
    assert r.returncode == 0, r.stderr
    offline = lw.Profile.from_bytes((tmp_path / "r.lwp").read_bytes())
    assert sorted(offline.columns) == sorted(ref.columns)
    assert list(offline.segments) == list(ref.segments) == ["region"]

    # A current window with served outputs compares with it: the outputs have no baseline, and it says so.
    current = training(1000, 2).assign(default_pred=True, p_default=0.5)
    comparison = lw.compare(train, current, schema=lw.Schema.from_yaml(SCHEMA)).comparison
    assert {c.name for c in comparison.columns} == {"income", "age", "region", "defaulted"}
    assert "column(s) only in the current data, not compared: default_pred, p_default" in comparison.warnings


def test_a_missing_feature_is_refused_naming_it_and_only_typos_are_suggested(tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    training(200, 3).rename(columns={"income": "incme"}).to_parquet(path)
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    r = run_cli(
        "profile", str(path), "--schema", str(tmp_path / "schema.yaml"), "-o", str(tmp_path / "r.lwp")
    )
    assert r.returncode == 2
    assert r.stderr.strip() == (
        "error: feature(s) of the schema missing from the data: income (did you mean 'incme'?)"
    )
    with pytest.raises(lw.DataError, match=r"missing from the data: income \(did you mean 'incme'\?\)$"):
        lw.profile(pd.read_parquet(path), schema=lw.Schema.from_yaml(SCHEMA))
    # Similarity alone offered 'defaulted' for default_pred: three letters away is another word.
    assert did_you_mean("default_pred", ["defaulted"]) == did_you_mean("p_default", ["defaulted"]) == ""
    assert did_you_mean("regoin", ["region"]) == " (did you mean 'region'?)"
    # A column the schema names (here the label) is no typo of another of its columns.
    schema = lw.Schema.from_yaml("columns:\n  age: {kind: numeric}\n  ages: {role: target}\n")
    assert (
        str(missing_columns(schema, ["ages"], "data")) == "column(s) of the schema missing from the data: age"
    )
    assert str(missing_columns(schema, ["ages", "agee"], "data")).endswith("age (did you mean 'agee'?)")
