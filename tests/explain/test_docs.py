"""docs/explain.md's example runs as written and prints what the page shows."""

from __future__ import annotations

from tests._fixtures.docs import blocks, run


def test_the_example_prints_what_the_page_says() -> None:
    (code,) = blocks("explain.md")
    (said,) = blocks("explain.md", "text")
    assert run(code, {}, "explain.md") == said.splitlines()
