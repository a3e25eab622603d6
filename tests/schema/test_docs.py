"""Every snippet of docs/schema.md runs as written, and prints what its comments say."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from sklearn.metrics import f1_score
from tests._fixtures.docs import blocks, run

import loopwise as lw


def test_the_python_snippets_run_and_print_what_they_say() -> None:
    reference, task, times = blocks("schema.md")
    env: dict[str, Any] = {}
    printed = run(reference, env, "schema.md")
    assert printed == [
        "['defaulted', 'income']",
        "feature(s) of the schema missing from the data: income (did you mean 'incme'?)",
    ]
    assert lw.profile(env["train"], schema=env["schema"])["income"].n == len(env["train"])
    env = {}
    printed = run(task, env, "schema.md")
    df = env["df"]
    assert env["f1"].actual == pytest.approx(f1_score(df.outcome, df.decision, pos_label="yes"))
    assert printed[0].endswith(" binary") and printed[1] == "binary"
    printed = run(times, {}, "schema.md")
    assert printed == ["timestamp datetime", "2026-03-01 12:00:00+00:00", "[]"]


def test_the_yaml_snippets_are_schemas() -> None:
    for block in blocks("schema.md", "yaml"):
        schema = lw.Schema.from_dict(yaml.safe_load(block))
        assert lw.Schema.from_dict(schema.to_dict()) == schema
