"""A monitor's declaration: what it runs (a Suite), on which windows, against what, and whom it tells.

Read from YAML text or a dict (the API, the SDK and the CLI send the same mapping); durations are seconds or
text like ``30s``, ``15m``, ``1h``, ``7d``. Channels are validated here, their secrets are never part of it:
a channel names the environment variables that hold them (decision 0035).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from loopwise.checks import Suite, current_title
from loopwise.errors import ParameterError, SchemaError
from loopwise.monitors.detect import check_detector

MONITOR_KEYS = (
    "name",
    "suite",
    "window",
    "step",
    "reference",
    "segments",
    "channels",
    "detectors",
    "renotify",
    "silences",
    "anchor",
    "enabled",
)
CHANNEL_TYPES = ("webhook", "slack", "email")
CHANNEL_KEYS: dict[str, tuple[str, ...]] = {
    "webhook": ("type", "name", "url", "url_env", "secret_env", "severity"),
    "slack": ("type", "name", "url", "url_env", "severity"),
    "email": (
        "type",
        "name",
        "to",
        "sender",
        "host",
        "port",
        "starttls",
        "username_env",
        "password_env",
        "severity",
    ),
}
SEVERITIES = ("fail", "warn")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: Longest window or step a monitor may have (a year): bounds what one run merges.
MAX_SECONDS = 366 * 86400


def seconds(value: Any, name: str) -> int:
    """``value`` (an integer of seconds, or text like ``90s``, ``15m``, ``24h``, ``7d``) as whole seconds."""
    allowed = "a positive number of seconds or a length like 30s, 15m, 24h, 7d"
    if isinstance(value, bool):
        raise ParameterError(name, value, allowed)
    if isinstance(value, int):
        n = value
    elif isinstance(value, str) and (m := re.fullmatch(r"\s*(\d+)\s*([smhdw]?)\s*", value)):
        n = int(m.group(1)) * _UNITS[m.group(2) or "s"]
    else:
        raise ParameterError(name, value, allowed)
    if not 1 <= n <= MAX_SECONDS:
        raise ParameterError(name, value, f"{allowed}, at most {MAX_SECONDS // 86400} days")
    return n


def duration_text(n: int) -> str:
    """Seconds as the shortest exact text ``seconds`` reads back (``3600`` -> ``1h``)."""
    for unit, size in sorted(_UNITS.items(), key=lambda u: -u[1]):
        if n % size == 0:
            return f"{n // size}{unit}"
    return f"{n}s"  # pragma: no cover (every n is a multiple of a second)


def check_channel(spec: Any, where: str) -> dict[str, Any]:
    """A channel spec, checked: its type, known keys, a URL or the variable holding it, recipients."""
    if not isinstance(spec, dict):
        raise SchemaError(f"{where} must be a mapping with a 'type' ({', '.join(CHANNEL_TYPES)})")
    kind = spec.get("type")
    if kind not in CHANNEL_TYPES:
        raise ParameterError(f"{where}.type", kind, CHANNEL_TYPES)
    unknown = sorted(set(spec) - set(CHANNEL_KEYS[kind]))
    if unknown:
        raise SchemaError(
            f"unknown key(s) {', '.join(map(repr, unknown))} in {where}; a {kind} channel takes "
            f"{', '.join(CHANNEL_KEYS[kind])} (secrets only as names of environment variables: *_env)"
        )
    out = dict(spec)
    out["name"] = str(spec.get("name") or kind)
    if not _NAME.fullmatch(out["name"]):
        raise ParameterError(f"{where}.name", out["name"], "letters, digits, '.', '_' or '-'")
    for key in ("url_env", "secret_env", "username_env", "password_env"):
        if key in spec and not (isinstance(spec[key], str) and _ENV.fullmatch(spec[key])):
            raise ParameterError(f"{where}.{key}", spec[key], "the name of an environment variable")
    if kind in ("webhook", "slack"):
        if ("url" in spec) == ("url_env" in spec):
            raise SchemaError(f"{where} needs exactly one of 'url' and 'url_env'")
        url = spec.get("url")
        if url is not None and not (isinstance(url, str) and re.match(r"https?://[^/\s]+", url)):
            raise ParameterError(f"{where}.url", url, "an http:// or https:// URL")
    else:
        to = spec.get("to")
        if isinstance(to, str):
            to = [to]
        if not (isinstance(to, list) and to and all(isinstance(t, str) and "@" in t for t in to)):
            raise ParameterError(f"{where}.to", spec.get("to"), "one or more e-mail addresses")
        out["to"] = to
        for key in ("sender", "host"):
            if not isinstance(spec.get(key), str) or not spec[key]:
                raise ParameterError(f"{where}.{key}", spec.get(key), "a non-empty string")
        port = spec.get("port", 25)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ParameterError(f"{where}.port", port, "a port number (1-65535)")
        out["port"] = port
        out["starttls"] = bool(spec.get("starttls", False))
    severity = spec.get("severity", list(SEVERITIES))
    if isinstance(severity, str):
        severity = [severity]
    if not (isinstance(severity, list) and severity and set(severity) <= set(SEVERITIES)):
        raise ParameterError(f"{where}.severity", spec.get("severity"), "fail, warn or both")
    out["severity"] = sorted(set(severity))
    return out


def check_silence(spec: Any, where: str) -> dict[str, Any]:
    """A silence: ``until`` (ISO 8601), optionally the ``check`` and ``segment`` it covers, a ``reason``."""
    if not isinstance(spec, dict) or "until" not in spec:
        raise SchemaError(f"{where} must be a mapping with 'until' (and optionally check, segment, reason)")
    unknown = sorted(set(spec) - {"until", "check", "segment", "reason"})
    if unknown:
        raise SchemaError(f"unknown key(s) {', '.join(map(repr, unknown))} in {where}")
    until = spec["until"]
    try:
        t = (
            until
            if isinstance(until, dt.datetime)
            else dt.datetime.fromisoformat(str(until).replace("Z", "+00:00"))
        )
    except ValueError:
        raise ParameterError(f"{where}.until", until, "an ISO 8601 time") from None
    t = t if t.tzinfo else t.replace(tzinfo=dt.UTC)
    out: dict[str, Any] = {"until": t.astimezone(dt.UTC).isoformat()}
    for key in ("check", "segment", "reason"):
        if spec.get(key) is not None:
            if not isinstance(spec[key], str):
                raise ParameterError(f"{where}.{key}", spec[key], "text")
            out[key] = spec[key][:500]
    return out


@dataclass(frozen=True)
class MonitorSpec:
    """What a monitor runs and when: ``suite`` on each window of ``window`` seconds, every ``step`` seconds,
    against ``reference`` (None: no reference), whole and per value of each ``segments`` column, alerting
    ``channels``; ``renotify`` seconds after an alert, a still-open incident alerts again (None: never)."""

    name: str
    suite: dict[str, Any]
    window: int
    step: int
    reference: str | None = "default"
    segments: tuple[str, ...] = ()
    channels: tuple[dict[str, Any], ...] = ()
    renotify: int | None = None
    #: Silences: alerts for the checks they cover are logged as ``silenced`` instead of sent, until then.
    silences: tuple[dict[str, Any], ...] = ()
    anchor: dt.datetime | None = None
    enabled: bool = True
    #: Change detectors on the values of the suite's checks, window after window (``monitors.detect``).
    detectors: tuple[dict[str, Any], ...] = field(default=())

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ParameterError("name", self.name, "1-200 letters, digits, '.', '_' or '-'")
        Suite.from_dict(self.suite)  # refuses a malformed suite now, not at its first run
        names = [c["name"] for c in self.channels]
        if len(set(names)) != len(names):
            raise SchemaError(f"two channels share a name ({', '.join(names)}); give each its own 'name'")
        names = [d["name"] for d in self.detectors]
        if len(set(names)) != len(names):
            raise SchemaError(f"two detectors share a name ({', '.join(names)})")

    @classmethod
    def from_dict(cls, spec: Any) -> MonitorSpec:
        if not isinstance(spec, dict):
            raise SchemaError(f"a monitor must be a mapping; got {type(spec).__name__}")
        unknown = sorted(set(spec) - set(MONITOR_KEYS))
        if unknown:
            raise SchemaError(
                f"unknown key(s) {', '.join(map(repr, unknown))} in the monitor; "
                f"valid keys: {', '.join(MONITOR_KEYS)}"
            )
        for key in ("name", "suite", "window", "step"):
            if key not in spec:
                raise SchemaError(f"the monitor needs {key!r} (name, suite, window, step)")
        suite = spec["suite"]
        if isinstance(suite, str):
            from loopwise.schema.yamlfile import load_yaml_text

            suite = load_yaml_text(suite, "suite")
        if not isinstance(suite, dict):
            raise SchemaError("'suite' must be a suite mapping or its YAML text (never a file name)")
        segments = spec.get("segments") or []
        if isinstance(segments, str):
            segments = [segments]
        if not (isinstance(segments, list) and all(isinstance(c, str) and c for c in segments)):
            raise ParameterError("segments", spec.get("segments"), "a list of segment column names")
        channels = spec.get("channels") or []
        if not isinstance(channels, list):
            raise SchemaError("'channels' must be a list of channels")
        reference = spec.get("reference", "default")
        if reference is not None and not isinstance(reference, str):
            raise ParameterError("reference", reference, "a reference name or null")
        renotify = spec.get("renotify")
        anchor = spec.get("anchor")
        if isinstance(anchor, str):
            try:
                anchor = dt.datetime.fromisoformat(anchor.replace("Z", "+00:00"))
            except ValueError:
                raise ParameterError("anchor", anchor, "an ISO 8601 time") from None
        if anchor is not None and not isinstance(anchor, dt.datetime):
            raise ParameterError("anchor", anchor, "an ISO 8601 time")
        if anchor is not None and anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=dt.UTC)
        enabled = spec.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ParameterError("enabled", enabled, "true or false")
        detectors = spec.get("detectors") or []
        if not isinstance(detectors, list):
            raise SchemaError("'detectors' must be a list of detectors")
        silences = spec.get("silences") or []
        if not isinstance(silences, list):
            raise SchemaError("'silences' must be a list of silences")
        out = cls(
            name=spec["name"],
            suite=suite,
            window=seconds(spec["window"], "window"),
            step=seconds(spec["step"], "step"),
            reference=reference,
            segments=tuple(dict.fromkeys(segments)),
            channels=tuple(check_channel(c, f"channels[{i}]") for i, c in enumerate(channels)),
            renotify=None if renotify is None else seconds(renotify, "renotify"),
            silences=tuple(check_silence(x, f"silences[{i}]") for i, x in enumerate(silences)),
            anchor=anchor,
            enabled=enabled,
            detectors=tuple(check_detector(d, f"detectors[{i}]") for i, d in enumerate(detectors)),
        )
        out.check_names()
        return out

    def check_names(self) -> None:
        """Refuse a ``watch`` detector or a silence that names no check of the suite: the detector would never
        get a value, the silence never cover an alert. Checked when a monitor is declared, not when a stored
        one is read (one stored before this check keeps running). A suite with presets is generated when it
        runs: its names are taken as given."""
        suite = Suite.from_dict(self.suite)
        if suite.presets:
            return
        titles = [c.title for c in suite.checks]
        known = ", ".join(map(repr, titles))
        for i, d in enumerate(self.detectors):
            if "watch" in d and current_title(d["watch"]) not in titles:
                raise ParameterError(f"detectors[{i}].watch", d["watch"], f"a check of the suite ({known})")
        alerting = [*titles, *(f"detector:{d['name']}" for d in self.detectors)]
        for i, x in enumerate(self.silences):
            if x.get("check") is not None and current_title(x["check"]) not in alerting:
                names = ", ".join(map(repr, alerting))
                raise ParameterError(
                    f"silences[{i}].check", x["check"], f"a check of the suite or detector:NAME ({names})"
                )

    @classmethod
    def from_yaml(cls, text: str) -> MonitorSpec:
        from loopwise.schema.yamlfile import load_yaml_text

        return cls.from_dict(load_yaml_text(text, "monitor"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "suite": self.suite,
            "window": duration_text(self.window),
            "step": duration_text(self.step),
            "reference": self.reference,
            "segments": list(self.segments),
            "channels": [dict(c) for c in self.channels],
            "renotify": None if self.renotify is None else duration_text(self.renotify),
            "silences": [dict(x) for x in self.silences],
            "detectors": [dict(d) for d in self.detectors],
            "anchor": None if self.anchor is None else self.anchor.isoformat(),
            "enabled": self.enabled,
        }
