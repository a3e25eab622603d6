"""A Check: a metric (by name, with parameters and an optional column or segment), a condition, a severity."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from loopwise.checks.conditions import Condition
from loopwise.errors import ParameterError

SEVERITIES = ("fail", "warn")

_OLD_SPELLING = re.compile(r" (lt|le|gt|ge|eq)\(([^()]*)\)$| between\(([^(),]*), ([^(),]*)\)$")
_SYMBOL = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "=="}


def current_title(name: str) -> str:
    """A check's title as results, incidents, detectors and silences stored before conditions read as they
    do now (``psi[income] lt(0.2)``), in today's spelling (``psi[income] < 0.2``); any other name as it is.
    What was stored then still meets what is computed now: a chart's history, an open incident, a watch.

    Example:
        >>> current_title("rows ge(500.0)"), current_title("auc between(0.5, reference -0.02)")
        ('rows >= 500', 'auc between 0.5 and reference -0.02')
    """
    m = _OLD_SPELLING.search(name)
    if m is None:
        return name
    if m.group(1):
        return f"{name[: m.start()]} {_SYMBOL[m.group(1)]} {_value(m.group(2))}"
    return f"{name[: m.start()]} between {_value(m.group(3))} and {_value(m.group(4))}"


def _value(text: str) -> str:
    try:
        return f"{float(text):.15g}"
    except ValueError:
        return text  # "reference -0.02", "reference x 1.1": spelled as today


@dataclass(frozen=True)
class Check:
    """One condition on one metric.

    Example:
        >>> from loopwise.checks import Check, lt
        >>> Check("psi", lt(0.2), column="income")
        Check(psi[income] < 0.2, severity=fail)
    """

    metric: str
    condition: Condition
    severity: str = "fail"
    column: str | None = None
    segment: str | None = None
    params: dict[str, Any] = field(default_factory=dict, hash=False)
    name: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ParameterError("severity", self.severity, SEVERITIES)

    @property
    def title(self) -> str:
        if self.name:
            return self.name
        where = self.column or self.segment
        params = ", ".join(f"{k}={v}" for k, v in self.params.items())
        target = f"[{where}]" if where else ""
        return f"{self.metric}{target}{f'({params})' if params else ''} {self.condition.text}"

    def __repr__(self) -> str:
        return f"Check({self.title}, severity={self.severity})"


def actual_text(metric: str, actual: float | None, evidence: dict[str, Any] | None = None) -> str:
    """A check's value as every table shows it (its ``actual`` column), labelled where the number is not the
    metric a reader would take it for.

    A non-inferiority or superiority check (``challenger_difference_lower``) is a condition on the
    one-sided lower bound of the improvement, not on the difference ``loopwise versions compare`` shows:
    both are shown, each named, so that the bound is never read as the difference. The difference is
    challenger - champion, as the comparison shows it; for a metric where lower is better the condition
    reads the improvement (its sign turned), and says so. Any other value is its number.

    Example:
        >>> ev = {"difference": 0.0015, "ci_low": -0.014, "ci_high": 0.017, "alpha": 0.05}
        >>> actual_text("challenger_difference_lower", -0.0123, ev)
        'lower bound -0.0123 (one-sided 95%; difference +0.0015)'
        >>> actual_text("challenger_difference_lower", 0.0005, {**ev, "difference": -0.002,
        ...     "higher_is_better": False})
        'lower bound of the improvement +0.0005 (one-sided 95%; difference -0.0020, lower is better)'
        >>> actual_text("challenger_difference", 0.0015, ev), actual_text("psi", 0.0412)
        ('difference +0.0015', '0.0412')
    """
    if actual is None:
        return ""
    ev = evidence or {}
    diff = ev.get("difference")
    if metric not in ("challenger_difference_lower", "challenger_difference") or not isinstance(
        diff, (int, float)
    ):
        return f"{actual:.4g}"
    higher = ev.get("higher_is_better", True) is not False
    if metric == "challenger_difference":
        return (
            f"difference {diff:+.4f}"
            if higher
            else f"improvement {actual:+.4f} (difference {diff:+.4f}, lower is better)"
        )
    alpha = ev.get("alpha")
    level = f"one-sided {1 - float(alpha):.0%}; " if isinstance(alpha, (int, float)) else ""
    if higher:
        return f"lower bound {actual:+.4f} ({level}difference {diff:+.4f})"
    return f"lower bound of the improvement {actual:+.4f} ({level}difference {diff:+.4f}, lower is better)"


@dataclass(frozen=True)
class CheckResult:
    """What running a Check found: status, the value, the threshold it met or missed, and the evidence."""

    check: Check
    status: str
    actual: float | None = None
    reference_value: float | None = None
    condition: str = ""
    message: str = ""
    reason: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def actual_text(self) -> str:
        """The value as tables show it (``actual_text``): a gate's lower bound with the difference beside."""
        return actual_text(self.check.metric, self.actual, self.evidence)

    def to_dict(self) -> dict[str, Any]:
        from loopwise.metrics.result import _clean

        out: dict[str, Any] = _clean(
            {
                "name": self.check.title,
                "metric": self.check.metric,
                "column": self.check.column,
                "segment": self.check.segment,
                "params": self.check.params,
                "severity": self.check.severity,
                "status": self.status,
                "actual": self.actual,
                "actual_text": self.actual_text,
                "reference_value": self.reference_value,
                "condition": self.condition,
                "rule": self.check.condition.to_dict(),
                "message": self.message,
                "reason": self.reason,
                "evidence": self.evidence,
            }
        )
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CheckResult:
        """A result from its ``to_dict`` form (a server's answer), its check rebuilt from ``rule``."""
        from loopwise.checks.conditions import from_spec

        check = Check(
            d["metric"],
            from_spec(d["rule"], d["name"]),
            severity=d.get("severity") or "fail",
            column=d.get("column"),
            segment=d.get("segment"),
            params=d.get("params") or {},
        )
        # A title that is the check's own (in today's spelling, or in the one stored results had before,
        # ``ge(500.0)``) is not a name: the check reads in today's spelling.
        if current_title(d["name"]) != check.title:
            check = replace(check, name=d["name"])
        return cls(
            check,
            d["status"],
            actual=d.get("actual"),
            reference_value=d.get("reference_value"),
            condition=d.get("condition") or "",
            message=d.get("message") or "",
            reason=d.get("reason"),
            evidence=d.get("evidence") or {},
        )
