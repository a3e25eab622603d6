"""``loopwise versions gate-results MODEL VERSION`` for a version that does not exist, and for one without
gate results yet (a new user's trial, decision 0047): an unknown version is an error (exit 2, one line), as
for every other command; a known one without results says so, without an empty table."""

from __future__ import annotations

from pathlib import Path

from tests._fixtures import run_cli
from tests._fixtures.registry import OPENED, SCHEMA

import loopwise as lw


def test_gate_results_of_an_unknown_version_and_of_one_without_results(tmp_path: Path) -> None:
    db = tmp_path / "lw.db"
    client = lw.Client.local(db)
    OPENED.append(client)
    model = client.register("credit", SCHEMA)
    model.register_version("v1", flavor="external", uri="s3://models/credit/v1.bin", sha256="ab" * 32)
    where = ("--local", str(db))

    r = run_cli("versions", "gate-results", "credit", "v9", *where, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.splitlines() == ["error: model 'credit' has no version named 'v9'"]
    r = run_cli("versions", "gate-results", "credit", "v1", *where, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == "" and r.stderr.strip() == "no gate results for v1 of 'credit'"
    r = run_cli("versions", "gate-results", "credit", "v1", "--json", *where, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "[]"
    assert model.gate_results("v1") == [] and model.gate_results() == []
