"""Checks and Suites: conditions, YAML, running on data and on profiles, reporters, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import demographic_parity_difference
from junitparser import Error, Failure, JUnitXml
from sklearn.metrics import accuracy_score
from tests._fixtures import run_cli as run

import loopwise as lw
from loopwise.checks import (
    Reference,
    between,
    eq,
    ge,
    gt,
    le,
    lt,
    preset_suite,
    to_json,
    to_junit,
    to_markdown,
)
from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit

ISSUE_SUITE = """
suite: credit-risk-gate
checks:
  - metric: accuracy
    condition: {ge: 0.80}
  - metric: demographic_parity_difference
    segment: race
    condition: {le: 0.10}
    severity: warn
  - metric: psi
    column: income
    condition: {lt: 0.2}
"""


@pytest.fixture(scope="module")
def schema() -> lw.Schema:
    return lw.Schema.from_yaml(CREDIT_SCHEMA_YAML)


@pytest.fixture(scope="module")
def ref() -> pd.DataFrame:
    return make_credit(20_000, seed=1)


@pytest.fixture(scope="module")
def cur() -> pd.DataFrame:
    return make_credit(10_000, seed=2, drift=True)


def test_conditions() -> None:
    assert lt(0.2)(0.1) and not lt(0.2)(0.2) and le(0.2)(0.2)
    assert gt(1)(2) and ge(1)(1) and eq(0)(1e-12) and not eq(0)(0.1)
    assert between(0, 1)(0.5) and not between(0, 1)(1.5)
    assert ge(Reference(absolute=-0.05))(0.86, 0.9) and not ge(Reference(absolute=-0.05))(0.84, 0.9)
    assert le(Reference(relative=0.1))(1.09, 1.0) and not le(Reference(relative=0.1))(1.11, 1.0)
    assert repr(ge(Reference(absolute=-0.05))) == "ge(reference -0.05)"
    assert le(Reference(absolute=0.05)).describe(0.1) == "<= 0.15 (reference +0.05)"
    with pytest.raises(lw.ParameterError, match="'lt'"):
        lt("high")  # type: ignore[arg-type]


def test_the_issue_suite_runs_against_independent_answers(
    schema: lw.Schema, ref: pd.DataFrame, cur: pd.DataFrame
) -> None:
    suite = lw.Suite.from_yaml(ISSUE_SUITE)
    result = suite.run(cur, ref, schema=schema)
    by_metric = {r.check.metric: r for r in result.results}
    acc = by_metric["accuracy"]
    assert acc.actual == pytest.approx(accuracy_score(cur["repaid"], cur["approved"]))
    assert acc.status == ("pass" if acc.actual >= 0.8 else "fail")  # type: ignore[operator]
    dp = by_metric["demographic_parity_difference"]
    assert dp.actual == pytest.approx(
        demographic_parity_difference(cur["repaid"], cur["approved"], sensitive_features=cur["race"])
    )
    psi = by_metric["psi"]
    assert psi.actual == pytest.approx(_psi(ref, cur), rel=1e-9)
    assert result.status == max(
        (r.status for r in result.results), key=lambda s: {"pass": 0, "warn": 1, "error": 2, "fail": 3}[s]
    )
    doc = json.loads(to_json(result))
    assert doc["status"] == result.status
    for c in doc["checks"]:
        assert {"name", "metric", "column", "segment", "status", "actual", "condition", "reason"} <= set(c)


def _psi(ref: pd.DataFrame, cur: pd.DataFrame) -> float:
    r = ref["income"].dropna().to_numpy()
    c = cur["income"].dropna().to_numpy()
    cuts = np.unique(np.quantile(r, np.arange(1, 10) / 10, method="lower"))
    p = np.maximum(np.bincount(np.digitize(r, cuts), minlength=10) / r.size, 1e-4)
    q = np.maximum(np.bincount(np.digitize(c, cuts), minlength=10) / c.size, 1e-4)
    return float(np.sum((q - p) * np.log(q / p)))


def test_yaml_errors_name_what_and_where() -> None:
    with pytest.raises(lw.SchemaError, match=r"checks\[0\]: unknown key 'conditon'; valid keys: metric"):
        lw.Suite.from_yaml("suite: s\nchecks:\n  - metric: accuracy\n    conditon: {ge: 0.8}\n")
    with pytest.raises(
        lw.UnknownNameError, match=r"unknown metric in checks\[0\] 'acuracy'; valid names: .*accuracy"
    ):
        lw.Suite.from_yaml("suite: s\nchecks:\n  - metric: acuracy\n    condition: {ge: 0.8}\n")
    with pytest.raises(lw.SchemaError, match=r"checks\[0\]: metric 'psi' is per column; give 'column'"):
        lw.Suite.from_yaml("suite: s\nchecks:\n  - metric: psi\n    condition: {lt: 0.2}\n")
    with pytest.raises(lw.SchemaError, match="cannot be relative to the reference"):
        lw.Suite.from_yaml(
            "suite: s\nchecks:\n  - {metric: psi, column: x, condition: {lt: {reference: {relative: 1}}}}\n"
        )
    with pytest.raises(lw.SchemaError, match=r"checks\[0\].condition.*one of lt, le, gt, ge, eq, between"):
        lw.Suite.from_yaml("suite: s\nchecks:\n  - {metric: accuracy, condition: {gte: 0.8}}\n")
    with pytest.raises(lw.SchemaError, match=r"unknown key.*'check'"):
        lw.Suite.from_yaml("suite: s\ncheck: []\n")


def test_uncomputable_checks_are_errors_with_a_reason(schema: lw.Schema, cur: pd.DataFrame) -> None:
    suite = lw.Suite(
        "s",
        [
            lw.Check("accuracy", ge(Reference(absolute=-0.01))),
            lw.Check("psi", lt(0.2), column="income"),
            lw.Check("missing_rate", le(0.1), column="not_a_column"),
        ],
    )
    result = suite.run(cur, schema=schema)  # no reference
    assert [r.status for r in result.results] == ["error", "error", "error"]
    assert "no reference" in (result.results[0].reason or "")
    assert "needs a reference" in (result.results[1].reason or "")
    assert "not_a_column" in (result.results[2].reason or "")
    both = suite.run(cur, cur, schema=schema).results  # a typo in a check's column names the close one
    typo = lw.Suite("s", [lw.Check("psi", lt(0.2), column="incme")]).run(cur, cur, schema=schema).results[0]
    assert typo.status == "error" and "(did you mean 'income'?)" in (typo.reason or ""), typo.reason
    assert both[2].status == "error" and "did you mean" not in (both[2].reason or "")
    unlabeled = cur.assign(repaid=pd.Series([None] * len(cur), dtype=object))
    r = lw.Suite("s", [lw.Check("accuracy", ge(0.5))]).run(unlabeled, schema=schema).results[0]
    assert r.status == "error" and "no labelled rows" in (r.reason or "")


def test_presets_and_profiles_only(schema: lw.Schema, ref: pd.DataFrame, cur: pd.DataFrame) -> None:
    suite = (
        preset_suite("classification", schema)
        + preset_suite("fairness", schema)
        + preset_suite("data_drift", schema)
    )
    raw = suite.run(cur, ref, schema=schema)
    ref_p = lw.profile(ref, schema=schema)
    cur_p = lw.profile(cur, schema=schema, reference=ref_p)
    prof = suite.run(cur_p, ref_p, schema=schema)
    for a, b in zip(raw.results, prof.results, strict=True):
        assert a.check == b.check
        if a.check.metric in ("accuracy", "f1", "demographic_parity_difference", "equalized_odds_difference"):
            assert b.actual == pytest.approx(a.actual, rel=1e-12), a.check.title
        if a.check.metric == "drifted":
            assert b.status in ("pass", "fail", "warn")
    roc = next(r for r in prof.results if r.check.metric == "roc_auc")
    roc_raw = next(r for r in raw.results if r.check.metric == "roc_auc")
    assert abs(roc.actual - roc_raw.actual) <= roc.evidence["error_bound"]  # type: ignore[operator]


def test_junit_is_valid_for_ci_tools(
    schema: lw.Schema, ref: pd.DataFrame, cur: pd.DataFrame, tmp_path: Path
) -> None:
    suite = lw.Suite.from_yaml(ISSUE_SUITE) + lw.Suite(
        "x", [lw.Check("psi", lt(1e-9), column="income"), lw.Check("missing_rate", le(0.1), column="nope")]
    )
    result = suite.run(cur, ref, schema=schema)
    path = tmp_path / "out.xml"
    path.write_text(to_junit(result))
    xml = JUnitXml.fromfile(str(path))
    cases = [case for s in xml for case in s]
    assert len(cases) == len(result.results)
    failures = sum(1 for c in cases for r in c.result if isinstance(r, Failure))
    errors = sum(1 for c in cases for r in c.result if isinstance(r, Error))
    assert failures == result.counts["fail"] and errors == result.counts["error"] == 1
    md = to_markdown(result)
    assert md.count("\n| ") == len(result.results) + 1 and "💥" in md


def test_cli_gate_with_a_challenger(tmp_path: Path, schema: lw.Schema, ref: pd.DataFrame) -> None:
    (tmp_path / "schema.yaml").write_text(CREDIT_SCHEMA_YAML)
    same = make_credit(8000, seed=3)
    same.to_parquet(tmp_path / "cur.parquet")
    ref.to_parquet(tmp_path / "ref.parquet")
    rng = np.random.default_rng(0)
    champion = same[["request_id", "approved", "p_approve"]]
    flip = rng.random(len(same)) < 0.1  # the challenger is wrong on 10% more rows
    challenger = champion.assign(approved=np.where(flip, ~same["approved"], same["approved"]))
    champion.to_parquet(tmp_path / "champ.parquet")
    challenger.to_parquet(tmp_path / "chall.parquet")
    suite = tmp_path / "gate.yaml"
    suite.write_text(
        "suite: gate\nchecks:\n  - metric: challenger_difference_lower\n    params: {metric: accuracy}\n"
        "    condition: {ge: -0.005}\n  - metric: missing_rate\n    column: income\n"
        "    condition: {le: {reference: {absolute: 0.05}}}\n"
    )
    base = [
        "check",
        str(suite),
        "--schema",
        str(tmp_path / "schema.yaml"),
        "--current",
        str(tmp_path / "cur.parquet"),
        "--reference",
        str(tmp_path / "ref.parquet"),
        "--json",
        str(tmp_path / "r.json"),
        "--junit",
        str(tmp_path / "r.xml"),
    ]
    bad = run(
        *base, "--champion", str(tmp_path / "champ.parquet"), "--challenger", str(tmp_path / "chall.parquet")
    )
    assert bad.returncode == 1, bad.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    gate = doc["checks"][0]
    assert gate["status"] == "fail" and gate["evidence"]["test"].startswith("mcnemar")
    good = run(
        *base, "--champion", str(tmp_path / "champ.parquet"), "--challenger", str(tmp_path / "champ.parquet")
    )
    assert good.returncode == 0, good.stdout + good.stderr
    assert run(*base).returncode == 1  # no champion given: the gate check is an error, not a pass
    assert json.loads((tmp_path / "r.json").read_text())["checks"][0]["status"] == "error"
    typo = tmp_path / "typo.yaml"
    typo.write_text("suite: t\nchecks:\n  - metric: acuracy\n    condition: {ge: 0.8}\n")
    r = run("check", str(typo), "--current", str(tmp_path / "cur.parquet"))
    assert r.returncode == 2 and "valid names" in r.stderr
    assert (
        run("check", "--current", str(tmp_path / "cur.parquet")).returncode == 2
    )  # neither suite nor preset


def test_regression_preset_against_sklearn() -> None:
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    rng = np.random.default_rng(4)

    def frame(n: int, noise: float) -> pd.DataFrame:
        x = rng.normal(size=n)
        y = 3 * x + rng.normal(0, 1, n)
        return pd.DataFrame({"x": x, "prediction": 3 * x + rng.normal(0, noise, n), "target": y})

    schema = lw.Schema.from_yaml(
        "columns:\n  x: {kind: numeric}\n  prediction: {role: prediction}\n  target: {role: target}\n"
    )
    ref, cur = frame(20_000, 0.3), frame(10_000, 0.9)
    result = preset_suite("regression", schema).run(cur, ref, schema=schema)
    got = {r.check.metric: r for r in result.results}
    assert got["mae"].actual == pytest.approx(mean_absolute_error(cur["target"], cur["prediction"]))
    assert got["rmse"].actual == pytest.approx(root_mean_squared_error(cur["target"], cur["prediction"]))
    assert got["r2"].actual == pytest.approx(r2_score(cur["target"], cur["prediction"]))
    assert got["mae"].reference_value == pytest.approx(mean_absolute_error(ref["target"], ref["prediction"]))
    assert got["rmse"].status == "fail"  # the noisier model is more than 10% worse than the reference


def test_an_empty_segment_is_an_error_with_a_reason(schema: lw.Schema, cur: pd.DataFrame) -> None:
    blank = cur.assign(race=pd.Series([None] * len(cur), dtype=object))
    r = (
        lw.Suite("s", [lw.Check("demographic_parity_difference", le(0.1), segment="race")])
        .run(blank, schema=schema)
        .results[0]
    )
    assert r.status == "error"
    assert "fewer than two groups" in (r.reason or "")


def test_markdown_escapes_what_goes_into_it() -> None:
    """A column name with a newline and a heading, or with HTML, renders as text (markdown-it, CommonMark
    with tables, is the independent reader: what GitHub shows a pull request)."""
    from markdown_it import MarkdownIt

    evil = ["a\n# Injected heading", "<script>alert(1)</script>", "x|y`z*w_[l](http://e.x)"]
    data = pd.DataFrame({name: [1.0, None, 3.0] for name in evil})
    suite = lw.Suite("gate <b>", [lw.Check("missing_rate", lt(0.5), column=name) for name in evil])
    md = to_markdown(suite.run(data))
    rendered = MarkdownIt("commonmark").enable("table").render(md)
    assert rendered.count("<h") == 1 and "<h3>" in rendered  # the summary's own heading, and no other
    assert "<script>" not in rendered and "<b>" not in rendered and "<a href" not in rendered
    assert rendered.count("<tr>") == len(evil) + 1  # the header row, and one row per check: no cell split
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered and "Injected heading" in rendered


def test_a_challenger_check_in_python_says_how_to_pass_the_models() -> None:
    """The trial ran checks.md's suite with `Suite.run` and read "needs --champion and --challenger": a CLI
    flag inside the Python API. The reason names run's arguments; with them, the check is McNemar's."""
    schema = lw.Schema.from_yaml(CREDIT_SCHEMA_YAML)
    today = make_credit(3000, seed=2)
    suite = lw.Suite(
        "gate", [lw.Check("challenger_difference", lw.checks.ge(-1.0), params={"metric": "accuracy"})]
    )
    missing = suite.run(today, schema=schema).results[0]
    assert missing.status == "error" and "Suite.run(..., champion=, challenger=)" in (missing.reason or "")
    challenger = today.assign(approved=today["p_approve"] >= 0.45)
    result = suite.run(today, schema=schema, champion=today, challenger=challenger).results[0]
    expected = accuracy_score(today["repaid"], challenger["approved"]) - accuracy_score(
        today["repaid"], today["approved"]
    )
    assert result.status == "pass" and result.actual == pytest.approx(expected, abs=1e-12)


def test_an_explicit_check_overrides_the_presets_check_of_the_same_measurement(
    schema: lw.Schema, ref: pd.DataFrame, cur: pd.DataFrame
) -> None:
    """docs/checks.md's example suite gave missing_rate[income] twice: once from its preset, once its own."""
    spec = {
        "suite": "s",
        "presets": ["data_quality"],
        "checks": [{"metric": "missing_rate", "column": "income", "condition": {"le": 0.5}}],
    }
    preset_only = lw.Suite.from_dict({"suite": "p", "presets": ["data_quality"]}).run(cur, ref, schema=schema)
    assert [r.check.column for r in preset_only.results if r.check.metric == "missing_rate"].count(
        "income"
    ) == 1
    for suite in (lw.Suite.from_dict(spec), lw.Suite.from_dict(spec, schema)):  # presets at run time, or now
        result = suite.run(cur, ref, schema=schema)
        income = [
            r for r in result.results if r.check.metric == "missing_rate" and r.check.column == "income"
        ]
        assert [r.check.condition.to_dict() for r in income] == [{"le": 0.5}]
        assert len(result.results) == len(preset_only.results)


def test_print_shows_the_verdict_and_a_line_per_check_failures_first(
    schema: lw.Schema, ref: pd.DataFrame, cur: pd.DataFrame
) -> None:
    """print(result) was one line of dataclass repr, kilobytes of evidence dicts (the trial)."""
    result = lw.checks.presets(["data_quality", "classification"], schema).run(cur, ref, schema=schema)
    lines = str(result).splitlines()
    c = {s: sum(r.status == s for r in result.results) for s in ("pass", "warn", "fail", "error")}
    assert lines[0].startswith(f"suite {result.suite}: {result.status.upper()} ({c['pass']} passed, ")
    # Quality and performance checks compare no drift: no drifted-columns line claims one (the comparison
    # the quality checks read compares every column, and used to be printed as if checked).
    assert result.drifted_columns is None and not lines[1].startswith("drifted columns")
    checks = lines[1:]
    assert len(checks) == len(result.results)
    order = {"fail": 0, "error": 1, "warn": 2, "pass": 3}
    statuses = [line.split()[0] for line in checks]
    assert statuses == sorted(statuses, key=order.__getitem__)
    for r in result.results:
        assert any(line.split(None, 1)[1].startswith(r.check.title) for line in checks), r.check.title


def test_a_result_read_back_from_its_dict_prints_and_reruns_the_same(
    schema: lw.Schema, ref: pd.DataFrame, cur: pd.DataFrame
) -> None:
    """model.check returned the server's dict while suite.run returns a SuiteResult (the trial): the client
    now rebuilds the SuiteResult from the answer, each check from its rule."""
    suite = lw.checks.presets(["data_quality", "classification"], schema)
    result = suite.run(cur, ref, schema=schema)
    back = lw.SuiteResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert back.to_dict() == result.to_dict()
    assert str(back).splitlines()[1:] == str(result).splitlines()[1:]  # the first line has the seconds
    # The rebuilt checks are checks: run again as a suite, they give the same statuses.
    again = lw.Suite("again", [r.check for r in back.results]).run(cur, ref, schema=schema)
    assert [r.status for r in again.results] == [r.status for r in result.results]
