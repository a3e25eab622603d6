"""A Suite: named Checks, declared in Python or YAML, run on a current (and a reference)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from loopwise._display import count
from loopwise.checks.check import Check, CheckResult, actual_text
from loopwise.checks.conditions import Reference, eq, from_spec, ge, le
from loopwise.checks.evaluate import CATALOG, Context
from loopwise.checks.gate import non_inferior_title
from loopwise.errors import LoopwiseError, NotComputableError, ParameterError, SchemaError, UnknownNameError
from loopwise.profiles import Profile
from loopwise.schema import DataLike, Kind, Role, Schema
from loopwise.schema.yamlfile import load_yaml

CHECK_KEYS = ("metric", "condition", "severity", "column", "segment", "params", "name")
SUITE_KEYS = ("suite", "description", "presets", "checks")
_ORDER = {"pass": 0, "warn": 1, "error": 2, "fail": 3}


@dataclass(frozen=True)
class SuiteResult:
    """Every check's result, and the overall status: fail > error > warn > pass."""

    suite: str
    results: list[CheckResult]
    seconds: float = 0.0
    #: The drift comparison the checks used, if any (for the HTML report). It compares every column of
    #: the data; what the result calls drifted is only what its checks found (``drift_found``).
    comparison: Any = field(default=None, repr=False, compare=False)

    @property
    def status(self) -> str:
        if not self.results:
            return "pass"
        return max((r.status for r in self.results), key=lambda s: _ORDER[s])

    @property
    def counts(self) -> dict[str, int]:
        return {s: sum(r.status == s for r in self.results) for s in ("pass", "warn", "fail", "error")}

    @property
    def drift_found(self) -> list[tuple[str, list[str]]] | None:
        """Each drift check that found drifted columns, by its title, with those columns: a per-column
        drift check that did not pass names its column; ``drift_share`` names the columns it counted.
        None when no drift check was computed. Columns no check looked at are never named, however far
        the comparison behind the checks says they moved (it compares every column, the target too)."""
        found: list[tuple[str, list[str]]] = []
        computed = False
        for r in self.results:
            entry = CATALOG.get(r.check.metric)
            if entry is None or entry.kind != "drift" or r.status == "error":
                continue
            computed = True
            listed = r.evidence.get("drifted_columns") if isinstance(r.evidence, dict) else None
            if isinstance(listed, list):
                columns = [str(c) for c in listed]
            elif r.check.column and r.status != "pass":
                columns = [r.check.column]
            else:
                columns = []
            if columns:
                found.append((r.check.title, columns))
        return found if computed else None

    @property
    def drifted_columns(self) -> list[str] | None:
        """The columns the suite's drift checks found drifted (see ``drift_found``), each once, or None when
        no drift check was computed."""
        found = self.drift_found
        if found is None:
            return None
        return list(dict.fromkeys(c for _, columns in found for c in columns))

    def to_dict(self) -> dict[str, Any]:
        found = self.drift_found
        return {
            "suite": self.suite,
            "status": self.status,
            "counts": self.counts,
            "drifted_columns": self.drifted_columns,
            "drift_found": None if found is None else [{"check": t, "columns": c} for t, c in found],
            "seconds": self.seconds,
            "checks": [r.to_dict() for r in self.results],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SuiteResult:
        """A result from its ``to_dict`` form: what ``model.check`` turns the server's answer into. What
        drifted is read from the checks again (a result stored before it was, named every drifted column
        of the comparison)."""
        return cls(d["suite"], [CheckResult.from_dict(c) for c in d["checks"]], seconds=d.get("seconds", 0.0))

    def __str__(self) -> str:
        """What ``print(result)`` shows: the verdict, the drifted columns, then a line per check, the
        failures first (the dataclass's repr, every evidence dict on one line, stays ``repr``)."""
        c = self.counts
        lines = [
            f"suite {self.suite}: {self.status.upper()} ({c['pass']} passed, {c['warn']} warned, "
            f"{c['fail']} failed, {c['error']} could not be computed; {self.seconds:.2f} s)"
        ]
        drift = self.drift_found
        if drift is not None:
            lines.append("drifted columns: " + (drift_text(drift) or "none"))
        for r in sorted(self.results, key=lambda r: -_ORDER[r.status]):
            found = "" if r.actual is None else f": {r.actual_text}"
            against = f" against {r.condition}" if r.condition else ""
            note = f" ({r.reason})" if r.reason else ""
            lines.append(f"  {r.status:<5} {r.check.title}{found}{against}{note}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from loopwise._display import Safe, block, esc, status, table

        order = {"fail": 0, "error": 1, "warn": 2, "pass": 3}
        rows = [
            (
                status(r.status, r.status == "pass" if r.status != "warn" else None),
                r.check.title,
                r.actual_text,
                r.condition,
                r.reason or "",
            )
            for r in sorted(self.results, key=lambda r: order[r.status])
        ]
        c = self.counts
        head = status(
            f"{self.status.upper()}: {c['pass']} passed, {c['warn']} warned, {c['fail']} failed, "
            f"{c['error']} could not be computed",
            self.status == "pass" if self.status != "warn" else None,
        )
        found = self.drift_found
        line = ""
        if found is not None:
            line = "<div>drifted columns: " + (esc(drift_text(found)) or "none") + "</div>"
        return block(
            f"Suite {self.suite}",
            Safe(f"<div>{head}</div>{line}"),
            table(["status", "check", "actual", "condition", "note"], rows),
            subtitle=f"{count(len(self.results), 'check')} in {self.seconds:.2f} s",
        )


def drift_text(found: list[tuple[str, list[str]]]) -> str:
    """``drift_found`` as one line: ``income, age (drift_share <= 0.3); income (psi[income] < 0.2)``."""
    return "; ".join(f"{', '.join(columns)} ({title})" for title, columns in found)


@dataclass(frozen=True)
class Suite:
    """A named list of Checks.

    Example:
        >>> from loopwise.checks import Suite, Check, ge, le
        >>> s = Suite("gate", [Check("accuracy", ge(0.8)), Check("psi", le(0.2), column="income")])
        >>> [c.title for c in s.checks]
        ['accuracy >= 0.8', 'psi[income] <= 0.2']
    """

    name: str
    checks: list[Check] = field(default_factory=list)
    description: str | None = None
    #: Presets to generate when the suite runs, from the schema it runs with (or the data's own), and
    #: fitted to where it runs: raw data, or a server's window of profiles (see ``preset_suite``).
    presets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for i, c in enumerate(self.checks):
            validate_check(c, f"checks[{i}]")
        for p in self.presets:
            if p not in PRESETS:
                raise UnknownNameError("preset", p, PRESETS)

    def __add__(self, other: Suite) -> Suite:
        presets = tuple(dict.fromkeys(self.presets + other.presets))
        return Suite(self.name, self.checks + other.checks, self.description, presets)

    # -- running ------------------------------------------------------------------------------
    def run(
        self,
        current: DataLike | Profile,
        reference: DataLike | Profile | None = None,
        *,
        schema: Schema | None = None,
        champion: DataLike | None = None,
        challenger: DataLike | None = None,
        labels: DataLike | None = None,
        challenger_latency: dict[str, float] | None = None,
    ) -> SuiteResult:
        """Run every check; a check that cannot be computed is an ``error`` with the reason.

        ``challenger_latency``: the challenger's measured speed (``p50_ms``, ``p99_ms``, ``mean_ms``), for
        ``challenger_latency_ms`` checks."""
        t0 = time.perf_counter()
        ctx = Context(current, reference, schema, champion, challenger, labels, challenger_latency)
        checks = list(self.checks)
        if self.presets:
            where = "window" if isinstance(current, Profile) else "data"
            for p in self.presets:
                checks += not_overridden(preset_suite(p, schema or ctx.current.schema, where).checks, checks)
        results = [run_check(c, ctx) for c in checks]
        comparison = ctx.__dict__.get("comparison")  # only if a check computed it
        return SuiteResult(self.name, results, time.perf_counter() - t0, comparison)

    # -- files --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        checks = []
        for c in self.checks:
            d: dict[str, Any] = {"metric": c.metric, "condition": c.condition.to_dict()}
            for key in ("column", "segment", "name"):
                if getattr(c, key):
                    d[key] = getattr(c, key)
            if c.severity != "fail":
                d["severity"] = c.severity
            if c.params:
                d["params"] = dict(c.params)
            checks.append(d)
        out: dict[str, Any] = {"suite": self.name, "checks": checks}
        if self.presets:
            out["presets"] = list(self.presets)
        if self.description:
            out["description"] = self.description
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, width=110)

    @classmethod
    def from_dict(cls, spec: Any, schema: Schema | None = None) -> Suite:
        """Read a suite; its ``presets`` are generated now from ``schema`` if given, else when it runs."""
        if not isinstance(spec, dict):
            raise SchemaError(
                f"a suite must be a mapping with 'suite' and 'checks'; got {type(spec).__name__}"
            )
        unknown = sorted(set(spec) - set(SUITE_KEYS))
        if unknown:
            raise SchemaError(
                f"unknown {'key' if len(unknown) == 1 else 'keys'} {', '.join(map(repr, unknown))} in the "
                f"suite; valid keys: {', '.join(SUITE_KEYS)}"
            )
        name = spec.get("suite")
        if not isinstance(name, str) or not name:
            raise SchemaError("the suite needs a name: 'suite: my-gate'")
        generated: list[Check] = []
        presets = spec.get("presets") or []
        if not isinstance(presets, list) or not all(isinstance(p, str) for p in presets):
            raise SchemaError(f"'presets' must be a list of preset names ({', '.join(PRESETS)})")
        deferred: list[str] = []
        for preset in presets:
            if schema is None:
                if preset not in PRESETS:
                    raise UnknownNameError("preset", preset, PRESETS)
                deferred.append(preset)
            else:
                generated.extend(preset_suite(preset, schema).checks)
        raw = spec.get("checks") or []
        if not isinstance(raw, list):
            raise SchemaError("'checks' must be a list of checks")
        explicit = [_check_from_dict(item, f"checks[{i}]") for i, item in enumerate(raw)]
        checks = not_overridden(generated, explicit) + explicit
        if not checks and not deferred:
            raise SchemaError("the suite has no checks (give 'checks' or 'presets')")
        return cls(name, checks, spec.get("description"), tuple(deferred))

    @classmethod
    def from_yaml(cls, text_or_path: str | Path, schema: Schema | None = None) -> Suite:
        spec = load_yaml(text_or_path, "suite")
        return cls.from_dict(spec, schema)


def not_overridden(preset_checks: Iterable[Check], explicit: Iterable[Check]) -> list[Check]:
    """The preset's checks that measure nothing an explicit check measures (same metric, column, segment
    and parameters): a suite's own check states the condition the team wants, and two results for one
    measurement would read as two findings."""

    def key(c: Check) -> tuple[str, str | None, str | None, str]:
        return (c.metric, c.column, c.segment, json.dumps(c.params, sort_keys=True, default=str))

    taken = {key(c) for c in explicit}
    return [c for c in preset_checks if key(c) not in taken]


def _check_from_dict(item: Any, where: str) -> Check:
    if not isinstance(item, dict):
        raise SchemaError(f"{where} must be a mapping with 'metric' and 'condition'")
    unknown = sorted(set(item) - set(CHECK_KEYS))
    if unknown:
        raise SchemaError(
            f"{where}: unknown {'key' if len(unknown) == 1 else 'keys'} {', '.join(map(repr, unknown))}; "
            f"valid keys: {', '.join(CHECK_KEYS)}"
        )
    for key in ("metric", "condition"):
        if key not in item:
            raise SchemaError(f"{where}: '{key}' is required")
    for key in ("column", "segment", "name"):  # a list or a number here reached the server as a 500
        value = item.get(key)
        if value is not None and not isinstance(value, str):
            raise SchemaError(f"{where}: '{key}' must be text (a name; quote a number); got {value!r}"[:300])
    params = item.get("params")
    if params is not None and not isinstance(params, dict):
        raise SchemaError(
            f"{where}: 'params' must be a mapping of names to values; got {type(params).__name__}"
        )
    for name, value in (params or {}).items():
        if not all(v is None or isinstance(v, (str, int, float)) for v in _scalars(value)):
            raise SchemaError(
                f"{where}: params.{name} must be a number, a string, true/false, null or a list of those; "
                f"got {value!r}"[:300]
            )
    try:
        condition = from_spec(item["condition"], where)
        return Check(
            metric=str(item["metric"]),
            condition=condition,
            severity=item.get("severity", "fail"),
            column=item.get("column"),
            segment=item.get("segment"),
            params=dict(item.get("params") or {}),
            name=item.get("name"),
        )
    except ParameterError as exc:
        raise SchemaError(f"{where}: {exc}") from None


def _scalars(value: Any) -> list[Any]:
    """A parameter's values: a list's items (``columns: [a, b]``), else the value itself."""
    return list(value) if isinstance(value, list) else [value]


def validate_check(c: Check, where: str) -> None:
    entry = CATALOG.get(c.metric)
    if entry is None:
        raise UnknownNameError(f"metric in {where}", c.metric, CATALOG)
    if entry.scope == "column" and not c.column:
        raise SchemaError(f"{where}: metric {c.metric!r} is per column; give 'column'")
    if entry.scope == "segment" and not c.segment:
        raise SchemaError(f"{where}: metric {c.metric!r} compares groups; give 'segment'")
    if c.condition.needs_reference and not entry.on_reference:
        raise SchemaError(
            f"{where}: metric {c.metric!r} has no value on the reference, so its condition "
            "cannot be relative to the reference"
        )


def run_check(c: Check, ctx: Context) -> CheckResult:
    entry = CATALOG[c.metric]
    try:
        actual, evidence = entry.fn(ctx, c, "current")
        ref_value = entry.fn(ctx, c, "reference")[0] if c.condition.needs_reference else None
        if actual is None:
            raise NotComputableError("no value")
        desc = c.condition.describe(ref_value)
        ok = c.condition(actual, ref_value)
    except LoopwiseError as exc:
        # Only what the tree names (data that cannot answer, a bad parameter, a name not registered) makes
        # a check "error"; anything else is a bug, and a gate must not pass or fail on it silently.
        return CheckResult(
            c,
            "error",
            condition=c.condition.text,
            reason=str(exc),
            message=f"{c.title}: cannot be computed: {exc}",
        )
    status = "pass" if ok else c.severity
    where = f" [{c.column or c.segment}]" if (c.column or c.segment) else ""
    verdict = "meets" if ok else "does not meet"
    # A gate's bound is named, with the difference beside it; any other value is its number.
    gated = c.metric.startswith("challenger_difference")
    shown = actual_text(c.metric, actual, evidence) if gated else f"{actual:.6g}"
    message = f"{c.metric}{where} = {shown} {verdict} {desc}"
    drifted = evidence.get("drifted_columns") if isinstance(evidence, dict) else None
    if isinstance(drifted, list):
        # "By how much" is the value; "which" is what a reader acts on.
        message += f"; drifted: {', '.join(map(str, drifted))}" if drifted else "; no column drifted"
    return CheckResult(c, status, float(actual), ref_value, desc, message, None, evidence)


# -- presets ----------------------------------------------------------------------------------------
PRESETS = ("data_drift", "data_quality", "classification", "regression", "fairness", "challenger_gate")


#: Where a suite runs: on raw data (offline, CI), or on a window of a served model's stored profiles.
WHERE = ("data", "window")


def preset_suite(name: str, schema: Schema, where: str = "data") -> Suite:
    """A Suite generated from a Schema; see docs/checks.md for what each preset checks.

    ``where="window"`` fits it to a served model's windows: labels arrive after their predictions, so a
    target's missing rate says how many labels are still to come, not a data problem, and duplicate rows
    cannot be counted from profiles; those checks are left out.
    """
    if name not in PRESETS:
        raise UnknownNameError("preset", name, PRESETS)
    if where not in WHERE:
        raise ParameterError("where", where, WHERE)
    window = where == "window"
    compared = [
        c
        for c in schema
        if c.role in (Role.FEATURE, Role.PREDICTION, Role.SCORE, Role.SEGMENT) and c.kind is not Kind.DATETIME
    ]
    checks: list[Check] = []
    if name == "data_drift":
        checks = [
            Check("drifted", eq(0), column=c.name, severity="warn" if c.role is Role.SEGMENT else "fail")
            for c in compared
        ]
        checks.append(Check("drift_share", le(0.3)))
    elif name == "data_quality":
        for c in schema:
            if c.role in (Role.ID, Role.TIMESTAMP) or (window and c.role is Role.TARGET):
                continue
            checks.append(Check("missing_rate", le(Reference(absolute=0.05)), column=c.name))
            if c.kind is Kind.NUMERIC:
                checks.append(Check("out_of_range_share", le(0.01), column=c.name, severity="warn"))
            if c.kind is Kind.CATEGORICAL:
                checks.append(Check("new_category_share", le(0.01), column=c.name, severity="warn"))
        if not window:
            checks.append(Check("duplicate_share", le(0.05), severity="warn"))
    elif name == "classification":
        checks = [
            Check("accuracy", ge(Reference(absolute=-0.02))),
            Check("f1", ge(Reference(absolute=-0.03))),
        ]
        if schema.by_role(Role.SCORE):
            checks += [
                Check("roc_auc", ge(Reference(absolute=-0.02))),
                Check("expected_calibration_error", le(0.05), severity="warn"),
            ]
    elif name == "regression":
        checks = [
            Check("mae", le(Reference(relative=0.1))),
            Check("rmse", le(Reference(relative=0.1))),
            Check("r2", ge(Reference(absolute=-0.05)), severity="warn"),
        ]
    elif name == "fairness":
        for c in schema.by_role(Role.SEGMENT):
            checks += [
                Check("demographic_parity_difference", le(0.1), segment=c.name),
                Check("equalized_odds_difference", le(0.1), segment=c.name, severity="warn"),
            ]
    elif name == "challenger_gate":
        checks = [
            Check(
                "challenger_difference_lower",
                ge(-0.005),
                params={"metric": "accuracy"},
                name=non_inferior_title("accuracy", 0.005),
            )
        ]
        if schema.by_role(Role.SCORE):
            checks.append(
                Check(
                    "challenger_difference_lower",
                    ge(-0.005),
                    params={"metric": "roc_auc"},
                    name=non_inferior_title("roc_auc", 0.005),
                )
            )
    return Suite(name, checks)


def presets(names: Iterable[str], schema: Schema | None = None, where: str = "data") -> Suite:
    """The named presets as one Suite: generated now from ``schema``, or, without one, when it runs."""
    names = list(names)
    if schema is None:
        return Suite("+".join(names), [], presets=tuple(names))
    out = Suite("+".join(names), [])
    for n in names:
        out = out + preset_suite(n, schema, where)
    return out
