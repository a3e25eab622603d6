"""Every python block of docs/monitors.md runs as written, in order, and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).parents[2] / "docs" / "monitors.md"


def _said(block: str) -> list[str]:
    """What the block's ``print(...)  # comment`` lines say they print."""
    return [
        line.split("  # ", 1)[1].strip() for line in block.splitlines() if line.lstrip().startswith("print(")
    ]


def test_the_snippets_run_and_print_what_they_say(monkeypatch: pytest.MonkeyPatch) -> None:
    # The blocks set these; the test's monkeypatch removes them afterwards.
    monkeypatch.setenv("LOOPWISE_ALERT_ALLOW", "")
    monkeypatch.setenv("HOOK_SECRET", "")
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 6
    env: dict[str, Any] = {}
    for block in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(DOC), "exec"), env)
        assert out.getvalue().splitlines() == _said(block)
