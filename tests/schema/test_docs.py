"""Every snippet of docs/schema.md runs as written, and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from sklearn.metrics import f1_score

import loopwise as lw

DOC = Path(__file__).parents[2] / "docs" / "schema.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def _run(block: str) -> tuple[dict[str, Any], list[str]]:
    env: dict[str, Any] = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, str(DOC), "exec"), env)
    return env, out.getvalue().splitlines()


def test_the_python_snippets_run_and_print_what_they_say() -> None:
    task, times = _blocks("python")
    env, printed = _run(task)
    df = env["df"]
    assert env["f1"].actual == pytest.approx(f1_score(df.outcome, df.decision, pos_label="yes"))
    assert printed[0].endswith(" binary") and printed[1] == "binary"
    _, printed = _run(times)
    assert printed == ["timestamp datetime", "2026-03-01 12:00:00+00:00", "[]"]


def test_the_yaml_snippets_are_schemas() -> None:
    for block in _blocks("yaml"):
        schema = lw.Schema.from_dict(yaml.safe_load(block))
        assert lw.Schema.from_dict(schema.to_dict()) == schema
