"""A process that writes the same profiles to two databases stores their histogram edge sets in both: the
process's "already stored" memory is per database, so another process reading the second one finds every
edge set its buckets name (it found none, and its reads failed)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
from tests._fixtures import run_cli

import loopwise as lw
from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit


def _edge_sets(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {fp for (fp,) in db.execute("SELECT fingerprint FROM edge_sets")}


def test_two_databases_in_one_process_each_hold_their_edge_sets(tmp_path: Path) -> None:
    frame = make_credit(2_000, seed=3).drop(columns=["repaid"])
    paths = [tmp_path / "first.db", tmp_path / "second.db"]
    for path in paths:
        client = lw.Client.local(path, create=True)
        model = client.register("credit", lw.Schema.from_yaml(CREDIT_SCHEMA_YAML))
        model.log(frame)
        client.close()
    first, second = (_edge_sets(p) for p in paths)
    assert first and first == second
    # Read back by a fresh process (nothing cached): the second database answers as the first.
    start = str(frame.ts.min().floor("h").isoformat())
    end = str((frame.ts.max().floor("h") + pd.Timedelta(hours=1)).isoformat())
    answers = []
    for path in paths:
        r = run_cli("metrics", "--model", "credit", "--start", start, "--end", end, "--local", str(path),
                    "--json", str(tmp_path / f"{path.stem}.json"))  # fmt: skip
        assert r.returncode == 0, r.stderr
        answers.append(json.loads((tmp_path / f"{path.stem}.json").read_text()))
    assert answers[0]["window"]["n"] == len(frame) and answers[0] == answers[1]
