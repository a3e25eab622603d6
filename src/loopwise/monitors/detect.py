"""Change detectors on a monitor's check values: each window's value of a watched check is one sample of a
stream, fed to a detector (``loopwise.detectors``) in window order; its state is kept on the monitor between
runs (``to_bytes``, no pickle), so a restarted server resumes where it stopped.

A detection is reported as a failing pseudo-check ``detector:<name>`` (an incident, alerted like any other),
with the window where the detector places the change's start; the next window without a detection passes.
"""

from __future__ import annotations

import base64
from typing import Any

from loopwise.detectors import Detector
from loopwise.errors import ParameterError, SchemaError

DETECTOR_KEYS = ("name", "kind", "watch", "params")
#: Window ends kept per detector, to name the window a change point (a sample index) falls in.
KEEP_ENDS = 1000


def _kinds() -> dict[str, type[Detector]]:
    import loopwise.detectors  # noqa: F401  (registers every kind)

    return dict(Detector._kinds)


def make_detector(spec: dict[str, Any]) -> Detector:
    cls = _kinds()[spec["kind"]]
    try:
        return cls(**spec.get("params", {}))
    except TypeError as exc:
        raise ParameterError(
            f"detectors[{spec['name']}].params", spec.get("params"), f"{cls.__name__}'s parameters ({exc})"
        ) from None


def check_detector(spec: Any, where: str) -> dict[str, Any]:
    """A detector spec: ``name``, ``kind`` (a detector of loopwise.detectors), ``watch`` (the name of a check
    of the suite whose value it follows), ``params`` (the detector's parameters)."""
    if not isinstance(spec, dict):
        raise SchemaError(f"{where} must be a mapping with name, kind and watch")
    unknown = sorted(set(spec) - set(DETECTOR_KEYS))
    if unknown:
        raise SchemaError(
            f"unknown key(s) {', '.join(map(repr, unknown))} in {where}; valid: {', '.join(DETECTOR_KEYS)}"
        )
    kinds = _kinds()
    if spec.get("kind") not in kinds:
        raise ParameterError(f"{where}.kind", spec.get("kind"), sorted(kinds))
    for key in ("name", "watch"):
        if not isinstance(spec.get(key), str) or not spec[key]:
            raise ParameterError(f"{where}.{key}", spec.get(key), "a non-empty string")
    params = spec.get("params") or {}
    if not isinstance(params, dict):
        raise ParameterError(f"{where}.params", params, "a mapping of the detector's parameters")
    out = {"name": spec["name"], "kind": spec["kind"], "watch": spec["watch"], "params": params}
    make_detector(out)  # refuses bad parameters now, naming them
    return out


def _value(result: dict[str, Any], check: str) -> float | None:
    for c in result["all"]["checks"]:
        if c["name"] == check:
            v = c.get("actual")
            return None if v is None else float(v)
    return None


def update_detectors(
    specs: list[dict[str, Any]], states: dict[str, Any], result: dict[str, Any], window_end: str
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """Feed one window's values to the monitor's detectors, in window order.

    Returns the new states, what each detector saw (for the run's result) and one pseudo-check per detector
    that saw a value (``status`` fail on a detection, pass otherwise)."""
    new_states: dict[str, Any] = {}
    seen: dict[str, Any] = {}
    checks: list[dict[str, Any]] = []
    for spec in specs:
        name = spec["name"]
        held = states.get(name)
        if held is not None and held.get("spec") == spec:
            det = Detector.from_bytes(base64.b64decode(held["state"]))
            ends = list(held["ends"])
        else:  # new, or its spec changed: a fresh detector
            det, ends = make_detector(spec), []
        value = _value(result, spec["watch"])
        if value is not None:
            det.update(value)
            ends.append(window_end)
            start = None
            if det.drift_detected and det.change_point is not None:
                k = det.change_point - (det.n - len(ends))
                start = ends[k] if 0 <= k < len(ends) else None
            seen[name] = {"value": value, "detected": det.drift_detected, "change_window_end": start}
            condition = f"{spec['kind']} on {spec['watch']}"
            checks.append(
                {
                    "name": f"detector:{name}",
                    "status": "fail" if det.drift_detected else "pass",
                    "actual": value,
                    "condition": condition,
                    "message": "" if start is None else f"the change began in the window ending {start}",
                }
            )
        new_states[name] = {
            "spec": spec,
            "state": base64.b64encode(det.to_bytes()).decode(),
            "ends": ends[-KEEP_ENDS:],
        }
    return new_states, seen, checks
