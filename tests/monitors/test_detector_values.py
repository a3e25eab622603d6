"""A detector that takes 0/1 (or [0, 1]) values on a stream of other numbers (trial of issue 17): DDM on the
incomes was declared without a word, then broke every pass (exit 2), took the other monitors' runs and alerts
with it, and its own windows were stored done/pass. Now the declaration is refused in one line naming the
monitor, the detector and the column; and a detector that still cannot take a run's values (a monitor stored
before this check) fails that run, with the error stored, while the other monitors run and alert. SQLite and
PostgreSQL; a real webhook receiver on loopback; the CLI in a fresh process."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from tests._fixtures import run_cli
from tests._fixtures.http import SCHEMA, traffic
from tests.alerts.receiver import receiver

import loopwise as lw
from loopwise.alerts import AlertSettings
from loopwise.datasets import CREDIT_SCHEMA_YAML
from loopwise.loop import run_pass
from loopwise.store import transaction
from loopwise.store.tables import Monitor

T0 = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
SUITE = {"suite": "s", "checks": [{"metric": "row_count", "condition": {"ge": 1}, "name": "rows"}]}
BASE = {"name": "m", "suite": SUITE, "window": "1h", "step": "1h", "reference": None}


def _said(kind: str, stream: str, **more: object) -> dict[str, object]:
    return {"name": "d", "kind": kind, "stream": stream, **more}


NUMERIC = "income is a numeric column"
#: (detector, what the one-line refusal says besides the monitor and the detector)
REFUSED = [
    (_said("ddm", "feature", columns=["income", "loan_amount"]), f"{NUMERIC}; ddm takes only 0 and 1"),
    (_said("hddm_a", "feature", column="income"), f"{NUMERIC}; hddm_a takes only values in [0, 1]"),
    (_said("eddm", "feature", column="has_cosigner", every="10m"), "each sub-window's share of has_cosigner"),
    (_said("ddm", "error", every="10m"), "each sub-window's error rate, in [0, 1]; ddm takes only 0 and 1"),
    (_said("ddm", "score"), "p_approve's probabilities, in [0, 1]; ddm takes only 0 and 1"),
    (_said("bocpd", "feature", column="age", params={"model": "bernoulli"}), "bocpd takes only values in"),
]
ACCEPTED = [
    _said("ddm", "feature", column="has_cosigner"),  # a boolean column: 0 or 1 per event
    _said("hddm_w", "feature", column="has_cosigner", every="10m"),  # its share per sub-window: in [0, 1]
    _said("ddm", "error"),  # a classifier's errors: 0 or 1
    _said("hddm_a", "error", every="10m"),
    _said("hddm_a", "score"),
    _said("adwin", "feature", columns=["income", "loan_amount"]),
]


def test_a_detector_is_refused_on_values_it_cannot_take(db_url: str) -> None:
    c = lw.Client.local(db_url)
    m = c.register("credit", SCHEMA)
    for spec, said in REFUSED:
        with pytest.raises(lw.ParameterError) as got:
            m.add_monitor({**BASE, "detectors": [spec]})
        text = str(got.value)
        assert text.startswith("parameter 'detectors[d].kind' must be a detector of the values monitor 'm'")
        assert said in text and "\n" not in text, text
        assert "adwin" in text and "ddm," not in text  # what can take them
    for spec in ACCEPTED:
        m.add_monitor({**BASE, "name": f"ok-{ACCEPTED.index(spec)}", "detectors": [spec]})
    # Changing a monitor is checked the same way.
    with pytest.raises(lw.ParameterError, match="income is a numeric column"):
        m.add_monitor({**BASE, "name": "ok-0", "detectors": [REFUSED[1][0]]}, replace=True)
    assert m.monitors()[0]["detectors"][0]["kind"] == "ddm"
    c.close()


def test_monitors_add_refuses_it_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "schema.yaml").write_text(CREDIT_SCHEMA_YAML)
    db = str(tmp_path / "lw.db")
    r = run_cli(
        "models", "register", "credit", "--schema", str(tmp_path / "schema.yaml"), "--local", db, "--create"
    )
    assert r.returncode == 0, r.stderr
    (tmp_path / "m.yaml").write_text(yaml.safe_dump({**BASE, "detectors": [REFUSED[0][0]]}))
    r = run_cli("monitors", "add", "credit", str(tmp_path / "m.yaml"), "--local", db)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "'detectors[d].kind'" in r.stderr and "monitor 'm'" in r.stderr and "income" in r.stderr


def test_a_detector_that_cannot_take_a_run_s_values_fails_that_run_only(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPWISE_ALERT_ALLOW", "127.0.0.1")
    c = lw.Client.local(db_url)
    m = c.register("credit", SCHEMA)
    frames = []
    for h in range(3):
        df = traffic(600, 40 + h, (T0 + dt.timedelta(hours=h)).isoformat()).drop(columns=["repaid"])
        df["request_id"] = [f"{h}-{i}" for i in range(len(df))]
        frames.append(df)
    for df in frames:
        m.log(df)
    anchor = (T0 + dt.timedelta(hours=1)).isoformat()
    detectors = [
        {"name": "incomes", "kind": "adwin", "stream": "feature", "column": "income"},
        {"name": "cosigned", "kind": "adwin", "stream": "feature", "column": "has_cosigner"},
    ]
    m.add_monitor({**BASE, "name": "broken", "anchor": anchor, "detectors": detectors})
    # As a monitor stored before the declaration was checked: DDM (0 or 1 only) on the incomes.
    sessions = c.transport.sessions  # type: ignore[attr-defined]
    with transaction(sessions) as s:
        row = s.query(Monitor).filter_by(name="broken").one()
        row.detectors = [{**detectors[0], "kind": "ddm", "params": {}}, {**detectors[1], "params": {}}]
    # Another monitor, whose check fails on every window and alerts a real receiver.
    failing = {"suite": "s", "checks": [{"metric": "row_count", "condition": {"ge": 10_000}, "name": "many"}]}
    with receiver() as rec:
        m.add_monitor(
            {
                **BASE,
                "name": "other",
                "suite": failing,
                "anchor": anchor,
                "channels": [{"type": "webhook", "url": f"{rec.url}/hook"}],
            }
        )
        readers = c.transport.read_sessions  # type: ignore[attr-defined]
        result = run_pass(
            sessions, readers, AlertSettings(allow=("127.0.0.1",)), now=T0 + dt.timedelta(hours=3)
        )
        bodies = [json.loads(g.body) for g in rec.got]

    assert result.deliveries["sent"] == 1
    assert [b["event"] for b in bodies] == ["incident.opened"] and bodies[0]["monitor"] == "other"
    other = m.monitor_history("other")
    assert [r["state"] for r in other] == ["done"] * 3 and {r["status"] for r in other} == {"fail"}
    broken = sorted(m.monitor_history("broken"), key=lambda r: r["window_end"])
    assert [r["state"] for r in broken] == ["failed"] * 3
    for r, df in zip(broken, frames, strict=True):
        assert r["error"].startswith(
            "monitor 'broken': detector 'incomes' (ddm) could not take the values of its feature stream of "
            "income: DDM takes 0 (a hit) or 1 (an error); got "
        ), r["error"]
        # The detector that could take its values was fed, and says what it saw: the share of cosigners
        # that pandas counts in the hour the run fed.
        seen = m.monitor_run("broken", r["id"])["result"]["detectors"]
        assert set(seen) == {"cosigned"}
        assert seen["cosigned"]["n"] == len(df)
        assert seen["cosigned"]["value"] == pytest.approx(float(np.mean(df["has_cosigner"])))
    # The failing detector's state was left as it was (never fed); the other's counts every event fed.
    with transaction(sessions) as s:
        states = s.query(Monitor).filter_by(name="broken").one().detector_state
    assert set(states) == {"cosigned"}
    assert run_pass(sessions, readers, AlertSettings(), now=T0 + dt.timedelta(hours=3)).runs == []
    c.close()


def test_a_bad_parameter_names_its_detector() -> None:
    """``params: {delta: 5}`` said only "parameter 'delta' must be ..."; now a bad value and an unknown
    parameter name the detector alike (``detectors[NAME].params.KEY``), and a group's ``window`` (its
    MultiStream's, which a spec could not set) is a key of the detector, checked the same way."""
    from loopwise.detectors import MultiStream
    from loopwise.monitors import MonitorSpec
    from loopwise.monitors.detect import make_detector

    one = {"name": "inc", "kind": "adwin", "stream": "feature", "column": "income"}
    group = {"name": "g", "kind": "adwin", "stream": "feature", "columns": ["income", "age"]}
    adwin = "one of ADWIN's parameters (delta, clock, max_buckets, min_window_length, grace_period, locate)"
    unit = "must be a number in (0, 1); got 5"
    window = "must be a non-negative integer; got"
    for spec, said in (
        ({**one, "params": {"delta": 5}}, f"parameter 'detectors[inc].params.delta' {unit}"),
        ({**one, "params": {"nope": 1}}, f"parameter 'detectors[inc].params.nope' must be {adwin}; got 1"),
        ({**group, "params": {"delta": 5}}, f"parameter 'detectors[g].params.delta' {unit}"),
        ({**group, "params": {"nope": 1}}, f"parameter 'detectors[g].params.nope' must be {adwin}; got 1"),
        ({**group, "window": -1}, f"parameter 'detectors[g].window' {window} -1"),
        ({**group, "window": "5"}, f"parameter 'detectors[g].window' {window} '5'"),
    ):
        with pytest.raises(lw.ParameterError) as got:
            MonitorSpec.from_dict({**BASE, "detectors": [spec]})
        assert str(got.value).startswith(said), str(got.value)
    with pytest.raises(lw.SchemaError, match=r"'window' is the group's .* it needs 'columns'"):
        MonitorSpec.from_dict({**BASE, "detectors": [{**one, "window": 5}]})
    stored = MonitorSpec.from_dict({**BASE, "detectors": [{**group, "window": 5}]})
    assert stored.to_dict()["detectors"][0]["window"] == 5
    made = make_detector(stored.detectors[0])
    assert isinstance(made, MultiStream) and made.params() == {"member": "adwin", "params": {}, "window": 5}
    assert make_detector({**group, "params": {}}).params()["window"] == 10  # MultiStream's default
