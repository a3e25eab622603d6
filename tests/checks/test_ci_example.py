"""The command of docs/ci.md, on generated data: the documented gate really runs and gates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from loopwise.datasets import make_credit

ROOT = Path(__file__).resolve().parents[2]


def test_the_documented_gate(tmp_path: Path) -> None:
    ref = make_credit(20_000, seed=1)
    batch = make_credit(8_000, seed=5)
    champion = batch[["request_id", "approved", "p_approve"]]
    rng = np.random.default_rng(0)
    # The challenger: the same scores sharpened a little; a better model, so the gate passes on it.
    better = np.clip(
        batch["p_approve"] + np.where(batch["repaid"], 0.08, -0.08) * rng.random(len(batch)), 0, 1
    )
    challenger = batch.assign(p_approve=better.round(5), approved=better >= 0.5)
    ref.to_parquet(tmp_path / "reference.parquet")
    champion.to_parquet(tmp_path / "champion.parquet")
    challenger.to_parquet(tmp_path / "challenger.parquet")
    cmd = [
        sys.executable,
        "-m",
        "loopwise.cli",
        "check",
        str(ROOT / "examples/ci/gate.yaml"),
        "--schema",
        str(ROOT / "examples/ci/schema.yaml"),
        "--reference",
        str(tmp_path / "reference.parquet"),
        "--current",
        str(tmp_path / "challenger.parquet"),
        "--champion",
        str(tmp_path / "champion.parquet"),
        "--challenger",
        str(tmp_path / "challenger.parquet"),
        "--junit",
        str(tmp_path / "gate.xml"),
        "--json",
        str(tmp_path / "gate.json"),
        "--markdown",
        str(tmp_path / "gate.md"),
        "--html",
        str(tmp_path / "gate.html"),
    ]
    ok = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    doc = json.loads((tmp_path / "gate.json").read_text())
    assert ok.returncode == 0, [c for c in doc["checks"] if c["status"] in ("fail", "error")]
    assert {c["name"] for c in doc["checks"]} >= {
        "challenger non-inferior on accuracy",
        "challenger non-inferior on ROC AUC",
    }
    # The same gate with the champion as the challenger's baseline swapped: a worse model fails it.
    worse = batch.assign(
        approved=np.where(rng.random(len(batch)) < 0.15, ~batch["approved"], batch["approved"])
    )
    worse.to_parquet(tmp_path / "challenger.parquet")
    bad = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert bad.returncode == 1
    failed = {
        c["name"] for c in json.loads((tmp_path / "gate.json").read_text())["checks"] if c["status"] == "fail"
    }
    assert "challenger non-inferior on accuracy" in failed
