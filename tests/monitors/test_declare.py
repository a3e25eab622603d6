"""What a monitor's declaration refuses that would otherwise fail or do nothing at every window (a new
user's trial, decision 0047): a segment column that is not one of the schema's segments (each window ran as
``failed``), a silence naming no check (it never covered an alert), a ``--replace`` of a monitor that does
not exist (the message now says to declare it first)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests._fixtures import run_cli

import loopwise as lw
from loopwise.datasets import CREDIT_SCHEMA_YAML

SUITE = {"suite": "s", "checks": [{"metric": "row_count", "condition": {"ge": 1}, "name": "rows"}]}
BASE = {"name": "m", "suite": SUITE, "window": "1d", "step": "1d", "reference": None}


def test_what_a_declaration_refuses(tmp_path: Path) -> None:
    schema = yaml.safe_load(CREDIT_SCHEMA_YAML)
    segments = [name for name, col in schema["columns"].items() if col.get("role") == "segment"]
    assert segments == ["race"]  # the credit schema's only segment column, read from the YAML itself
    with lw.Client.local(tmp_path / "lw.db", create=True) as client:
        m = client.register("credit", schema)
        for bad in (["purpose"], ["race", "nope"]):
            with pytest.raises(
                lw.ParameterError, match=r"segment columns of the schema of model 'credit' \(race\)"
            ):
                m.add_monitor({**BASE, "segments": bad})
        assert m.add_monitor({**BASE, "segments": ["race"]})["segments"] == ["race"]
        # A check on a column the schema lacks could only fail every window: refused now, with the
        # schema's closest column (the YAML's own names).
        typo = {"metric": "psi", "column": "incme", "condition": {"lt": 0.2}}
        suite = {"suite": "s", "checks": [*BASE["suite"]["checks"], typo]}
        assert "income" in schema["columns"] and "incme" not in schema["columns"]
        with pytest.raises(
            lw.ParameterError,
            match=r"'suite\.checks\[1\]\.column' must be a column of the schema of model 'credit' "
            r"\(did you mean 'income'\?\)",
        ):
            m.add_monitor({**BASE, "name": "typo", "suite": suite})

        until = "2030-01-01T00:00:00+00:00"
        with pytest.raises(lw.ParameterError, match=r"'silences\[0\]\.check' must be a check of the suite"):
            m.add_monitor({**BASE, "name": "s1", "silences": [{"until": until, "check": "rowz"}]})
        detectors = [{"name": "v", "kind": "adwin", "watch": "rows"}]
        for check in ("rows", "detector:v", None):
            silence = {"until": until, **({"check": check} if check else {})}
            spec = {**BASE, "name": "s2", "silences": [silence], "detectors": detectors}
            assert m.add_monitor(spec, replace=check != "rows")["name"] == "s2"

        with pytest.raises(lw.NotFoundError, match="no monitor named 'new' to replace; declare it first"):
            m.add_monitor({**BASE, "name": "new"}, replace=True)
        assert sorted(x["name"] for x in m.monitors()) == ["m", "s2"]
        m.add_monitor({**BASE, "name": "m", "enabled": False}, replace=True)
    # The list shows each monitor's detectors and which are paused.
    r = run_cli("monitors", "list", "credit", "--local", str(tmp_path / "lw.db"))
    assert r.returncode == 0, r.stderr
    rows = {line.split("│")[1].strip(): line for line in r.stdout.splitlines() if line.startswith("│")}
    assert set(rows) == {"m (paused)", "s2"}
    assert "v (adwin on rows)" in rows["s2"] and "v (" not in rows["m (paused)"]

    # Deleting takes --yes (it drops the runs, incidents and delivery log too); a typo names the monitors.
    where = ("--local", str(tmp_path / "lw.db"))
    r = run_cli("monitors", "delete", "credit", "s3", *where)
    assert r.returncode == 2 and r.stderr.strip() == (
        "error: model 'credit' has no monitor named 's3'; its monitors: m, s2"
    )
    r = run_cli("monitors", "delete", "credit", "s2", *where)
    assert r.returncode == 2 and r.stderr.startswith("error: parameter '--yes' must be given to delete")
    r = run_cli("monitors", "delete", "credit", "s2", "--yes", *where)
    assert r.returncode == 0 and "monitor 's2' of model 'credit' deleted" in r.stderr
    with lw.Client.local(tmp_path / "lw.db") as client:
        assert [x["name"] for x in client.model("credit").monitors()] == ["m"]
