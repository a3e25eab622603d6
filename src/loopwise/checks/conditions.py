"""Conditions: small frozen callables behind readable factories (``lt(0.2)``, ``between(0, 1)``).

A threshold may be a number or relative to the reference's value of the same
metric: ``Reference(absolute=-0.05)`` is the reference's value minus 0.05,
``Reference(relative=0.1)`` the reference's value times 1.1.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loopwise.errors import NotComputableError, ParameterError


@dataclass(frozen=True)
class Reference:
    """A threshold relative to the reference's value of the checked metric."""

    relative: float | None = None
    absolute: float | None = None

    def __post_init__(self) -> None:
        if (self.relative is None) == (self.absolute is None):
            raise ParameterError(
                "Reference", (self.relative, self.absolute), "exactly one of relative= or absolute="
            )

    def resolve(self, reference_value: float | None) -> float:
        if reference_value is None or (isinstance(reference_value, float) and math.isnan(reference_value)):
            raise NotComputableError(
                "the condition is relative to the reference, and the reference has no value"
            )
        if self.absolute is not None:
            return reference_value + self.absolute
        assert self.relative is not None
        return reference_value * (1 + self.relative)

    def __repr__(self) -> str:
        if self.absolute is not None:
            return f"reference {self.absolute:+g}"
        return f"reference x {1 + (self.relative or 0):g}"


_OPS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "lt": (operator.lt, "<"),
    "le": (operator.le, "<="),
    "gt": (operator.gt, ">"),
    "ge": (operator.ge, ">="),
}


@dataclass(frozen=True)
class Condition:
    """``actual <op> threshold`` (or ``lo <= actual <= hi`` for between, ``|actual - x| <= tol`` for eq)."""

    op: str
    threshold: float | Reference | tuple[float | Reference, float | Reference]
    tolerance: float = 1e-9

    @property
    def needs_reference(self) -> bool:
        t = self.threshold
        return isinstance(t, Reference) or (isinstance(t, tuple) and any(isinstance(x, Reference) for x in t))

    def resolve(self, reference_value: float | None = None) -> float | tuple[float, float]:
        def one(x: float | Reference) -> float:
            return x.resolve(reference_value) if isinstance(x, Reference) else float(x)

        if isinstance(self.threshold, tuple):
            return (one(self.threshold[0]), one(self.threshold[1]))
        return one(self.threshold)

    def __call__(self, actual: float, reference_value: float | None = None) -> bool:
        t = self.resolve(reference_value)
        if isinstance(t, tuple):
            return t[0] <= actual <= t[1]
        if self.op == "eq":
            return abs(actual - t) <= self.tolerance
        return _OPS[self.op][0](actual, t)

    def describe(self, reference_value: float | None = None) -> str:
        """The condition with its threshold resolved, e.g. ``<= 0.85 (reference -0.05)``; a fixed
        threshold reads as in ``text`` (``>= 500``)."""
        if not self.needs_reference:
            return self.text
        try:
            t = self.resolve(reference_value)
        except LookupError:
            return self.text
        rel = f" ({self._threshold_text()})"
        if isinstance(t, tuple):
            return f"between {t[0]:.6g} and {t[1]:.6g}{rel}"
        return f"{self._symbol} {t:.6g}{rel}"

    @property
    def text(self) -> str:
        """The condition as titles, reports, alerts and the CLI spell it: ``>= 500``, ``< 0.2``, ``== 0``,
        ``between 0 and 1``, ``>= reference -0.02``, ``<= reference x 1.1``."""
        if self.op == "between":
            return f"between {self._threshold_text()}"
        return f"{self._symbol} {self._threshold_text()}"

    @property
    def _symbol(self) -> str:
        return "==" if self.op == "eq" else _OPS[self.op][1]

    def _threshold_text(self) -> str:
        t = self.threshold
        if isinstance(t, tuple):
            return f"{_num(t[0])} and {_num(t[1])}"
        return _num(t)

    def __repr__(self) -> str:
        if isinstance(self.threshold, tuple):
            return f"between({self.threshold[0]!r}, {self.threshold[1]!r})"
        return f"{self.op}({self.threshold!r})"

    def to_dict(self) -> dict[str, Any]:
        def enc(x: float | Reference) -> Any:
            if isinstance(x, Reference):
                return {
                    "reference": {"absolute": x.absolute}
                    if x.absolute is not None
                    else {"relative": x.relative}
                }
            return x

        if isinstance(self.threshold, tuple):
            return {"between": [enc(self.threshold[0]), enc(self.threshold[1])]}
        return {self.op: enc(self.threshold)}


def _num(x: float | Reference) -> str:
    """A threshold as written: 500.0 reads ``500``, 0.005 ``0.005`` (every digit kept), a Reference as its
    repr (``reference -0.02``)."""
    return repr(x) if isinstance(x, Reference) else f"{x:.15g}"


def _check(name: str, value: Any) -> float | Reference:
    if isinstance(value, Reference):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ParameterError(name, value, "a number or a Reference(...)")
    return float(value)


def lt(value: float | Reference) -> Condition:
    """Passes when the metric is below ``value``. Example: ``lt(0.2)``."""
    return Condition("lt", _check("lt", value))


def le(value: float | Reference) -> Condition:
    return Condition("le", _check("le", value))


def gt(value: float | Reference) -> Condition:
    return Condition("gt", _check("gt", value))


def ge(value: float | Reference) -> Condition:
    """Passes when the metric is at least ``value``. Example: ``ge(Reference(absolute=-0.02))``."""
    return Condition("ge", _check("ge", value))


def eq(value: float | Reference, tolerance: float = 1e-9) -> Condition:
    return Condition("eq", _check("eq", value), tolerance)


def between(low: float | Reference, high: float | Reference) -> Condition:
    return Condition("between", (_check("between", low), _check("between", high)))


FACTORIES: dict[str, Callable[..., Condition]] = {
    "lt": lt,
    "le": le,
    "gt": gt,
    "ge": ge,
    "eq": eq,
    "between": between,
}


def from_spec(spec: Any, where: str) -> Condition:
    """A condition from YAML: ``{lt: 0.2}``, ``{between: [0, 1]}``, ``{ge: {reference: {absolute: -1}}}``."""
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ParameterError(f"{where}.condition", spec, f"a mapping with one of {', '.join(FACTORIES)}")
    ((op, raw),) = spec.items()
    if op not in FACTORIES:
        raise ParameterError(f"{where}.condition", op, f"one of {', '.join(FACTORIES)}")

    def value(x: Any) -> float | Reference:
        if isinstance(x, dict):
            ref = x.get("reference")
            if (
                set(x) != {"reference"}
                or not isinstance(ref, dict)
                or len(ref) != 1
                or next(iter(ref)) not in ("relative", "absolute")
            ):
                raise ParameterError(
                    f"{where}.condition.{op}",
                    x,
                    "a number or {reference: {relative: R}} / {reference: {absolute: A}}",
                )
            return Reference(**{k: float(v) for k, v in ref.items()})
        return _check(f"{where}.condition.{op}", x)

    if op == "between":
        if not isinstance(raw, list) or len(raw) != 2:
            raise ParameterError(f"{where}.condition.between", raw, "a list [low, high]")
        return between(value(raw[0]), value(raw[1]))
    return FACTORIES[op](value(raw))
