"""Checks and Suites: conditions on metrics that gate monitoring windows and CI/CD."""

from loopwise.checks.check import Check, CheckResult, current_title
from loopwise.checks.conditions import Condition, Reference, between, eq, ge, gt, le, lt
from loopwise.checks.evaluate import CATALOG
from loopwise.checks.gate import fairness_budget, latency_budget, non_inferior, superior
from loopwise.checks.reporters import to_json, to_junit, to_markdown
from loopwise.checks.suite import PRESETS, Suite, SuiteResult, preset_suite, presets

__all__ = [
    "CATALOG",
    "PRESETS",
    "Check",
    "CheckResult",
    "Condition",
    "Reference",
    "Suite",
    "SuiteResult",
    "between",
    "current_title",
    "eq",
    "fairness_budget",
    "ge",
    "gt",
    "latency_budget",
    "le",
    "lt",
    "non_inferior",
    "preset_suite",
    "presets",
    "superior",
    "to_json",
    "to_junit",
    "to_markdown",
]
