"""A new-user trial: the gate's table showed, as "actual" of a non-inferiority check, the one-sided lower
bound, which the user took for the difference ``loopwise versions compare`` printed. Every place the gate's
checks are drawn (the CLI of ``versions gate`` and of ``check``, the HTML reports, the API's GateResult, the
verdict, Markdown, ``print``) now shows the difference and the bound, each named; the numbers are checked
against the comparison's own difference and statsmodels/scipy on the raw labels."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from tests._fixtures import run_cli
from tests._fixtures.registry import lw_url, open_model
from tests.registry.test_gate import DAY, setup

from loopwise.checks import Suite, SuiteResult, non_inferior, to_markdown
from loopwise.report.checks import render_suite
from loopwise.report.gate import render_gate

N, LABELLED = 1500, 400


def _weak(train: tuple[pd.DataFrame, pd.Series]) -> Pipeline:
    X, y = train
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X.assign(age=0.0), y)


def _lower(a: np.ndarray, b: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The paired difference in accuracy (b - a) and its one-sided 95% Wald lower bound, from the raw
    labels."""
    ok_a, ok_b = a == y, b == y
    n01, n10, n = int(np.sum(ok_a & ~ok_b)), int(np.sum(~ok_a & ok_b)), y.size
    diff = (n10 - n01) / n
    se = math.sqrt(n10 + n01 - (n10 - n01) ** 2 / n) / n
    return diff, diff - norm.ppf(0.95) * se


def test_the_gates_table_names_the_difference_and_its_lower_bound_everywhere(
    tmp_path: Path, pipeline: Pipeline, train: tuple[pd.DataFrame, pd.Series]
) -> None:
    weak = _weak(train)
    db = lw_url(tmp_path)
    model = open_model(db, tmp_path / "artifacts")
    X, y, ids = setup(model, pipeline, weak, n=N, seed=11)
    model.log_feedback(ids[:LABELLED], y.to_numpy()[:LABELLED])
    diff, lower = _lower(weak.predict(X)[:LABELLED], pipeline.predict(X)[:LABELLED], y.to_numpy()[:LABELLED])
    assert lower < diff - 0.01  # the two numbers differ enough to be told apart at 4 decimals

    # What `versions compare` prints as the difference is what the gate names the difference.
    cmp = run_cli(
        "versions", "compare", "credit", *_window(), "--challenger", "v2", "--local", str(tmp_path / "lw.db")
    )
    assert cmp.returncode == 0, cmp.stderr
    assert f"{diff:+.4f}" in cmp.stdout
    shown = f"lower bound {lower:+.4f} (one-sided 95%; difference {diff:+.4f})"

    # The API's (and the SDK's) GateResult: the bound stays `actual`, and `actual_text` names both.
    gate = Suite("gate", [non_inferior("accuracy", margin=0.001)])
    found = model.gate("v2", gate, **DAY)
    (check,) = found.checks["checks"]
    assert check["actual"] == pytest.approx(lower, abs=1e-9)
    assert check["evidence"]["difference"] == pytest.approx(diff, abs=1e-12)
    assert check["actual_text"] == shown
    if found.status == "fail":  # the verdict reads the bound by its name too
        assert shown in found.verdict

    # The HTML report of the gate (its checks' table) and the shell's table.
    assert shown in render_gate(found, plotly="cdn")
    (tmp_path / "gate.yaml").write_text(yaml.safe_dump(gate.to_dict()))
    html = tmp_path / "gate.html"
    r = run_cli(
        "versions", "gate", "credit", "v2", *_window(), "--champion", "v1",
        "--suite", str(tmp_path / "gate.yaml"), "--html", str(html), "--local", str(tmp_path / "lw.db"),
    )  # fmt: skip
    assert r.returncode in (0, 1), r.stderr
    row = next(line for line in r.stdout.splitlines() if "not worse by more than" in line)
    assert shown in row, r.stdout
    assert shown in html.read_text()

    # A result stored before checks carried `actual_text` reads the same: it is made again when read.
    stored = model.gate_results("v2")[0]
    assert stored.checks["checks"][0]["actual_text"] == shown


def _window() -> list[str]:
    return ["--start", DAY["start"], "--end", DAY["end"]]


def test_loopwise_check_with_the_challenger_gate_preset_names_both(tmp_path: Path) -> None:
    """The same in a CI check on files: the shell's table, the Markdown comment, the HTML report, print."""
    rng = np.random.default_rng(3)
    n = 600
    y = rng.random(n) < 0.5
    champ = np.where(rng.random(n) < 0.80, y, ~y)
    chall = np.where(rng.random(n) < 0.03, ~champ, champ)  # a challenger that differs on 3% of rows
    schema = {"columns": {"id": {"role": "id"}, "pred": {"role": "prediction", "kind": "boolean"},
                          "label": {"role": "target", "kind": "boolean"}}}  # fmt: skip
    ids = [f"r{i}" for i in range(n)]
    pd.DataFrame({"id": ids, "pred": champ}).to_parquet(tmp_path / "champion.parquet")
    pd.DataFrame({"id": ids, "pred": chall, "label": y}).to_parquet(tmp_path / "challenger.parquet")
    (tmp_path / "schema.yaml").write_text(yaml.safe_dump(schema))
    diff, lower = _lower(champ, chall, y)

    r = run_cli(
        "check", "--preset", "challenger_gate", "--schema", str(tmp_path / "schema.yaml"),
        "--current", str(tmp_path / "challenger.parquet"), "--champion", str(tmp_path / "champion.parquet"),
        "--challenger", str(tmp_path / "challenger.parquet"), "--json", str(tmp_path / "out.json"),
        "--markdown", str(tmp_path / "out.md"), "--html", str(tmp_path / "out.html"),
    )  # fmt: skip
    assert r.returncode in (0, 1), r.stderr
    doc = json.loads((tmp_path / "out.json").read_text())
    accuracy = next(
        c for c in doc["checks"]
        if c["metric"] == "challenger_difference_lower" and c["params"]["metric"] == "accuracy"
    )  # fmt: skip
    assert accuracy["actual"] == pytest.approx(lower, abs=1e-9)
    shown = f"lower bound {lower:+.4f} (one-sided 95%; difference {diff:+.4f})"
    assert accuracy["actual_text"] == shown
    assert shown in r.stdout
    assert shown in (tmp_path / "out.md").read_text()
    assert shown in (tmp_path / "out.html").read_text()
    result = SuiteResult.from_dict(doc)
    assert shown in str(result) and shown in to_markdown(result) and shown in render_suite(result)
    assert accuracy["message"].startswith(f"challenger_difference_lower = {shown} ")


def test_a_metric_where_lower_is_better_names_the_improvement() -> None:
    from loopwise.checks.check import actual_text

    ev = {"difference": -0.0021, "higher_is_better": False, "alpha": 0.1}
    assert actual_text("challenger_difference_lower", 0.0004, ev) == (
        "lower bound of the improvement +0.0004 (one-sided 90%; difference -0.0021, lower is better)"
    )
    assert actual_text("challenger_difference", 0.0021, ev) == (
        "improvement +0.0021 (difference -0.0021, lower is better)"
    )
    assert actual_text("challenger_p_value", 0.0312, ev) == "0.0312"
    assert actual_text("challenger_difference_lower", None, ev) == ""
