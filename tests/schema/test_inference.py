"""Issue 15: inference knows the names users have, infers the task, and the task decides what F1 means."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, log_loss, mean_absolute_error

import loopwise as lw
from loopwise.checks import Check, ge
from loopwise.datasets import make_credit
from loopwise.schema import Role, Task


def _evidence(suite_result: lw.SuiteResult, metric: str) -> dict[str, object]:
    (r,) = [r for r in suite_result.results if r.check.metric == metric]
    assert r.status != "error", r.reason
    return r.evidence  # type: ignore[return-value]


def test_the_readme_flow_infers_prediction_target_and_score() -> None:
    df = make_credit(3000, seed=1)
    s = lw.Schema.infer(df)
    assert s["approved"].role is Role.PREDICTION and s["repaid"].role is Role.TARGET
    assert s["p_approve"].role is Role.SCORE and s["p_approve"].label is None  # the positive class's
    assert s.task is Task.BINARY and s.positive == "true"
    # The README's gate on inferred roles: every classification check computes (none is an "error").
    ref, cur = make_credit(3000, seed=1), make_credit(3000, seed=2, drift=True)
    result = lw.Suite.from_yaml("suite: g\npresets: [classification]\n").run(cur, ref)
    assert result.counts["error"] == 0 and len(result.results) == 4


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("y_pred_proba", Role.SCORE),
        ("predicted_probability", Role.SCORE),
        ("default_proba", Role.SCORE),
        ("churn_prob", Role.SCORE),
        ("y_true", Role.TARGET),
        ("target", Role.TARGET),
        ("label", Role.TARGET),
        ("actual", Role.TARGET),
        ("ground_truth", Role.TARGET),
        ("y_pred", Role.PREDICTION),
        ("predicted_class", Role.PREDICTION),
        ("credit_score", Role.FEATURE),  # a score in the everyday sense is a feature
    ],
)
def test_common_names_get_their_role(name: str, role: Role) -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({name: rng.random(200), "x": rng.normal(size=200)})
    assert lw.Schema.infer(df)[name].role is role


def test_multiclass_score_columns_get_their_class_from_the_name() -> None:
    rng = np.random.default_rng(1)
    n, classes = 3000, ["cat", "dog", "owl"]
    raw = rng.dirichlet([2, 2, 2], size=n)
    y = np.array([rng.choice(3, p=p) for p in raw])
    df = pd.DataFrame(
        {
            "y_true": np.array(classes)[y],
            "y_pred": np.array(classes)[raw.argmax(1)],
            "proba_cat": raw[:, 0],
            "dog_proba": raw[:, 1],
            "proba_owl": raw[:, 2],
        }
    )
    s = lw.Schema.infer(df)
    assert [s[c].label for c in ("proba_cat", "dog_proba", "proba_owl")] == classes
    assert s.task is Task.MULTICLASS
    # The labels are right if the log loss is: scikit-learn's on the same probabilities.
    ev = _evidence(lw.Suite("s", [Check("log_loss", ge(0))]).run(df, schema=s), "log_loss")
    assert ev["value"] == pytest.approx(log_loss(df.y_true, raw, labels=classes), rel=1e-9)


def test_integer_classes_are_classification_and_f1_is_binary() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 2000)
    pred = np.where(rng.random(2000) < 0.8, y, 1 - y)
    df = pd.DataFrame({"x": rng.normal(size=2000), "prediction": pred, "target": y})
    s = lw.Schema.infer(df)
    assert s.task is Task.BINARY and s.task_source.startswith("inferred")
    ev = _evidence(lw.Suite("s", [Check("f1", ge(0))]).run(df, schema=s), "f1")
    assert ev["value"] == pytest.approx(f1_score(y, pred))
    assert ev["details"]["average"] == "binary"  # type: ignore[index]


def test_many_distinct_numbers_are_regression() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=500)
    df = pd.DataFrame({"prediction": y + rng.normal(0, 0.1, 500), "target": y})
    s = lw.Schema.infer(df)
    assert s.task is Task.REGRESSION
    ev = _evidence(lw.Suite("s", [Check("mae", ge(0))]).run(df, schema=s), "mae")
    assert ev["value"] == pytest.approx(mean_absolute_error(df.target, df.prediction))


def test_the_declared_task_decides_what_f1_means_whatever_the_encoding() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 3000)
    pred = np.where(rng.random(3000) < 0.75, y, 1 - y)
    words = np.array(["no", "yes"])
    df = pd.DataFrame({"prediction": words[pred], "target": words[y]})
    binary = lw.Schema.from_yaml(
        "task: binary\npositive: 'yes'\n"
        "columns:\n  prediction: {role: prediction}\n  target: {role: target}\n"
    )
    f1 = _evidence(lw.Suite("s", [Check("f1", ge(0))]).run(df, schema=binary), "f1")
    # Same F1 as the 0/1 encoding of the same outcomes: the task decides, not the labels' spelling.
    assert (
        f1["value"]
        == pytest.approx(f1_score(y, pred))
        == pytest.approx(f1_score(df.target, df.prediction, pos_label="yes"))
    )
    assert f1["details"]["average"] == "binary"  # type: ignore[index]
    # Without a positive class a binary task with word labels says it averaged over both classes.
    bare = lw.Schema.infer(df)
    assert bare.task is Task.BINARY and bare.positive is None
    macro = _evidence(lw.Suite("s", [Check("f1", ge(0))]).run(df, schema=bare), "f1")
    assert macro["value"] == pytest.approx(f1_score(df.target, df.prediction, average="macro"))
    assert macro["details"]["average"] == "macro" and "positive" in str(macro["warning"])  # type: ignore[index]
    # And a declared multiclass task averages 0/1 labels over the classes too.
    multi = lw.Schema.from_yaml(
        "task: multiclass\ncolumns:\n  prediction: {role: prediction}\n  target: {role: target}\n"
    )
    zero_one = pd.DataFrame({"prediction": pred, "target": y})
    m = _evidence(lw.Suite("s", [Check("f1", ge(0))]).run(zero_one, schema=multi), "f1")
    assert m["value"] == pytest.approx(f1_score(y, pred, average="macro"))


def test_the_task_round_trips_and_bad_values_are_named() -> None:
    s = lw.Schema.from_yaml(
        "task: binary\npositive: 1\ncolumns:\n  p: {role: prediction}\n  t: {role: target}\n"
    )
    assert s.positive == "1" and lw.Schema.from_yaml(s.to_yaml()) == s
    with pytest.raises(
        lw.SchemaError, match="task must be one of binary, multiclass, regression; got 'binay'"
    ):
        lw.Schema.from_yaml("task: binay\ncolumns:\n  p: {role: prediction}\n")
    with pytest.raises(lw.SchemaError, match="positive class of a binary task"):
        lw.Schema.from_yaml("task: regression\npositive: 1\ncolumns:\n  p: {role: prediction}\n")


def test_a_profile_keeps_the_task_for_stored_comparisons() -> None:
    df = make_credit(2000, seed=3)
    p = lw.profile(df)
    assert p.schema.task is Task.BINARY
    assert lw.Profile.from_bytes(p.to_bytes()).schema.task is Task.BINARY


def test_the_cli_prints_the_inferred_task_with_its_reason(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 300)
    pd.DataFrame({"x": rng.normal(size=300), "y_pred": y, "y_true": y[::-1]}).to_parquet(
        tmp_path / "d.parquet"
    )
    out = subprocess.run(
        [sys.executable, "-m", "loopwise.cli", "schema", "infer", str(tmp_path / "d.parquet")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]
    assert first == "task: binary  # inferred: prediction and target hold at most 10 distinct integers"
    assert lw.Schema.from_yaml(out.stdout).task is Task.BINARY


def test_a_declared_schema_with_several_scores_takes_their_classes_from_the_names() -> None:
    s = lw.Schema.from_yaml(
        "columns:\n  y: {role: target}\n  yhat: {role: prediction}\n"
        "  proba_cat: {role: score}\n  dog_proba: {role: score}\n  p_owl: {role: score, label: bird}\n"
    )
    assert [s[c].label for c in ("proba_cat", "dog_proba", "p_owl")] == ["cat", "dog", "bird"]
    # A lone score stays the positive class's probability.
    assert lw.Schema.from_yaml("columns:\n  p_approve: {role: score}\n")["p_approve"].label is None
