"""Running a doc page's code blocks as written: in order, in one namespace, each printing exactly what its
``print(...)  # comment`` lines say (or what a ``text`` block of the page shows)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

DOCS = Path(__file__).parents[2] / "docs"


def blocks(name: str, lang: str = "python") -> list[str]:
    """docs/``name``'s fenced blocks whose info string is exactly ``lang``: ``python``, ``python serving``."""
    text = (DOCS / name).read_text(encoding="utf-8")
    return re.findall(rf"```{re.escape(lang)}\n(.*?)```", text, flags=re.S)


def said(block: str) -> list[str]:
    """What the block's ``print(...)  # comment`` lines say they print."""
    return [
        line.split("  # ", 1)[1].strip() for line in block.splitlines() if line.lstrip().startswith("print(")
    ]


def run(block: str, env: dict[str, Any], name: str) -> list[str]:
    """Run one block of docs/``name`` in ``env``; the lines it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, str(DOCS / name), "exec"), env)
    return out.getvalue().splitlines()


def run_said(block: str, env: dict[str, Any], name: str) -> None:
    """Run one block of docs/``name`` in ``env``, checking it prints what its comments say."""
    assert run(block, env, name) == said(block)


def run_page(name: str, count: int) -> dict[str, Any]:
    """Run docs/``name``'s python blocks (there must be ``count`` of them), checking each one's output; the
    namespace they left."""
    found = blocks(name)
    assert len(found) == count
    env: dict[str, Any] = {}
    for block in found:
        run_said(block, env, name)
    return env
