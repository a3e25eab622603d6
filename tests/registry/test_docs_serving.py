"""docs/registry.md, "Serving from the registry": its snippets (fenced ``python serving``) run as written
after the page's other snippets, and print what their comments say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests._fixtures.docs import blocks, run, run_said


def test_the_serving_snippets_run_and_print_what_they_say(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env: dict[str, Any] = {}
    for block in blocks("registry.md"):  # the page's earlier snippets: the model, its versions, its traffic
        run(block, env, "registry.md")
    serving = blocks("registry.md", "python serving")
    assert len(serving) == 3
    for block in serving:
        run_said(block, env, "registry.md")
