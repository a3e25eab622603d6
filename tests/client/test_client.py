"""The SDK: the same interface over HTTP and embedded; retries never double-count; background logging."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import accuracy_score
from tests._fixtures import Running
from tests._fixtures.http import sdk, traffic

import loopwise as lw
from loopwise.client.base import ModelHandle
from loopwise.datasets import CREDIT_SCHEMA_YAML

SCHEMA = yaml.safe_load(CREDIT_SCHEMA_YAML)


def _exercise(c: lw.Client) -> None:
    model = c.register("credit", SCHEMA)
    df = traffic(12_000, seed=4)  # more than one batch of 5000
    out = model.log(df.drop(columns=["repaid"]))
    assert out == {"accepted": 12_000, "duplicates": 0}
    again = model.log(df.drop(columns=["repaid"]).iloc[:100])
    assert again == {"accepted": 0, "duplicates": 100}
    fb = model.log_feedback(df.request_id[:4000], df.repaid[:4000])
    assert fb["stored"] == 4000
    m = model.metrics()
    assert m["window"]["n"] == 12_000
    assert m["performance"]["accuracy"]["value"] == pytest.approx(
        accuracy_score(df.repaid[:4000], df.approved[:4000])
    )
    assert c.models() == ["credit"]
    ref = lw.profile(df, schema=lw.Schema.from_yaml(CREDIT_SCHEMA_YAML))
    model.set_reference(ref)
    suite = lw.Suite.from_yaml("suite: s\nchecks:\n  - metric: accuracy\n    condition: {ge: 0.5}\n")
    assert model.check(suite).results[0].status == "pass"
    # Event ids are generated when the frame has none.
    no_ids = traffic(10, seed=5).drop(columns=["repaid", "request_id"])
    assert model.log(no_ids)["accepted"] == 10


def test_embedded(tmp_path: Path) -> None:
    _exercise(lw.Client.local(tmp_path / "lw.db"))


def test_http(server: Running) -> None:
    _exercise(sdk(server))


def test_a_retried_batch_counts_once(server: Running) -> None:
    c = sdk(server)
    model = c.register("credit", SCHEMA)
    df = traffic(500, seed=6).drop(columns=["repaid"])
    t = lw.to_table(df)
    # The same batch sent twice with the same idempotency key, as a retry after a lost response would.
    first = model.transport.log("credit", t, None, "key-1")
    second = model.transport.log("credit", t, None, "key-1")
    assert first["accepted"] == 500 and second == first | {"replayed": True}
    assert model.metrics()["window"]["n"] == 500
    with pytest.raises(lw.NotFoundError) as err:
        c.model("nope")
    assert err.value.status == 404  # type: ignore[attr-defined]


def test_background_logging_never_blocks_and_counts_drops(tmp_path: Path) -> None:
    c = lw.Client.local(tmp_path / "lw.db")
    model: ModelHandle = c.register("credit", SCHEMA)
    frames = [
        traffic(200, seed=s, start=f"2026-11-20T0{s % 9}:00:00Z").drop(columns=["repaid"]) for s in range(10)
    ]
    for i, f in enumerate(frames):
        f["request_id"] = [f"bg-{i}-{j}" for j in range(len(f))]
    with model.background(max_queue=3) as bg:
        accepted = [bg.log(f) for f in frames]
    assert bg.dropped == accepted.count(False)
    assert bg.sent == 200 * accepted.count(True)
    assert not bg.errors
    assert model.metrics()["window"]["n"] == bg.sent
    assert np.sum(accepted) >= 3


def test_cli_log_models_metrics(tmp_path: Path) -> None:
    import subprocess
    import sys

    db = tmp_path / "lw.db"
    lw.Client.local(db).register("credit", SCHEMA)
    now = pd.Timestamp.now(tz="UTC").floor("h")
    df = traffic(300, seed=8, start=now.isoformat()).drop(columns=["repaid"])
    df.to_parquet(tmp_path / "p.parquet")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "loopwise.cli", *args, "--local", str(db)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    r = run("log", str(tmp_path / "p.parquet"), "--model", "credit")
    assert r.returncode == 0, r.stderr
    assert "accepted 300" in r.stderr
    assert run("models").stdout.split() == ["credit"]
    r = run("metrics", "--model", "credit", "--window", "24h", "--json", str(tmp_path / "m.json"))
    assert r.returncode == 0, r.stderr
    assert "300 predictions" in r.stdout
    bad = run("metrics", "--model", "credit", "--window", "soon")
    assert bad.returncode == 2 and "24h" in bad.stderr
