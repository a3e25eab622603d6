"""Every python block of docs/review.md runs as written, in order, and prints what its comments say."""

from __future__ import annotations

from tests._fixtures.docs import DOCS, run_page

DOC = DOCS / "review.md"


def test_the_snippets_run_and_print_what_they_say() -> None:
    run_page("review.md", 10)


def test_the_figures_quoted_are_the_simulation_s() -> None:
    """The doc's table names the simulation's own settings; its figures come from running it."""
    text = DOC.read_text(encoding="utf-8")
    sim = (DOC.parents[1] / "tests" / "review" / "test_simulation.py").read_text(encoding="utf-8")
    assert "RUNS = 400" in sim and "WINDOW = 5000" in sim and "tasks=400" in sim
    assert "400 seeded windows of 5,000 events" in text and "policy of 400 tasks" in text
