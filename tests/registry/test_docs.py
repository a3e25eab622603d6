"""Every snippet of docs/registry.md runs as written, in order, and prints what its comments say."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from tests._fixtures import run_cli
from tests._fixtures.docs import blocks, run, run_said

PAGE = "registry.md"


def test_the_snippets_run_and_print_what_they_say(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the snippets write credit.db, model.skops and sample.parquet here
    register, onnx, refusals, aliases, served, replay, shadow, gate, promotion, audit = blocks(PAGE)
    env: dict[str, Any] = {}
    for block in (register, onnx, refusals):
        run_said(block, env, PAGE)
    (shown,) = blocks(PAGE, "text")
    assert run(aliases, env, PAGE) == shown.strip().splitlines()
    for block in (served, replay, shadow, gate, promotion, audit):  # evaluation, the gate, the audit trail
        run_said(block, env, PAGE)

    for line in blocks(PAGE, "bash")[0].strip().splitlines():
        args = shlex.split(line)
        assert args[0] == "loopwise"
        r = run_cli(*args[1:], cwd=tmp_path)
        assert r.returncode == 0, (line, r.stderr)
    listed = run_cli("models", "versions", "list", "credit", "--json", "--local", "credit.db", cwd=tmp_path)
    assert '"shadow"' in listed.stdout and '"v3"' in listed.stdout

    evaluated, compared = (shlex.split(line) for line in blocks(PAGE, "bash")[1].strip().splitlines())
    r = run_cli(*evaluated[1:], cwd=tmp_path)
    assert r.returncode == 0 and "v3: 2000 events evaluated, 0 already stored" in r.stdout, r.stderr
    r = run_cli(*compared[1:], cwd=tmp_path)
    assert r.returncode == 0 and "2000 paired events, 2000 labelled" in r.stdout, r.stderr
    r = run_cli(*[a.replace("v3", "v9") for a in compared[1:]], cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "error: model 'credit' has no version, alias or logged version named 'v9'"
    ]

    # "The audit trail", from the shell: the gate passes (and draws its HTML), the promotion and the
    # rollback move champion, history and verify answer, the export holds every entry.
    for line in blocks(PAGE, "bash")[2].strip().splitlines():
        r = run_cli(*shlex.split(line)[1:], cwd=tmp_path)
        assert r.returncode == 0, (line, r.stdout, r.stderr)
    assert "Plotly.newPlot" in (tmp_path / "gate.html").read_text(encoding="utf-8")
    exported = (tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["action"] for x in exported][-2:] == ["alias.move", "promotion.rollback"]
    worse = run_cli(
        "versions",
        "gate",
        "credit",
        "v4",
        "--start",
        "2026-12-05",
        "--end",
        "2026-12-06",
        "--local",
        "credit.db",
        cwd=tmp_path,
    )
    assert worse.returncode == 1 and "fail: " in worse.stdout, worse.stderr
