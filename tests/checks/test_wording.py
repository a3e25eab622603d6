"""How checks read: one spelling of a condition (titles, messages, reports) and one way of stating a gate's
margin for every metric (a user's trial found ``ge(500.0)`` beside ``>= 500``, and "0.5 points (accuracy)"
beside "0.005 (roc_auc)")."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import loopwise as lw
from loopwise.checks import Reference, between, current_title, eq, ge, gt, le, lt, preset_suite, to_markdown
from loopwise.checks.gate import non_inferior
from loopwise.checks.reporters import md_text
from loopwise.datasets import CREDIT_SCHEMA_YAML


@pytest.mark.parametrize(
    ("condition", "text"),
    [
        (ge(500), ">= 500"),
        (lt(0.2), "< 0.2"),
        (le(0.05), "<= 0.05"),
        (gt(-1.5), "> -1.5"),
        (eq(0), "== 0"),
        (between(0, 1), "between 0 and 1"),
        (ge(Reference(absolute=-0.02)), ">= reference -0.02"),
        (le(Reference(relative=0.1)), "<= reference x 1.1"),
    ],
)
def test_a_checks_title_spells_its_condition_as_results_do(condition: lw.checks.Condition, text: str) -> None:
    df = pd.DataFrame({"x": np.arange(1000.0)})
    check = lw.Check("row_count", condition)
    assert check.title == f"row_count {text}"
    (r,) = lw.Suite("s", [check]).run(df, df).results
    if not condition.needs_reference:
        assert r.condition == text and r.message.endswith(f" {text}")
    md = to_markdown(lw.Suite("s", [check]).run(df, df))
    assert f"<code>{md_text(check.title)}</code>" in md
    # What results and monitors stored in the old spelling names the same check.
    assert current_title(f"row_count {condition!r}") == check.title
    assert lw.checks.CheckResult.from_dict({**r.to_dict(), "name": f"row_count {condition!r}"}).check == check


def test_a_margin_reads_the_same_for_every_metric() -> None:
    schema = lw.Schema.from_yaml(CREDIT_SCHEMA_YAML)
    gate = [*preset_suite("challenger_gate", schema).checks, non_inferior("log_loss", 0.02, alpha=0.1)]
    said = re.compile(
        r"^(\w+): challenger not worse by more than (\S+) \(a difference in (\w+)(; alpha \S+)?\)$"
    )
    metrics = []
    for c in gate:
        m = said.match(c.title)
        assert m is not None, c.title
        assert m.group(1) == m.group(3) == c.params["metric"]
        assert float(m.group(2)) == -float(c.condition.threshold)  # type: ignore[arg-type]
        metrics.append(m.group(1))
        assert "point" not in c.title
    assert metrics == ["accuracy", "roc_auc", "log_loss"]
