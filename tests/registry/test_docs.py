"""Every snippet of docs/registry.md runs as written, in order, and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from tests._fixtures import run_cli

DOC = Path(__file__).parents[2] / "docs" / "registry.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def _said(block: str) -> list[str]:
    """What the block's ``print(...)  # comment`` lines say they print."""
    return [
        line.split("#", 1)[1].strip() for line in block.splitlines() if line.lstrip().startswith("print(")
    ]


def test_the_snippets_run_and_print_what_they_say(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the snippets write credit.db, model.skops and sample.parquet here
    register, onnx, refusals, aliases, served, replay, shadow, gate, promotion, audit = _blocks("python")
    env: dict[str, Any] = {}
    for block in (register, onnx, refusals):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(DOC), "exec"), env)
        assert out.getvalue().splitlines() == _said(block)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(aliases, str(DOC), "exec"), env)
    (shown,) = _blocks("text")
    assert out.getvalue().splitlines() == shown.strip().splitlines()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(served, str(DOC), "exec"), env)
    assert out.getvalue().splitlines() == _said(served)
    for block in (replay, shadow, gate, promotion, audit):  # evaluation, the gate, the audit trail
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(DOC), "exec"), env)
        assert out.getvalue().splitlines() == _said(block)

    for line in _blocks("bash")[0].strip().splitlines():
        args = shlex.split(line)
        assert args[0] == "loopwise"
        r = run_cli(*args[1:], cwd=tmp_path)
        assert r.returncode == 0, (line, r.stderr)
    listed = run_cli("models", "versions", "list", "credit", "--json", "--local", "credit.db", cwd=tmp_path)
    assert '"shadow"' in listed.stdout and '"v3"' in listed.stdout

    evaluated, compared = (shlex.split(line) for line in _blocks("bash")[1].strip().splitlines())
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
    for line in _blocks("bash")[2].strip().splitlines():
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
