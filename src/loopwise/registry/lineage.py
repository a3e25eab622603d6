"""What a version was made from: its training window or data fingerprint, its training data's profile,
parameters, code version, metrics at training time and free-form tags."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loopwise.errors import ParameterError
from loopwise.profiles import Profile

KEYS = ("training_window", "data_fingerprint", "reference", "params", "code_version", "metrics", "tags")


def _time(value: Any, name: str) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ParameterError(name, value, "an ISO 8601 time") from None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time(), dt.UTC)  # a day: its start, as a time column's date
    if not isinstance(value, dt.datetime):
        raise ParameterError(name, value, "a datetime, a date or an ISO 8601 time")
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


@dataclass(frozen=True)
class Lineage:
    """A version's lineage; ``reference`` (a Profile of the training data) becomes the model's reference
    named ``version:<version>``. Everything else is stored as given (JSON)."""

    training_window: tuple[dt.datetime, dt.datetime] | None = None
    data_fingerprint: str | None = None
    reference: Profile | None = None
    params: dict[str, Any] = field(default_factory=dict)
    code_version: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.training_window is not None:
            start, end = (_time(t, "training_window") for t in self.training_window)
            if end < start:
                raise ParameterError(
                    "training_window", self.training_window, "(start, end) with start <= end"
                )
            object.__setattr__(self, "training_window", (start, end))
        for name in ("params", "metrics", "tags"):
            if not isinstance(getattr(self, name), Mapping):
                raise ParameterError(name, getattr(self, name), "a mapping")
        for key, value in self.metrics.items():
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise ParameterError(f"metrics[{key!r}]", value, "a finite number")
        try:
            json.dumps({"params": self.params, "tags": self.tags}, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ParameterError(
                "params or tags", str(exc), "JSON values (numbers, strings, lists, dicts)"
            ) from None

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any] | None) -> Lineage:
        """From a mapping with the keys of ``KEYS``; an unknown key is an error that lists them."""
        spec = dict(spec or {})
        unknown = sorted(set(spec) - set(KEYS))
        if unknown:
            raise ParameterError(
                "lineage", ", ".join(unknown), f"a mapping with keys among {', '.join(KEYS)}"
            )
        window = spec.get("training_window")
        if window is not None:
            if len(window) != 2:
                raise ParameterError("training_window", window, "(start, end)")
            spec["training_window"] = (window[0], window[1])
        for name in ("params", "metrics", "tags"):
            value = spec.get(name) or {}
            if not isinstance(value, Mapping):
                raise ParameterError(f"lineage.{name}", value, "a mapping of names to values")
            spec[name] = dict(value)
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in spec["metrics"].values()):
            raise ParameterError("lineage.metrics", spec["metrics"], "a mapping of names to numbers")
        return cls(**spec)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored with the version (the reference as its name, set when it is stored)."""
        out: dict[str, Any] = {
            "params": dict(self.params),
            "metrics": {k: float(v) for k, v in self.metrics.items()},
            "tags": {str(k): v for k, v in self.tags.items()},
        }
        if self.training_window is not None:
            out["training_window"] = [t.isoformat() for t in self.training_window]
        if self.data_fingerprint is not None:
            out["data_fingerprint"] = str(self.data_fingerprint)
        if self.code_version is not None:
            out["code_version"] = str(self.code_version)
        return out
