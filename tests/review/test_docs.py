"""Every python block of docs/review.md runs as written, in order, and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

DOC = Path(__file__).parents[2] / "docs" / "review.md"


def _said(block: str) -> list[str]:
    """What the block's ``print(...)  # comment`` lines say they print."""
    return [
        line.split("  # ", 1)[1].strip() for line in block.splitlines() if line.lstrip().startswith("print(")
    ]


def test_the_snippets_run_and_print_what_they_say() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 8
    env: dict[str, Any] = {}
    for block in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(DOC), "exec"), env)
        assert out.getvalue().splitlines() == _said(block)


def test_the_figures_quoted_are_the_simulation_s() -> None:
    """The doc's table names the simulation's own settings; its figures come from running it."""
    text = DOC.read_text(encoding="utf-8")
    sim = (DOC.parents[1] / "tests" / "review" / "test_simulation.py").read_text(encoding="utf-8")
    assert "RUNS = 400" in sim and "WINDOW = 5000" in sim and "tasks=400" in sim
    assert "400 seeded windows of 5,000 events" in text and "policy of 400 tasks" in text
