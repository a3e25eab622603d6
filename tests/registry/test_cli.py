"""``loopwise models versions`` in a fresh process, as a user runs it, on a local database."""

from __future__ import annotations

import datetime as dt
import json
import pickle
from pathlib import Path

import skops.io as sio
import yaml
from sklearn.pipeline import Pipeline
from tests._fixtures import run_cli
from tests._fixtures.registry import SCHEMA, applicants


def test_register_list_alias_and_history_from_the_shell(tmp_path: Path, pipeline: Pipeline) -> None:
    db = str(tmp_path / "lw.db")
    (tmp_path / "schema.yaml").write_text(yaml.safe_dump(SCHEMA))
    X, y = applicants(200, 40)
    X.to_parquet(tmp_path / "sample.parquet")
    X.assign(approved=y).to_parquet(tmp_path / "train.parquet")
    sio.dump(pipeline, tmp_path / "model.skops")
    (tmp_path / "model.skops.bak").write_bytes(pickle.dumps(pipeline))
    lineage = {"code_version": "4f2a9c1", "params": {"C": 1.0}}
    (tmp_path / "lineage.json").write_text(json.dumps(lineage))

    assert (
        run_cli(
            "models", "register", "credit", "-s", str(tmp_path / "schema.yaml"), "--local", db, "--create"
        ).returncode
        == 0
    )
    r = run_cli(
        "models", "versions", "register", "credit", "v1", "--artifact", str(tmp_path / "model.skops"),
        "--sample", str(tmp_path / "sample.parquet"), "--lineage", str(tmp_path / "lineage.json"),
        "--reference", str(tmp_path / "train.parquet"), "--local", db,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "version 'v1' of 'credit' registered (sklearn: skops" in r.stderr

    r = run_cli(
        "models", "versions", "register", "credit", "v2", "--artifact", str(tmp_path / "model.skops.bak"),
        "--sample", str(tmp_path / "sample.parquet"), "--local", db,
    )  # fmt: skip
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()
    assert "pickle or joblib file" in line

    before = dt.datetime.now(dt.UTC)
    r = run_cli(
        "models",
        "versions",
        "alias",
        "credit",
        "champion",
        "v1",
        "--evidence",
        '{"auc": 0.91}',
        "--local",
        db,
    )
    assert r.returncode == 0, r.stderr
    assert "champion: - -> v1" in r.stderr

    listed = json.loads(run_cli("models", "versions", "list", "credit", "--json", "--local", db).stdout)
    assert [(v["name"], v["aliases"], v["lineage"]["code_version"]) for v in listed] == [
        ("v1", ["champion"], "4f2a9c1")
    ]
    assert listed[0]["lineage"]["reference"] == "version:v1"
    moves = json.loads(
        run_cli("models", "versions", "history", "credit", "champion", "--json", "--local", db).stdout
    )
    assert [(m["from_version"], m["to_version"], m["evidence"]) for m in moves] == [
        (None, "v1", {"auc": 0.91})
    ]
    at = run_cli(
        "models", "versions", "history", "credit", "champion", "--at", before.isoformat(), "--local", db
    )
    assert at.stdout.strip() == "-"
    now = dt.datetime.now(dt.UTC).isoformat()
    assert (
        run_cli(
            "models", "versions", "history", "credit", "champion", "--at", now, "--local", db
        ).stdout.strip()
        == "v1"
    )


def test_bad_times_and_a_gate_before_evaluation_are_one_line_errors(
    tmp_path: Path, pipeline: Pipeline
) -> None:
    """The trial: a bad --at, --start or --end printed a traceback and exited 1, `history` required --at, and
    a gate before an evaluation printed "zip() argument 2 is longer than argument 1"."""
    from tests._fixtures.registry import lw_url, open_model

    model = open_model(lw_url(tmp_path), tmp_path / "artifacts")
    X, _ = applicants(100, 2)
    model.register_version("v1", pipeline, sample=X.head(20))
    model.register_version("v2", pipeline, sample=X.head(20))
    model.set_alias("champion", "v1")
    db = str(tmp_path / "lw.db")
    window = ["--start", "2026-12-01", "--end", "2026-12-02"]
    for args, needle in [
        (["history", "credit", "--at", "yesterday"], "parameter 'at' must be an ISO 8601 time"),
        (["versions", "gate", "credit", "v2", "--start", "nope", "--end", "2026-12-02"], "parameter 'start'"),
        (["versions", "evaluate", "credit", "v2", "--start", "2026-12-01", "--end", "2026-13-01"], "'end'"),
        (["versions", "gate", "credit", "v2", *window], "no events were logged in [2026-12-01"),
    ]:
        r = run_cli(*args, "--local", db)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        (line,) = r.stderr.strip().splitlines()
        assert line.startswith("error: ") and needle in line, (args, line)
    now = run_cli("history", "credit", "--local", db)  # --at defaults to now
    assert now.returncode == 0, now.stderr
    assert now.stdout.startswith("champion at ") and ": v1" in now.stdout.splitlines()[0]
