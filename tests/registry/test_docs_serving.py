"""docs/registry.md, "Serving from the registry": its snippets (fenced ``python serving``) run as written
after the page's other snippets, and print what their comments say."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import pytest
from tests.registry.test_docs import DOC, _blocks, _said


def test_the_serving_snippets_run_and_print_what_they_say(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env: dict[str, Any] = {}
    for block in _blocks("python"):  # the page's earlier snippets: the model, its versions, its traffic
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(block, str(DOC), "exec"), env)
    serving = _blocks("python serving")
    assert len(serving) == 3
    for block in serving:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(DOC), "exec"), env)
        assert out.getvalue().splitlines() == _said(block)
