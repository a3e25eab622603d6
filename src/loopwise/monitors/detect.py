"""Change detectors in a monitor, fed in window order (decisions 0035, 0041): a ``watch`` detector gets each
window's value of a check of the suite; a ``stream`` detector gets the events of each run's slice (the
labelled errors, a score, a feature; ``monitors.streams``), per event or per sub-window mean. The state is
kept on the monitor between runs (``to_bytes``, no pickle), so a restarted server resumes where it stopped.

A detection is reported as a failing pseudo-check ``detector:<name>`` (an incident, alerted like any other)
that says where the change began: the window (``watch``), or the time of the event the detector's
``change_point`` names ("the error rate rose from about 14:05"); the next window without a detection passes.

A ``score`` or ``feature`` stream of several ``columns`` (decision 0057) is watched by one ``MultiStream``
whose member is the declared kind (one per column): a change seen in several of the columns is one
detection, one incident, and says which column placed it.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from loopwise.checks import current_title
from loopwise.detectors import Detector
from loopwise.errors import DataError, ParameterError, SchemaError, StaleStateError
from loopwise.monitors.streams import Stream, iso
from loopwise.schema import Schema

DETECTOR_KEYS = ("name", "kind", "watch", "stream", "column", "columns", "window", "every", "delay", "params")
#: Window ends kept per detector, to name the window a change point (a sample index) falls in.
KEEP_ENDS = 1000
#: Stream detectors: time marks kept per run fed and in all (to turn a change point into a time), and the
#: last values kept (to say what the stream's level was before a change).
MARKS_PER_RUN = 64
KEEP_MARKS = 4096
KEEP_TAIL = 256


def _kinds() -> dict[str, type[Detector]]:
    import loopwise.detectors  # noqa: F401  (registers every kind)

    return dict(Detector._kinds)


def make_detector(spec: dict[str, Any]) -> Detector:
    """The detector a spec declares; a bad parameter raises a ParameterError naming the detector and the
    parameter: ``detectors[NAME].params.delta`` (``detectors[NAME].window`` for a group's window)."""
    cls = _kinds()[spec["kind"]]
    try:
        if "columns" in spec:
            from loopwise.detectors import MultiStream

            window = {"window": spec["window"]} if "window" in spec else {}
            return MultiStream(member=cls, params=spec.get("params", {}), **window)
        return cls(**spec.get("params", {}))
    except ParameterError as exc:
        name = exc.name if "columns" in spec else f"params.{exc.name}"
        raise ParameterError(f"detectors[{spec['name']}].{name}", exc.value, exc.allowed) from None


def check_detector(spec: Any, where: str) -> dict[str, Any]:
    """A detector spec: ``name``, ``kind`` (a detector of loopwise.detectors), ``params`` (its parameters),
    and what it watches: ``watch`` (the name of a check of the suite, one value per window) or ``stream``
    (``error``, ``score`` or ``feature``: the events' values, ``monitors.streams``) with ``column`` (or
    ``columns``, several: one detector of that kind per column, a change reported once), ``every`` (one mean
    per sub-window of that length instead of each event) and ``delay`` (how long to wait for late labels
    before feeding a slice)."""
    from loopwise.monitors.spec import seconds
    from loopwise.monitors.streams import STREAMS

    if not isinstance(spec, dict):
        raise SchemaError(f"{where} must be a mapping with name, kind, and watch or stream")
    unknown = sorted(set(spec) - set(DETECTOR_KEYS))
    if unknown:
        raise SchemaError(
            f"unknown key(s) {', '.join(map(repr, unknown))} in {where}; valid: {', '.join(DETECTOR_KEYS)}"
        )
    kinds = {k: c for k, c in _kinds().items() if k != "multistream"}
    if spec.get("kind") == "multistream":
        raise ParameterError(
            f"{where}.kind",
            "multistream",
            "the kind of detector each stream gets (a multistream detector is declared as a stream of several"
            " 'columns')",
        )
    if spec.get("kind") not in kinds:
        raise ParameterError(f"{where}.kind", spec.get("kind"), sorted(kinds))
    if not isinstance(spec.get("name"), str) or not spec["name"]:
        raise ParameterError(f"{where}.name", spec.get("name"), "a non-empty string")
    if ("watch" in spec) == ("stream" in spec):
        raise SchemaError(
            f"{where} needs exactly one of 'watch' (a check of the suite) and 'stream' ({', '.join(STREAMS)})"
        )
    params = spec.get("params") or {}
    if not isinstance(params, dict):
        raise ParameterError(f"{where}.params", params, "a mapping of the detector's parameters")
    out: dict[str, Any] = {"name": spec["name"], "kind": spec["kind"]}
    if "watch" in spec:
        if not isinstance(spec["watch"], str) or not spec["watch"]:
            raise ParameterError(f"{where}.watch", spec.get("watch"), "the name of a check of the suite")
        extra = sorted({"column", "columns", "window", "every", "delay"} & set(spec))
        if extra:
            raise SchemaError(
                f"{', '.join(extra)} in {where}: keys of a 'stream' detector, not a 'watch' one"
            )
        out["watch"] = spec["watch"]
    else:
        if spec["stream"] not in STREAMS:
            raise ParameterError(f"{where}.stream", spec["stream"], STREAMS)
        out["stream"] = spec["stream"]
        column = spec.get("column")
        columns = spec.get("columns")
        if columns is not None:
            if column is not None:
                raise SchemaError(f"{where}: give 'column' (one stream) or 'columns' (several), not both")
            if spec["stream"] == "error":
                raise SchemaError(f"{where}: an error stream takes no 'columns' (it is the model's errors)")
            ok = isinstance(columns, list) and all(isinstance(c, str) and c for c in columns)
            if not ok or len(columns) < 2 or len(set(columns)) != len(columns):
                raise ParameterError(
                    f"{where}.columns", columns, "a list of two or more distinct column names"
                )
            out["columns"] = list(columns)
            if "window" in spec:
                out["window"] = spec["window"]  # checked by MultiStream below, naming the detector
        elif "window" in spec:
            raise SchemaError(
                f"{where}: 'window' is the group's (values within it are one change): it needs 'columns'"
            )
        if spec["stream"] == "feature" and column is None and columns is None:
            raise SchemaError(
                f"{where}: a feature stream needs 'column' (a numeric or boolean column) or 'columns'"
            )
        if column is not None:
            if spec["stream"] == "error":
                raise SchemaError(f"{where}: an error stream takes no 'column' (it is the model's errors)")
            if not isinstance(column, str) or not column:
                raise ParameterError(f"{where}.column", column, "a column name")
            out["column"] = column
        if spec.get("every") is not None:
            out["every"] = seconds(spec["every"], f"{where}.every")
        if spec.get("delay") is not None:
            out["delay"] = 0 if spec["delay"] in (0, "0", "0s") else seconds(spec["delay"], f"{where}.delay")
    out["params"] = params
    make_detector(out)  # refuses bad parameters now, naming them
    return out


#: What a detector that takes each kind of value takes, as a refusal says it.
_ONLY = {"binary": "only 0 and 1", "unit": "only values in [0, 1]"}


def check_values(schema: Schema, spec: dict[str, Any], monitor: str) -> None:
    """Refuse a stream detector that cannot take the stream's values (DDM, which takes 0 and 1, on a numeric
    feature, say): it would fail every run. Named in one line: the monitor, the detector, the column; and the
    kinds that can take them."""
    from loopwise.detectors.base import TAKES
    from loopwise.monitors.streams import stream_values

    takes = make_detector(spec).takes
    values, why = stream_values(schema, spec)
    if TAKES.index(takes) <= TAKES.index(values):
        return
    fit = [
        k for k, c in _kinds().items() if k != "multistream" and TAKES.index(c().takes) <= TAKES.index(values)
    ]
    raise ParameterError(
        f"detectors[{spec['name']}].kind",
        spec["kind"],
        f"a detector of the values monitor {monitor!r} feeds it ({why}; {spec['kind']} takes "
        f"{_ONLY[takes]}): {', '.join(sorted(fit))}",
    )


def _value(result: dict[str, Any], check: str) -> float | None:
    for c in result["all"]["checks"]:
        if current_title(c["name"]) == current_title(check):
            v = c.get("actual")
            return None if v is None else float(v)
    return None


def update_detectors(
    specs: list[dict[str, Any]],
    states: dict[str, Any],
    result: dict[str, Any] | None,
    window_end: str,
    streams: Mapping[str, Stream] | None = None,
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]], list[str]]:
    """Feed one window to the monitor's detectors, in window order: a ``watch`` detector the window's value
    of its check (from ``result``; None: an empty window), a ``stream`` detector its slice of events
    (``streams[name]``; a detector without one is left as it was).

    Returns the new states, what each detector saw (for the run's result), one pseudo-check per detector
    that saw a value (``status`` fail on a detection, pass otherwise), and why each detector that could not
    take its values (a DataError: DDM given a 2) did not: that detector keeps the state it had, the others
    go on."""
    new_states: dict[str, Any] = {}
    seen: dict[str, Any] = {}
    checks: list[dict[str, Any]] = []
    errors: list[str] = []
    for spec in specs:
        name = spec["name"]
        held = states.get(name)
        det: Detector | None = None
        if held is not None and held.get("spec") == spec:
            try:
                det = Detector.from_bytes(base64.b64decode(held["state"]))
            except StaleStateError:  # written by an older loopwise that this one cannot resume: afresh
                held = None
        else:  # new, or its spec changed: a fresh detector
            held = None
        try:
            if "stream" in spec:
                stream = (streams or {}).get(name)
                if stream is None:
                    if held is not None:
                        new_states[name] = held
                    continue
                new_states[name], got, check = _feed_stream(spec, det or make_detector(spec), held, stream)
            else:
                new_states[name], got, check = _feed_watch(
                    spec, det or make_detector(spec), held, result, window_end
                )
        except DataError as exc:
            if held is not None:
                new_states[name] = held
            errors.append(
                f"detector {name!r} ({spec['kind']}) could not take the values of {_fed(spec)}: {exc}"
            )
            continue
        if got is not None:
            seen[name] = got
        if check is not None:
            checks.append(check)
    return new_states, seen, checks, errors


def _fed(spec: dict[str, Any]) -> str:
    """What a detector is fed, in words: "check 'rows'", "its feature stream of income"."""
    if "watch" in spec:
        return f"check {spec['watch']!r}"
    columns = spec.get("columns") or ([spec["column"]] if spec.get("column") else [])
    return f"its {spec['stream']} stream" + (f" of {', '.join(columns)}" if columns else "")


def _feed_watch(
    spec: dict[str, Any],
    det: Detector,
    held: dict[str, Any] | None,
    result: dict[str, Any] | None,
    window_end: str,
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
    ends = list(held["ends"]) if held is not None else []
    value = None if result is None else _value(result, spec["watch"])
    got = check = None
    if value is not None:
        det.update(value)
        ends.append(window_end)
        start = None
        if det.drift_detected and det.change_point is not None:
            k = det.change_point - (det.n - len(ends))
            start = ends[k] if 0 <= k < len(ends) else None
        message = "" if start is None else f"the change began in the window ending {start}"
        got = {"value": value, "detected": det.drift_detected, "change_window_end": start, "message": message}
        check = {
            "name": f"detector:{spec['name']}",
            "status": "fail" if det.drift_detected else "pass",
            "actual": value,
            "condition": f"{spec['kind']} on {spec['watch']}",
            "message": message,
        }
    state = {"spec": spec, "state": base64.b64encode(det.to_bytes()).decode(), "ends": ends[-KEEP_ENDS:]}
    return state, got, check


def _feed_stream(
    spec: dict[str, Any], det: Detector, held: dict[str, Any] | None, stream: Stream
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
    marks = [tuple(m) for m in held["marks"]] if held is not None else []
    width = len(spec.get("columns", ()))
    tail = _floats(held["tail"]) if held is not None else np.empty(0)
    if width:
        tail = tail.reshape(-1, width)
    base = det.n
    got = check = None
    if len(stream):
        hits, points = det.update_many(stream.values, with_change_points=True)
        picks = np.unique(
            np.linspace(0, len(stream) - 1, min(len(stream), MARKS_PER_RUN)).round().astype(int)
        )
        marks += [(base + int(j), int(stream.times[j])) for j in picks]
        marks = marks[-KEEP_MARKS:]
        seen_values = np.concatenate([tail, stream.values])
        got = {
            "stream": spec["stream"],
            "what": stream.what,
            "n": len(stream),
            "value": float(stream.values.mean()) if not width else None,
            "detected": bool(len(hits)),
            "detections": len(hits),
            "change_at": None,
            "change_index": None,
            "before": None,
            "after": None,
            "message": "",
        }
        what = stream.what
        if width:
            got["values"] = dict(zip(spec["columns"], stream.values.mean(axis=0).tolist(), strict=True))
            got["column"] = got["columns"] = None
        if len(hits):
            hit, rel = int(hits[-1]), int(points[-1])
            at = int(stream.times[rel]) if 0 <= rel < len(stream) else _time_of(marks, base + rel)
            k = len(tail) + rel  # the change's position in seen_values (negative: before the tail)
            one = seen_values
            if width:  # the column whose change point was reported, and the columns that placed it then
                j = getattr(det, "stream", None) or 0
                one, what = seen_values[:, j], stream.whats[j]
                got["column"] = spec["columns"][j]
                got["columns"] = [spec["columns"][c] for c in getattr(det, "streams", (j,))]
            before = one[max(0, k - KEEP_TAIL) : max(0, k)]
            after = one[max(0, k) : len(tail) + hit + 1]
            got.update(
                change_index=base + rel,
                change_at=None if at is None else iso(at),
                before=float(before.mean()) if len(before) else None,
                after=float(after.mean()) if len(after) else None,
            )
            got["message"] = _said(what, at, got["before"], got["after"])
        check = {
            "name": f"detector:{spec['name']}",
            "status": "fail" if len(hits) else "pass",
            "actual": got["after"] if len(hits) else got["value"],
            "condition": f"{spec['kind']} on the {stream.what}",
            "message": got["message"],
        }
        tail = seen_values[-KEEP_TAIL:]
    state = {
        "spec": spec,
        "state": base64.b64encode(det.to_bytes()).decode(),
        "marks": [list(m) for m in marks],
        "tail": base64.b64encode(np.asarray(tail, dtype="<f8").tobytes()).decode(),
    }
    return state, got, check


def _floats(text: str) -> npt.NDArray[np.float64]:
    return np.frombuffer(base64.b64decode(text), dtype="<f8").astype(np.float64)


def _time_of(marks: list[tuple[int, ...]], index: int) -> int | None:
    """The time of sample ``index``, interpolated between the kept marks (None: older than all of them)."""
    if not marks or index < marks[0][0]:
        return None
    idx = np.array([m[0] for m in marks], dtype=np.float64)
    at = np.array([m[1] for m in marks], dtype=np.float64)
    return int(np.interp(index, idx, at))


def _said(what: str, at: int | None, before: float | None, after: float | None) -> str:
    """ "the error rate rose from about 2026-11-20 14:05 UTC (0.1 before, 0.3 after)"."""
    if before is None or after is None:
        way = "changed"
    else:
        way = "rose" if after > before else "fell" if after < before else "changed"
    when = "" if at is None else f" from about {iso(at)[:16].replace('T', ' ')} UTC"
    level = "" if before is None or after is None else f" ({before:.3g} before, {after:.3g} after)"
    return f"the {what} {way}{when}{level}"
