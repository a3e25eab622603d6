"""The gate: a Suite with challenger conditions, run on a window's paired events (the champion's served
outputs and the challenger's replayed or shadow ones) and their labels; each run is stored as a GateResult
and appended to the audit chain (decision 0027).

A gate's status is ``pass``, ``fail`` or ``inconclusive``. A test of the difference between the versions
that does not pass is a failure when the data show it (the interval lies wholly on the failing side of the
threshold) or when the sample could have shown the effect that matters (its minimum detectable effect at
80% power is no larger); otherwise it is inconclusive, with the labels it needs (n * (mde / effect)^2, as
``compare_versions`` says). A test that passes on a sample whose minimum detectable effect is larger than
the margin (or ``min_effect``) is inconclusive too: a gate is run again as labels arrive, and a pass counts
only once the sample could have shown a loss that matters (decision 0032). Any other failing check fails
the gate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from loopwise._display import count
from loopwise.checks import Check, Suite, SuiteResult
from loopwise.checks.check import actual_text
from loopwise.checks.conditions import Condition
from loopwise.checks.evaluate import CATALOG
from loopwise.checks.gate import TESTED
from loopwise.errors import NotComputableError, NotFoundError, ParameterError
from loopwise.ingest import get_model, get_reference
from loopwise.registry.audit import append, gate_record, record_digest
from loopwise.registry.comparison import Paired, labels_needed, nothing_paired, pair
from loopwise.registry.values import Values
from loopwise.registry.versions import describe, reference_name
from loopwise.schema import Column, Kind, Role, Schema
from loopwise.store import transaction
from loopwise.store.tables import AuditEntry
from loopwise.store.tables import GateResult as GateRow

STATUSES = ("pass", "fail", "inconclusive")
#: Column names of the gate's own tables (the model's own names for prediction, score, segments, features).
EVENT_ID, LABEL = "_event_id", "_label"


@dataclass(frozen=True)
class GateResult:
    """One run of a gate: its inputs (window, versions, paired and labelled events, the evaluation it read)
    and every check's outcome (``checks``: the SuiteResult as JSON), the tested comparisons, and the status.
    """

    id: int
    model: str
    version: str
    champion: str
    status: str
    verdict: str
    needed: int | None
    inputs: dict[str, Any]
    checks: dict[str, Any]
    comparisons: list[dict[str, Any]]
    suite: dict[str, Any]
    actor: str
    created_at: dt.datetime

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["created_at"] = self.created_at.isoformat()
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GateResult:
        at = d["created_at"]
        return cls(**{**d, "created_at": dt.datetime.fromisoformat(at) if isinstance(at, str) else at})

    def suite_result(self) -> SuiteResult:
        """The checks as a SuiteResult again (for the reporters: JUnit, Markdown, HTML)."""
        from loopwise.checks.check import CheckResult
        from loopwise.checks.suite import _check_from_dict

        results = []
        for d in self.checks.get("checks", []):
            spec = {k: d[k] for k in ("metric", "params", "severity") if d.get(k) is not None}
            cond = d.get("condition_spec") or {"ge": 0}
            check = _check_from_dict(
                {
                    **spec,
                    "condition": cond,
                    "name": d["name"],
                    "column": d.get("column"),
                    "segment": d.get("segment"),
                },
                "gate",
            )
            results.append(
                CheckResult(
                    check,
                    d["status"],
                    d.get("actual"),
                    d.get("reference_value"),
                    d.get("condition") or "",
                    d.get("message") or "",
                    d.get("reason"),
                    d.get("evidence") or {},
                )
            )
        return SuiteResult(self.checks.get("suite", "gate"), results, float(self.checks.get("seconds", 0.0)))


def as_suite(suite: Suite | dict[str, Any] | str | None, schema: Schema) -> Suite:
    """A Suite from a Suite, its dict, or YAML text; None is the ``challenger_gate`` preset."""
    from loopwise.checks import preset_suite
    from loopwise.schema.yamlfile import load_yaml_text

    if suite is None:
        return preset_suite("challenger_gate", schema)
    if isinstance(suite, Suite):
        return suite
    if isinstance(suite, str):
        return Suite.from_dict(load_yaml_text(suite, "suite"), schema)
    if isinstance(suite, dict):
        return Suite.from_dict(suite, schema)
    raise ParameterError("suite", type(suite).__name__, "a Suite, a dict or YAML text")


def _needs_data(suite: Suite) -> bool:
    return any(CATALOG[c.metric].kind in ("drift", "quality") for c in suite.checks)


def gate_tables(p: Paired, features: list[str]) -> tuple[Schema, pa.Table, pa.Table, pa.Table, pa.Table]:
    """The gate's schema and tables: ``current`` (every paired event: features, segments, the challenger's
    prediction and score, and the label, null where none came: a gate's other checks, a performance floor
    or a drift check, are about the version it gates), and the champion's, the challenger's and the labels'
    tables of the labelled events, row for row. The score column holds the probability of ``p.positive``
    and says so (its ``label``), so every score-based check reads the declared positive class."""
    schema = p.schema
    pred = schema.by_role(Role.PREDICTION)[0]
    scores = schema.by_role(Role.SCORE)
    score = scores[0].name if len(scores) == 1 else None
    segments = list(schema.by_role(Role.SEGMENT))
    labelled = pa.array(p.labelled())
    ids = p.ids
    y = _arrow(p.labels)
    kind = pred.kind if pred.kind is not None else Kind.CATEGORICAL
    cols = [Column(EVENT_ID, Role.ID), Column(pred.name, Role.PREDICTION, kind)]
    cols += [Column(score, Role.SCORE, Kind.NUMERIC, label=p.positive)] if score else []
    cols += [Column(LABEL, Role.TARGET, kind)]
    cols += [Column(c.name, Role.SEGMENT, c.kind) for c in segments]
    cols += [schema[f] for f in features]
    gate_schema = Schema(tuple(cols), task=schema.task, positive=schema.positive)

    def outputs(preds: Values, sc: pa.Array) -> pa.Table:
        data: dict[str, Any] = {EVENT_ID: ids, pred.name: _arrow(preds)}
        if score:
            data[score] = sc
        return pa.table(data).take(labelled)

    champion = outputs(p.champion_predictions, p.champion_scores)
    challenger = outputs(p.challenger_predictions, p.challenger_scores)
    labels = {EVENT_ID: ids, LABEL: y}
    for c in segments:
        labels[c.name] = p.table.column(c.name) if c.name in p.table.column_names else pa.nulls(len(p))
    label_table = pa.table(labels)
    current = label_table.append_column(pred.name, _arrow(p.challenger_predictions))
    if score and p.positive is not None:  # a score of no known class cannot be read as one
        current = current.append_column(score, p.challenger_scores)
    for f in features:
        if f in p.table.column_names:
            current = current.append_column(f, p.table.column(f))
    return gate_schema, current, champion, challenger, label_table.take(labelled)


def _arrow(values: Values) -> pa.Array:
    """A column as Arrow: values of mixed kinds are given to ``pa.array`` as the lists were (and refused
    as they were)."""
    return pa.array(values.tolist()) if isinstance(values, np.ndarray) else values


def judge(result: SuiteResult, labels: int) -> tuple[str, str, int | None]:
    """The gate's status, verdict and the labels it needs (inconclusive only): see the module's doc."""
    hard: list[str] = []
    needed: list[int] = []
    for r in result.results:
        if r.status in ("pass", "warn"):
            short = _underpowered(r.check, r.evidence, r.actual) if r.check.metric in TESTED else None
            if short is not None:
                needed.append(short)  # passed on a sample too small to have shown a loss that matters
            continue
        if r.check.metric in TESTED:
            if labels == 0:
                needed.append(0)
                continue
            more = _labels_needed(r.check, r.evidence)
            if more is not None:
                needed.append(more)
                continue
        if r.actual is None:
            hard.append(f"{r.check.title}: cannot be computed: {r.reason}")
        else:
            hard.append(f"{r.check.title}: {r.actual_text} does not meet {r.condition}")
    if hard:
        return "fail", f"fail: {hard[0]}", None
    if needed:
        if labels == 0:
            return "inconclusive", "inconclusive: 0 labels", None
        m = max(needed)
        return "inconclusive", f"inconclusive: {count(labels, 'label')}, needs about {m}", m
    c = result.counts
    return "pass", f"pass: {count(c['pass'] + c['warn'], 'check')} passed ({c['warn']} warned)", None


def _effect(check: Check) -> float:
    """The effect that matters for ``check``: ``params.min_effect``, else a non-inferiority margin (the
    threshold of ``challenger_difference_lower >= -margin``), else 0 (none declared)."""
    effect = float(check.params.get("min_effect") or 0.0)
    threshold = check.condition.threshold
    if not effect and check.metric == "challenger_difference_lower" and isinstance(threshold, (int, float)):
        effect = max(-float(threshold), 0.0)
    return effect


def _underpowered(check: Check, evidence: dict[str, Any], actual: float | None) -> int | None:
    """The labels a passing tested check needs before its pass counts, or None when it counts now.

    A gate is run again as labels arrive, so a pass on a small sample is the optional-stopping trap (and a
    small sample is where the interval's approximation is weakest: 30 labels both versions got right give
    the interval [0, 0]). A pass stands once the sample could have detected the effect that matters (its
    minimum detectable effect, 80% power, no larger than the margin or ``min_effect``), or when its bound
    clears the threshold by more than that effect (a non-inferiority check whose lower bound is above 0:
    the challenger is shown better, not only not worse). Superiority without ``min_effect`` declares no
    such effect and passes on significance alone."""
    mde, n, effect = evidence.get("minimum_detectable_effect"), evidence.get("n"), _effect(check)
    if mde is None or not n or effect <= 0 or float(mde) <= effect:
        return None
    threshold = check.condition.threshold
    if actual is not None and isinstance(threshold, (int, float)) and actual - float(threshold) > effect:
        return None
    return labels_needed(int(n), float(mde), effect)


def _labels_needed(check: Check, evidence: dict[str, Any]) -> int | None:
    """The labels at which the test could show the effect that matters, when it cannot yet (else None: the
    failure stands).

    A bound condition whose one-sided upper bound is on the failing side too has shown its failure. Else the
    effect that matters is the margin of a non-inferiority condition (``ge(-margin)``), else
    ``params.min_effect``, else the difference observed so far; the sample can show it when its minimum
    detectable effect is no larger."""
    mde, n = evidence.get("minimum_detectable_effect"), evidence.get("n")
    if mde is None or not n:
        return None
    cond: Condition = check.condition
    threshold = cond.threshold if isinstance(cond.threshold, (int, float)) else None
    if threshold is not None and check.metric == "challenger_difference_lower":
        # Shown to fail: even the one-sided upper bound of the improvement is on the failing side.
        from loopwise.metrics.champion import NORMAL  # not scipy.stats: 1.2-1.9 s to import

        alpha = float(evidence.get("alpha", 0.05))
        se = (evidence["ci_high"] - evidence["ci_low"]) / (2 * NORMAL.inv_cdf(1 - alpha / 2))
        sign = 1.0 if evidence.get("higher_is_better", True) else -1.0
        if sign * evidence["difference"] + NORMAL.inv_cdf(1 - alpha) * se <= threshold:
            return None
    effect = _effect(check) or abs(float(evidence.get("difference") or 0.0))
    if effect <= 0 or mde <= effect:
        return None
    return labels_needed(int(n), float(mde), effect)


def run_gate(
    sessions: sessionmaker[Session],
    read_sessions: sessionmaker[Session],
    model_name: str,
    version: str,
    suite: Suite | dict[str, Any] | str | None,
    start: dt.datetime,
    end: dt.datetime,
    *,
    champion: str = "champion",
    actor: str,
) -> GateResult:
    """Run the gate ``suite`` on ``version`` against ``champion`` (a version or an alias) over the window's
    paired events, store the GateResult and append it to the audit chain."""
    with read_sessions() as s:
        model = get_model(s, model_name)
        schema = Schema.from_dict(model.schema_json)
        gate = as_suite(suite, schema)
        describe(s, model_name, version)
        data = _needs_data(gate)
        features = [c.name for c in schema.by_role(Role.FEATURE)] if data else []
        p = pair(s, model_name, champion, version, start, end, features)
        if not len(p):
            raise NotComputableError(nothing_paired(p, start, end))
        evaluation = _latest_evaluation(s, model.id, version)
        reference = _reference(s, model_name, version) if data else None
    gate_schema, current, champ, chall, labels = gate_tables(p, features)
    # All three stats of one-row calls, as the evaluation measured them; the mean was the replay batches'
    # time per row, a thousandth of a one-row call's, so a mean budget always passed (a new-user trial).
    latency = dict(evaluation[1]) if evaluation else {}
    result = gate.run(
        current,
        None if reference is None else reference[1],
        schema=gate_schema,
        champion=champ,
        challenger=chall,
        labels=labels,
        challenger_latency=latency,
    )
    status, verdict, _needed = judge(result, labels.num_rows)
    comparisons = [
        {"check": r.check.title, **r.evidence}
        for r in result.results
        if r.check.metric in TESTED and r.evidence.get("test")
    ]
    checks = result.to_dict()
    for d, c in zip(checks["checks"], result.results, strict=True):
        d["condition_spec"] = c.check.condition.to_dict()  # so that the result can be read back as checks
    inputs = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "champion": p.champion,
        "challenger": p.challenger,
        "paired": len(p),
        "labels": labels.num_rows,
        "evaluation": None if evaluation is None else evaluation[0],
        "reference": reference[0] if reference else None,
        "latency": latency,
    }
    with transaction(sessions) as s:
        row = GateRow(
            model_id=model.id,
            version=p.challenger,
            champion=p.champion,
            status=status,
            verdict=verdict[:500],
            suite=_json(gate.to_dict()),
            inputs=_json(inputs),
            checks=_json(checks),
            comparisons=_json(comparisons),
            actor=actor,
        )
        s.add(row)
        s.flush()
        append(
            s,
            model.id,
            actor,
            "gate.result",
            {
                "gate_result": row.id,
                "version": p.challenger,
                "champion": p.champion,
                "status": status,
                "labels": labels.num_rows,
                "evaluation": inputs["evaluation"],
                "digest": record_digest(gate_record(row)),
            },
        )
        return public(model_name, row)


def _json(value: Any) -> Any:
    """``value`` as JSON reads it back (NumPy numbers as Python ones, NaN and infinities as null), so that
    what is stored, and its digest, are one."""
    import json

    return json.loads(json.dumps(value, default=float), parse_constant=lambda _: None)


def _latest_evaluation(s: Session, model_id: int, version: str) -> tuple[int, dict[str, float]] | None:
    """The version's latest evaluation that measured its speed (its audit entry's id, its one-row latency)."""
    q = (
        select(AuditEntry.id, AuditEntry.detail)
        .where(AuditEntry.model_id == model_id, AuditEntry.action == "version.evaluate")
        .order_by(AuditEntry.id.desc())
        .limit(200)
    )
    for entry_id, detail in s.execute(q):
        # A run that found nothing new to answer measured nothing: the latest one that did counts.
        if (detail or {}).get("version") == version and detail.get("latency"):
            lat = detail["latency"]
            return int(entry_id), {
                k: float(v) for k, v in lat.items() if k in ("p50_ms", "p99_ms", "mean_ms")
            }
    return None


def _reference(s: Session, model_name: str, version: str) -> tuple[str, Any] | None:
    """The reference for a gate's data checks: the challenger's training data, else the model's default."""
    for name in (reference_name(version), "default"):
        try:
            return name, get_reference(s, model_name, name)
        except NotFoundError:
            continue
    return None


def public(model_name: str, row: GateRow) -> GateResult:
    inputs = dict(row.inputs or {})
    needed = None
    if row.status == "inconclusive" and "needs about" in row.verdict:
        needed = int(row.verdict.rsplit(" ", 1)[1])
    return GateResult(
        id=row.id,
        model=model_name,
        version=row.version,
        champion=row.champion,
        status=row.status,
        verdict=row.verdict,
        needed=needed,
        inputs=inputs,
        checks=_checks(row.checks or {}),
        comparisons=list(row.comparisons or []),
        suite=dict(row.suite or {}),
        actor=row.actor,
        created_at=row.created_at,
    )


def _checks(stored: dict[str, Any]) -> dict[str, Any]:
    """The stored checks, each with its ``actual_text`` (a result stored before checks carried it reads as
    one stored since: a gate's lower bound beside the difference)."""
    out = dict(stored)
    out["checks"] = [
        {**c, "actual_text": actual_text(c["metric"], c.get("actual"), c.get("evidence"))}
        for c in stored.get("checks", [])
    ]
    return out


def gate_result(s: Session, model_name: str, gate_id: int) -> GateResult:
    model = get_model(s, model_name)
    row = s.get(GateRow, gate_id)
    if row is None or row.model_id != model.id:
        raise NotFoundError(f"model {model_name!r} has no gate result {gate_id}")
    return public(model_name, row)


def gate_results(s: Session, model_name: str, version: str | None = None) -> list[GateResult]:
    """The model's gate results (of one version), newest first."""
    model = get_model(s, model_name)
    q = select(GateRow).where(GateRow.model_id == model.id)
    if version is not None:
        q = q.where(GateRow.version == version)
    found = [public(model_name, r) for r in s.scalars(q.order_by(GateRow.id.desc()))]
    if not found and version is not None:
        describe(s, model_name, version)  # a version that does not exist is a NotFoundError, not "none yet"
    return found
