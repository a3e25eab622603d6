"""Running a doc page's python blocks as written: in order, in one namespace, each printing exactly what its
``print(...)  # comment`` lines say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

DOCS = Path(__file__).parents[2] / "docs"


def said(block: str) -> list[str]:
    """What the block's ``print(...)  # comment`` lines say they print."""
    return [
        line.split("  # ", 1)[1].strip() for line in block.splitlines() if line.lstrip().startswith("print(")
    ]


def run_page(name: str, blocks: int) -> None:
    """Run docs/``name``'s python blocks (there must be ``blocks`` of them), checking each one's output."""
    doc = DOCS / name
    found = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), flags=re.S)
    assert len(found) == blocks
    env: dict[str, Any] = {}
    for block in found:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(doc), "exec"), env)
        assert out.getvalue().splitlines() == said(block)
