"""docs/registry.md, "What actually served": the backfill snippet (fenced ``python backfill``) runs after the
page's first snippets (the model, its versions, the alias moves) and prints what its comments say; and the
events' own record agrees with what it says, read from the database with SQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from tests._fixtures.docs import blocks, run, run_said


def test_the_backfill_snippet_runs_and_prints_what_it_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env: dict[str, Any] = {}
    for block in blocks("registry.md")[:5]:  # register, onnx, refusals, aliases, served
        run(block, env, "registry.md")
    (backfill,) = blocks("registry.md", "python backfill")
    run_said(backfill, env, "registry.md")
    # Independently: the alias moves recorded all lie after June 2025 (wall clock), and the events dated
    # then carry the versions they were logged with.
    engine = create_engine(f"sqlite:///{tmp_path / 'credit.db'}")
    with engine.connect() as c:
        first_move = c.execute(text("SELECT min(at) FROM alias_events")).scalar()
        versions = c.execute(
            text("SELECT version, count(*) FROM events WHERE event_id LIKE 'j%' GROUP BY version ORDER BY 1")
        ).all()
    engine.dispose()
    assert str(first_move) > "2026"
    assert [tuple(r) for r in versions] == [("default", 2), ("v1", 2)]
