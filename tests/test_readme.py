"""The README's Python block, run as written in a folder holding the files it names (those the command line
section makes: the credit data, its schema from `loopwise schema infer`, the example gate)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from loopwise.datasets import make_credit
from tests._fixtures import run_cli

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_python_block_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    make_credit(6000, seed=1).to_parquet(tmp_path / "train.parquet", index=False)
    make_credit(3000, seed=2, drift=True).to_parquet(tmp_path / "today.parquet", index=False)
    shutil.copy(ROOT / "examples/ci/gate.yaml", tmp_path / "gate.yaml")
    r = run_cli("schema", "infer", "train.parquet", "--segment", "race", "-o", "schema.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Python") : text.index("## Command line")]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert os.path.exists("report.html") and os.path.exists("ref.lwp")
    # What the block claims in its comments, checked against the run.
    report = namespace["report"]
    assert report.headline().startswith("DATASET DRIFT")  # type: ignore[attr-defined]
    assert capsys.readouterr().out.splitlines()[-1] == "calibrated"
    assert namespace["result"].status in ("pass", "warn", "fail", "error")  # type: ignore[attr-defined]
