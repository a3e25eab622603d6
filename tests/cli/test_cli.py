"""The CLI as a user runs it: a real process, real files, exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from tests._fixtures import mixed_frame
from tests._fixtures import run_cli as run


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    mixed_frame(5000, 1).to_parquet(d / "ref.parquet")
    mixed_frame(5000, 2, shift=0.3).to_parquet(d / "cur.parquet")
    mixed_frame(5000, 3).to_csv(d / "same.csv", index=False)
    return d


def test_profile_then_compare_profile_files(files: Path) -> None:
    r = run("profile", str(files / "ref.parquet"), "-o", str(files / "ref.lwp"))
    assert r.returncode == 0, r.stderr
    assert "profiled 5,000 rows" in r.stderr
    r = run(
        "profile",
        str(files / "cur.parquet"),
        "-o",
        str(files / "cur.lwp"),
        "--reference",
        str(files / "ref.lwp"),
    )
    assert r.returncode == 0, r.stderr
    r = run("compare", str(files / "ref.lwp"), str(files / "cur.lwp"), "--json", str(files / "p.json"))
    assert r.returncode == 0, r.stderr
    doc = json.loads((files / "p.json").read_text())
    assert doc["dataset"]["n_reference"] == 5000
    # From histograms, except the Poisson counts: few distinct values, counted exactly in the profiles.
    ks = {c["name"]: c["exact"] for c in doc["columns"] if c["kind"] == "numeric" and c["method"] == "ks"}
    assert ks == {"normal": False, "lognormal": False, "ints": True, "with_nan": False}


def test_compare_exit_codes(files: Path) -> None:
    args = ["compare", str(files / "ref.parquet"), str(files / "cur.parquet")]
    drift = run(*args, "--fail-on-drift", "--html", str(files / "r.html"), "--json", str(files / "r.json"))
    assert drift.returncode == 1, drift.stderr
    assert (files / "r.html").stat().st_size > 0
    doc = json.loads((files / "r.json").read_text())
    assert doc["dataset"]["drift_detected"] is True
    ok = run("compare", str(files / "ref.parquet"), str(files / "same.csv"), "--fail-on-drift")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert run(*args).returncode == 0  # drift without --fail-on-drift is not a failure


def test_input_errors_exit_2_with_a_message(files: Path, tmp_path: Path) -> None:
    bad = tmp_path / "x.txt"
    bad.write_text("not data")
    r = run("compare", str(bad), str(files / "cur.parquet"))
    assert r.returncode == 2
    assert "not a Parquet or CSV file" in r.stderr
    assert "Traceback" not in r.stderr
    corrupt = tmp_path / "c.lwp"
    corrupt.write_bytes(b"LWPF\x01\x00\x00\x00garbage")
    r = run("compare", str(corrupt), str(files / "cur.parquet"))
    assert r.returncode == 2
    assert "corrupt" in r.stderr
    r = run("compare", str(files / "ref.parquet"), str(files / "cur.parquet"), "--method", "nope")
    assert r.returncode == 2
    assert "valid names" in r.stderr
    assert run("compare").returncode == 2  # usage error


def test_schema_infer_writes_a_file_that_loads(files: Path) -> None:
    out = files / "schema.yaml"
    r = run("schema", "infer", str(files / "ref.parquet"), "--segment", "group", "-o", str(out))
    assert r.returncode == 0, r.stderr
    import loopwise as lw

    s = lw.Schema.from_yaml(out)
    assert s["group"].role.value == "segment"
    assert s["cat"].kind is not None
    assert run("schema", "check", str(out), str(files / "cur.parquet")).returncode == 0
    bad = pd.DataFrame({"normal": ["x"]})
    bad.to_parquet(files / "bad.parquet")
    r = run("schema", "check", str(out), str(files / "bad.parquet"))
    assert r.returncode == 1
    assert "missing_column" not in r.stdout
    assert "column 'lognormal'" in r.stdout


def test_the_demo_runs_end_to_end(tmp_path: Path) -> None:
    r = run("demo", "--out", str(tmp_path), "--rows", "20000")
    assert r.returncode == 0, r.stderr
    for name in ("report.html", "report.json", "ref.lwp", "gate.md", "gate.xml", "monitor.db"):
        assert (tmp_path / name).stat().st_size > 0, name
    doc = json.loads((tmp_path / "report.json").read_text())
    assert doc["dataset"]["n_reference"] == 20000
    assert "check gate:" in r.stdout
    assert "monitor (" in r.stdout
    # Each file is listed with its size, as os.stat sees it (the HTML report is the one people open).
    # The monitor's database too: the trial saw "monitor.db (4.1 kB)" for a 21.9 MB file, its size taken
    # before the embedded client was closed (the rows were still in the write-ahead log).
    for name in ("report.html", "monitor.db"):
        path = tmp_path / name
        size = path.stat().st_size
        shown = f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"
        assert f"{path} ({shown})" in " ".join(r.stdout.split()), name
    assert not (tmp_path / "monitor.db-wal").exists() or (tmp_path / "monitor.db-wal").stat().st_size == 0
    # Every file the demo leaves is one it lists (the trial found monitor.db-writer.lock, listed nowhere).
    listed = set(re.findall(rf"{re.escape(str(tmp_path))}/(\S+) \(", " ".join(r.stdout.split())))
    left = {p.name for p in tmp_path.iterdir()}
    assert left - listed == set() and "monitor.db" in listed
    # The README's blocks name the demo's files: every file they read is there, and the Python block runs
    # as written from the demo's folder (the trial found train/today/gate/... named but never written).
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    blocks = readme[readme.index("## Python") : readme.index("Exit codes:")]
    read = set(re.findall(r"\b(\w+\.(?:parquet|yaml|lwp))\b", blocks)) - {"report.json", "report.html"}
    assert {"train.parquet", "today.parquet", "gate.yaml", "labels.parquet", "chall.parquet"} <= read
    assert sorted(n for n in read if not (tmp_path / n).exists()) == []
    (code,) = re.findall(r"```python\n(.*?)```", blocks, re.S)
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("DATASET DRIFT")


def test_a_chunked_reference_profile_gives_calibrated_thresholds(files: Path) -> None:
    ref = files / "chunked.lwp"
    r = run("profile", str(files / "ref.parquet"), "-o", str(ref), "--chunk-size", "500")
    assert r.returncode == 0, r.stderr
    # The size in the units every other command uses (it said KiB where the demo says kB).
    assert f"({ref.stat().st_size / 1e3:.1f} kB)" in " ".join(r.stderr.split())
    out = files / "cal.json"
    r = run("compare", str(ref), str(files / "same.csv"), "--json", str(out), "--false-alarm-rate", "0.1")
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert doc["dataset"]["thresholds"] == "calibrated" and doc["dataset"]["false_alarm_rate"] == 0.1
    assert {c["calibration"]["n_chunks"] for c in doc["columns"] if c["method"]} == {10}
    assert "calibrated thresholds, false-alarm rate 0.1" in " ".join(r.stdout.split())
    assert "threshold" in r.stdout and "p (adj.)" not in r.stdout
    zero = run("compare", str(ref), str(files / "same.csv"), "--false-alarm-rate", "0")
    assert zero.returncode == 2 and "false_alarm_rate" in zero.stderr and "Traceback" not in zero.stderr
    r = run("compare", str(ref), str(files / "same.csv"), "--json", str(out), "--thresholds", "plain")
    assert json.loads(out.read_text())["dataset"]["thresholds"] == "plain"
    bad = run("profile", str(files / "ref.parquet"), "-o", str(ref), "--chunk-size", "2000")
    assert bad.returncode != 0 and "chunk_size" in bad.stderr and "Traceback" not in bad.stderr


def test_tables_keep_whole_column_names_when_the_output_is_not_a_terminal(tmp_path: Path) -> None:
    """The trial's `make demo` in a log showed `p_appr…`, `debt_t…`: Rich cut tables at 80 characters when
    stdout was a pipe and COLUMNS unset."""
    for name, seed in (("ref.parquet", 1), ("cur.parquet", 2)):
        frame = mixed_frame(2000, seed, shift=0.3 * seed)
        frame.columns = [f"{c}_as_a_long_descriptive_name" for c in frame.columns]
        frame.to_parquet(tmp_path / name)
    env = {
        k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES") and not k.startswith("LOOPWISE_")
    }
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "loopwise.cli",
            "compare",
            str(tmp_path / "ref.parquet"),
            str(tmp_path / "cur.parquet"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    for name in pd.read_parquet(tmp_path / "ref.parquet").columns:
        assert f"│ {name} " in r.stdout, name
    assert "…" not in r.stdout


def test_models_describe_shows_when_a_kind_was_inferred(tmp_path: Path) -> None:
    """docs/schema.md says `loopwise models describe` shows the record of a kind fixed from the first data;
    the trial saw only the kind."""
    import loopwise as lw
    from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit

    db = tmp_path / "m.db"
    with lw.Client.local(db) as c:
        c.register("credit", lw.Schema.from_yaml(CREDIT_SCHEMA_YAML)).log(
            make_credit(50, seed=1).drop(columns="repaid")
        )
    r = run("models", "describe", "credit", "--local", str(db))
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stdout.splitlines() if ln.strip().startswith("approved:"))
    assert "{kind: boolean, role: prediction}  # inferred 20" in line
    assert "from the first predictions batch holding the column" in line
    assert lw.Schema.from_yaml(r.stdout)["approved"].kind.value == "boolean"  # the comment leaves YAML intact
