"""The README's command-line blocks, run as written, top to bottom: first on a local database, then against a
real server on loopback (the fixture's server stands in for the block's `loopwise serve` line, and its URL,
key and database for the placeholders of the `export` and `--database-url` lines)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests._fixtures import Running

import loopwise as lw
from loopwise.datasets import make_credit

ROOT = Path(__file__).resolve().parents[2]


def blocks() -> list[list[str]]:
    """The ```bash blocks of the README's "Command line" section, as commands (continuations joined)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Command line") :]
    section = section[: section.index("\n## ", 3)]
    out = []
    for body in re.findall(r"```bash\n(.*?)```", section, re.S):
        joined = body.replace("\\\n", " ")
        out.append(
            [ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.strip().startswith("#")]
        )
    return out


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    train = make_credit(6000, seed=1)
    today = make_credit(3000, seed=2, drift=True)
    train.to_parquet(tmp_path / "train.parquet", index=False)
    today.to_parquet(tmp_path / "today.parquet", index=False)
    today.drop(columns=["repaid"]).to_parquet(tmp_path / "predictions.parquet", index=False)
    today[["request_id", "repaid"]].iloc[:1000].to_parquet(tmp_path / "labels.parquet", index=False)
    today[["request_id", "approved", "p_approve"]].to_parquet(tmp_path / "champ.parquet", index=False)
    rng = np.random.default_rng(0)
    sharper = np.clip(
        today["p_approve"] + np.where(today["repaid"], 0.05, -0.05) * rng.random(len(today)), 0, 1
    )
    today.assign(p_approve=sharper, approved=sharper >= 0.5).to_parquet(
        tmp_path / "chall.parquet", index=False
    )
    shutil.copy(ROOT / "examples/ci/gate.yaml", tmp_path / "gate.yaml")
    return tmp_path


def sh(line: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    bindir = Path(sys.executable).parent
    full = {
        **os.environ,
        **(env or {}),
        "COLUMNS": "200",
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
    }
    return subprocess.run(
        ["bash", "-c", line], cwd=cwd, env=full, capture_output=True, text=True, timeout=180, check=False
    )


def test_the_readme_cli_blocks_run_as_written(workdir: Path, server: Running) -> None:
    local, served = blocks()
    results = {}
    for line in local:
        r = sh(line, workdir)
        # 1 is documented (drift with --fail-on-drift, a failing gate); 2 (usage error) and tracebacks never.
        assert r.returncode in (0, 1), (line, r.stderr)
        assert "Traceback" not in r.stderr, line
        words = line.split()
        results[words[2] if words[1] == "models" else words[1]] = r
    assert results["register"].returncode == 0 and results["log"].returncode == 0
    assert "accepted 3,000" in results["log"].stderr
    # The CLI alone gives the monitored model a reference and its labels, so drift and performance show.
    assert "reference 'default' of 'credit': 6,000 rows" in results["reference"].stderr
    assert "stored 1,000 label(s), replaced 0, joined to a prediction 1,000" in results["feedback"].stderr
    assert "3,000 predictions" in results["metrics"].stdout
    assert "drifted columns" in results["metrics"].stdout
    with lw.Client.local(workdir / "monitor.db", create=False) as here:  # and which, as the SDK says
        drifted = here.model("credit").metrics(start="2026-01-01", end="2026-02-01")["drift"]["dataset"]
    shown = " ".join(results["metrics"].stdout.split())
    assert drifted["drifted_columns"] and all(c in shown for c in drifted["drifted_columns"])
    assert "accuracy" in results["metrics"].stdout and "label coverage 33%" in results["metrics"].stdout
    assert lw.Client.local(workdir / "monitor.db", create=False).models() == ["credit"]

    # The server block: one fresh model name space on the fixture's server.
    env = {"LOOPWISE_URL": server.url, "LOOPWISE_API_KEY": server.admin_key}
    outputs = []
    for line in served:
        if line.startswith(("loopwise serve", "export ")):
            continue  # the fixture's server, URL and key
        line = line.replace("postgresql://loopwise@db/loopwise", server.db_url)
        r = sh(line, workdir, env)
        assert r.returncode == 0, (line, r.stderr)
        outputs.append(r)
    described = lw.Schema.from_yaml(outputs[1].stdout)
    assert described.names == lw.Schema.from_yaml(workdir / "schema.yaml").names
    assert "accepted 3,000" in outputs[2].stderr
    assert "reference 'default'" in outputs[3].stderr and "joined to a prediction 1,000" in outputs[4].stderr
    assert "3,000 predictions" in outputs[5].stdout and "label coverage 33%" in outputs[5].stdout
    assert outputs[6].stdout.startswith("lw_")
    listing = outputs[7].stdout
    assert "ingest" in listing and "credit" in listing and outputs[6].stdout.split("_")[1] in listing
    assert pd.read_parquet(workdir / "predictions.parquet").shape[0] == 3000
