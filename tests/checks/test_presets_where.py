"""Issue 15: presets in a suite file run with the schema given to ``run`` or the model's, and fit where they
run; Python API messages name Python arguments, never a CLI flag."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import loopwise as lw
from loopwise.checks import preset_suite
from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit

GATE = "suite: gate\npresets: [data_quality, classification]\n"


def test_a_suite_file_with_presets_runs_with_the_schema_passed_to_run(tmp_path: Path) -> None:
    (tmp_path / "gate.yaml").write_text(GATE)
    schema = lw.Schema.from_yaml(CREDIT_SCHEMA_YAML)
    ref, cur = make_credit(3000, seed=1), make_credit(3000, seed=2)
    result = lw.Suite.from_yaml(str(tmp_path / "gate.yaml")).run(cur, ref, schema=schema)
    # The same checks as the presets generated up front from the same schema (the old way still works).
    eager = lw.Suite.from_yaml(GATE, schema).run(cur, ref, schema=schema)
    assert [r.check.title for r in result.results] == [r.check.title for r in eager.results]
    assert [r.status for r in result.results] == [r.status for r in eager.results]
    assert result.counts["error"] == 0


def test_a_suite_file_with_presets_runs_on_a_served_model(tmp_path: Path) -> None:
    cur = make_credit(2000, seed=2)
    start = pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta(hours=2)
    cur["ts"] = start + pd.to_timedelta(np.arange(len(cur)) * 3, unit="s")
    client = lw.Client.local(tmp_path / "m.db")
    model = client.register("credit", yaml.safe_load(CREDIT_SCHEMA_YAML))
    model.set_reference(lw.profile(make_credit(3000, seed=1), schema=lw.Schema.from_yaml(CREDIT_SCHEMA_YAML)))
    model.log(cur.drop(columns=["repaid"]))
    model.log_feedback(cur.request_id[:500], cur.repaid[:500])  # labels for a quarter, the rest to come
    out = model.check(lw.Suite.from_yaml(GATE))
    names = [r.check.title for r in out.results]
    assert out.counts["error"] == 0, [r for r in out.results if r.status == "error"]
    # Fitted to a window: no missing rate for the target (labels arrive later), no duplicate count
    # (profiles cannot count duplicate rows); every other data-quality check is there.
    assert not any("repaid" in n and "missing_rate" in n for n in names)
    assert not any("duplicate_share" in n for n in names)
    assert sum("missing_rate" in n for n in names) == 13  # 16 columns less id, timestamp and target


def test_preset_where_offline_keeps_the_raw_data_checks() -> None:
    schema = lw.Schema.from_yaml(CREDIT_SCHEMA_YAML)
    data = {c.title for c in preset_suite("data_quality", schema, "data").checks}
    window = {c.title for c in preset_suite("data_quality", schema, "window").checks}
    assert data - window == {"missing_rate[repaid] <= reference +0.05", "duplicate_share <= 0.05"}
    with pytest.raises(lw.ParameterError, match="where"):
        preset_suite("data_quality", schema, "server")


def test_unknown_presets_in_a_file_are_named_at_load() -> None:
    with pytest.raises(lw.UnknownNameError, match="data_qualty"):
        lw.Suite.from_yaml("suite: g\npresets: [data_qualty]\n")


@pytest.mark.parametrize("call", ["fairness", "estimate_performance"])
def test_raw_frames_without_outputs_suggest_schema(call: str) -> None:
    df = make_credit(500, seed=1).rename(columns={"approved": "decision_made", "repaid": "paid_back"})
    run = (
        (lambda: lw.fairness(df, "race")) if call == "fairness" else (lambda: lw.estimate_performance(df, df))
    )
    with pytest.raises(lw.DataError) as err:
        run()
    message = str(err.value)
    assert "schema=" in message and "--" not in message and "\n" not in message
    assert "prediction: none" in message and "score: p_approve" in message


def test_the_documented_preset_snippet_runs(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "docs" / "checks.md").read_text(encoding="utf-8")
    section = text[text.index("## Presets") :]
    block = section.split("```python\n", 1)[1].split("```", 1)[0]
    schema = lw.Schema.from_yaml(CREDIT_SCHEMA_YAML)
    cur = make_credit(1000, seed=2)
    cur["ts"] = pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta(hours=1)
    model = lw.Client.local(tmp_path / "m.db").register("credit", yaml.safe_load(CREDIT_SCHEMA_YAML))
    model.set_reference(lw.profile(make_credit(2000, seed=1), schema=schema))
    model.log(cur.drop(columns=["repaid"]))
    model.log_feedback(cur.request_id[:300], cur.repaid[:300])
    env = {"today_df": cur, "ref_df": make_credit(2000, seed=1), "schema": schema, "model": model}
    exec(block, env)
    assert env["result"].counts["error"] == 0  # type: ignore[attr-defined]
    assert env["served"].counts["error"] == 0  # type: ignore[attr-defined]
