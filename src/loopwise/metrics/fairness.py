"""Fairness across the groups of a segment column (or the intersection of two), from task profiles.

Per group: selection rate, accuracy, TPR, FPR and FNR with Wilson intervals and
counts; across groups: demographic parity, equalized odds and equal
opportunity, as differences and ratios, named as in fairlearn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopwise.errors import DataError, EmptyDataError, ParameterError, did_you_mean
from loopwise.metrics.performance import MetricResult, positive_label
from loopwise.metrics.result import _clean
from loopwise.metrics.stability import wilson
from loopwise.profiles import Profile
from loopwise.profiles.canonical import canonical
from loopwise.profiles.profile import empty_task
from loopwise.profiles.task import ClassificationProfile, grouped_classification
from loopwise.schema import DataLike, Role, Schema, to_table
from loopwise.schema.inference import missing_outputs_message

#: A group with fewer rows (or fewer positives, for TPR/FNR) than this is too small to judge.
MIN_GROUP = 30
AGGREGATES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "equal_opportunity_difference",
    "equal_opportunity_ratio",
)


@dataclass(frozen=True)
class GroupRates:
    """One group's counts and rates (each rate with a Wilson interval)."""

    group: str
    n: int
    n_labeled: int
    positives: int
    rates: dict[str, tuple[float | None, float | None, float | None]]
    too_small: bool

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _clean(
            {
                "group": self.group,
                "n": self.n,
                "n_labeled": self.n_labeled,
                "positives": self.positives,
                "too_small": self.too_small,
                **{k: {"value": v[0], "ci_low": v[1], "ci_high": v[2]} for k, v in self.rates.items()},
            }
        )
        return out


@dataclass(frozen=True)
class FairnessResult:
    """The groups of one segment and the fairness metrics across them."""

    segment: str
    positive: str
    groups: list[GroupRates]
    metrics: dict[str, MetricResult] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> MetricResult:
        return self.metrics[name]

    def _repr_html_(self) -> str:
        from loopwise._display import block, interval, table

        names = list(self.groups[0].rates) if self.groups else []
        groups = table(
            ["group", "rows", "labelled", "positives", *names],
            [
                [g.group + (" (few rows)" if g.too_small else ""), g.n, g.n_labeled, g.positives]
                + [interval(*g.rates[k]) for k in names]
                for g in self.groups
            ],
        )
        metrics = table(
            ["metric", "value"],
            [(m.metric, interval(m.value, m.ci_low, m.ci_high)) for m in self.metrics.values()],
        )
        return block(
            f"Fairness across {self.segment}",
            groups,
            metrics,
            subtitle=f"positive class {self.positive}; rates with Wilson intervals",
            notes=self.warnings,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "segment": self.segment,
            "positive": self.positive,
            "groups": [g.to_dict() for g in self.groups],
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "warnings": self.warnings,
        }


def _rate(k: int, n: int, confidence: float) -> tuple[float | None, float | None, float | None]:
    if n == 0:
        return (None, None, None)
    lo, hi = wilson(k, n, confidence)
    return (k / n, lo, hi)


def group_rates(group: str, p: ClassificationProfile, positive: str, confidence: float = 0.95) -> GroupRates:
    labels, m = p.matrix()
    i = labels.index(positive) if positive in labels else -1
    tp = int(m[i, i]) if i >= 0 else 0
    fn = int(m[i, :].sum()) - tp if i >= 0 else 0
    fp = int(m[:, i].sum()) - tp if i >= 0 else 0
    total = int(m.sum())
    tn = total - tp - fn - fp
    selected = p.predicted.get(positive, 0)
    rates = {
        "selection_rate": _rate(selected, p.n, confidence),
        "accuracy": _rate(int(np.trace(m)), total, confidence),
        "tpr": _rate(tp, tp + fn, confidence),
        "fpr": _rate(fp, fp + tn, confidence),
        "fnr": _rate(fn, tp + fn, confidence),
    }
    small = p.n < MIN_GROUP or (tp + fn) < MIN_GROUP // 3
    return GroupRates(group, p.n, p.n_labeled, tp + fn, rates, small)


def fairness_from_groups(
    segment: str, groups: dict[str, ClassificationProfile], pos_label: Any = None, confidence: float = 0.95
) -> FairnessResult:
    if not groups:
        raise EmptyDataError(f"segment {segment!r} has no groups")
    whole = ClassificationProfile()
    for g in groups.values():
        whole = whole.merge(g)
    positive = positive_label(whole, pos_label)
    if positive is None:
        raise ParameterError("pos_label", pos_label, f"the positive class, one of {', '.join(whole.labels)}")
    rows = [group_rates(k, g, positive, confidence) for k, g in sorted(groups.items())]
    warnings = [
        f"group {r.group!r} is too small to judge ({r.n} rows, {r.positives} positives)"
        for r in rows
        if r.too_small
    ]
    n_lab = sum(r.n_labeled for r in rows)
    coverage = n_lab / sum(r.n for r in rows) if rows else None

    def spread(rate: str) -> tuple[float | None, float | None, dict[str, Any]]:
        vals = {r.group: r.rates[rate][0] for r in rows if r.rates[rate][0] is not None}
        if len(vals) < 2:
            return None, None, {"by_group": vals}
        hi_g, lo_g = max(vals, key=lambda k: vals[k]), min(vals, key=lambda k: vals[k])  # type: ignore[arg-type,return-value]
        hi, lo = vals[hi_g], vals[lo_g]
        assert hi is not None and lo is not None
        ratio = lo / hi if hi > 0 else (1.0 if lo == hi else 0.0)
        return hi - lo, ratio, {"by_group": vals, "highest": hi_g, "lowest": lo_g}

    def result(name: str, value: float | None, higher: bool, details: dict[str, Any]) -> MetricResult:
        warn = "; ".join(warnings) or None
        if value is None:
            warn = "fewer than two groups with this rate"
        return MetricResult(
            name,
            value,
            None,
            None,
            confidence,
            n_lab,
            coverage,
            higher_is_better=higher,
            method="group rates",
            details={"segment": segment, "positive": positive, **details},
            warning=warn,
        )

    sel_d, sel_r, sel = spread("selection_rate")
    tpr_d, tpr_r, tpr = spread("tpr")
    fpr_d, fpr_r, fpr = spread("fpr")
    eo_d = None if tpr_d is None or fpr_d is None else max(tpr_d, fpr_d)
    eo_r = None if tpr_r is None or fpr_r is None else min(tpr_r, fpr_r)
    metrics = {
        "demographic_parity_difference": result("demographic_parity_difference", sel_d, False, sel),
        "demographic_parity_ratio": result("demographic_parity_ratio", sel_r, True, sel),
        "equalized_odds_difference": result(
            "equalized_odds_difference", eo_d, False, {"tpr": tpr, "fpr": fpr}
        ),
        "equalized_odds_ratio": result("equalized_odds_ratio", eo_r, True, {"tpr": tpr, "fpr": fpr}),
        "equal_opportunity_difference": result("equal_opportunity_difference", tpr_d, False, tpr),
        "equal_opportunity_ratio": result("equal_opportunity_ratio", tpr_r, True, tpr),
    }
    return FairnessResult(segment, positive, rows, metrics, warnings)


def fairness(
    data: DataLike | Profile,
    segment: str | Sequence[str],
    schema: Schema | None = None,
    *,
    pos_label: Any = None,
    confidence: float = 0.95,
) -> FairnessResult:
    """Fairness of a classifier across the groups of ``segment`` (a column, or two for their intersection).

    ``data`` is raw data with prediction and target columns (roles from
    ``schema``, or inferred), or a Profile made with ``segment`` as a segment.
    ``pos_label``: the positive class; by default the schema's ``positive``, else ``true`` or ``1``.

    Example:
        >>> import pandas as pd, loopwise as lw
        >>> df = pd.DataFrame({"prediction": [1, 1, 0, 1, 0, 0], "label": [1, 0, 0, 1, 1, 0],
        ...                    "g": ["a", "a", "a", "b", "b", "b"]})
        >>> r = lw.fairness(df, "g")
        >>> round(r["demographic_parity_difference"].value, 3)
        0.333
    """
    cols = [segment] if isinstance(segment, str) else list(segment)
    if not 1 <= len(cols) <= 2:
        raise ParameterError("segment", segment, "one segment column or a pair of them")
    name = " & ".join(cols)
    if isinstance(data, Profile):
        if len(cols) != 1 or cols[0] not in data.segments:
            raise ParameterError(
                "segment",
                segment,
                f"a segment of the profile ({', '.join(data.segments) or 'none'}); "
                "for an intersection, profile raw data or a combined column",
            )
        by_group = {k: sub.task for k, sub in data.segments[cols[0]].items()}
        tasks = {k: t for k, t in by_group.items() if isinstance(t, ClassificationProfile)}
        if len(tasks) != len(by_group):
            raise DataError("the profile has no classification task (prediction and target roles)")
        positive = pos_label if pos_label is not None else data.schema.positive
        return fairness_from_groups(name, tasks, positive, confidence)
    table = to_table(data)
    for c in cols:
        if c not in table.column_names:
            names = table.column_names
            raise ParameterError(
                "segment", c, f"a column of the data ({', '.join(names)}){did_you_mean(c, names)}"
            )
    declared = schema is not None
    schema = (schema or Schema.infer(table)).resolve(table)
    # Fairness is a classification question: 0/1 integer labels count as classes here.
    if empty_task(schema) is None:
        raise DataError(missing_outputs_message("fairness", list(schema), declared))
    keys = _group_keys(table, cols)
    enc = pc.dictionary_encode(keys)
    idx = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    pred = schema.by_role(Role.PREDICTION)[0].name
    target = schema.by_role(Role.TARGET)[0].name
    groups = grouped_classification(table.column(target), table.column(pred), idx, enc.dictionary.to_pylist())
    positive = pos_label if pos_label is not None else schema.positive  # the schema's, when it declares one
    return fairness_from_groups(name, groups, positive, confidence)


def _group_keys(table: pa.Table, cols: list[str]) -> pa.Array:
    parts = []
    for c in cols:
        uniq = pc.unique(table.column(c)).to_pylist()
        mapping = {v: canonical(v) if v is not None else "(missing)" for v in uniq}
        arr = table.column(c).to_pylist() if len(uniq) > 1000 else None
        if arr is not None:
            parts.append(pa.array([mapping[v] for v in arr]))
        else:
            enc = pc.dictionary_encode(table.column(c).combine_chunks())
            labels = np.array([mapping[v] for v in enc.dictionary.to_pylist()] + ["(missing)"], dtype=object)
            ix = enc.indices.fill_null(len(enc.dictionary)).to_numpy(zero_copy_only=False)
            parts.append(pa.array(labels[ix].tolist()))
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(parts[0], parts[1], " & ")
