"""A monitor whose stored detector state an older loopwise wrote (a BOCPD state from before decision 0040)
goes on with a fresh detector rather than failing every run (decision 0045)."""

from __future__ import annotations

import base64

from tests._fixtures import old_bocpd_state

from loopwise.detectors import BOCPD, Detector
from loopwise.monitors.detect import check_detector, update_detectors


def _result(value: float) -> dict[str, object]:
    return {"all": {"checks": [{"name": "drift", "actual": value}]}}


def test_a_stale_bocpd_state_is_replaced_by_a_fresh_detector() -> None:
    spec = check_detector({"name": "b", "kind": "bocpd", "watch": "drift"}, "detectors[0]")
    states = {"b": {"spec": spec, "state": base64.b64encode(old_bocpd_state()).decode(), "ends": ["x"] * 200}}
    new, seen, checks, _ = update_detectors([spec], states, _result(0.5), "2026-12-05T21:00:00Z")
    assert seen["b"]["value"] == 0.5 and checks[0]["status"] == "pass"
    resumed = Detector.from_bytes(base64.b64decode(new["b"]["state"]))
    assert isinstance(resumed, BOCPD) and resumed.n == 1  # afresh: one value seen, not the old 201
    assert new["b"]["ends"] == ["2026-12-05T21:00:00Z"]
    # and a state this loopwise wrote resumes as before
    again, _, _, _ = update_detectors([spec], new, _result(0.6), "2026-12-05T22:00:00Z")
    assert Detector.from_bytes(base64.b64decode(again["b"]["state"])).n == 2
