"""How each checkable metric is computed: from raw data or profiles, on the current or the reference side.

Every metric a Check may name is in ``CATALOG``: drift (the drift methods'
statistics, ``drifted``, ``drift_share``), data quality, performance (the
performance registry), fairness (fairlearn's names) and challenger metrics.
Work is done lazily and once per run: one comparison, one task profile per side.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from loopwise._display import count
from loopwise.errors import DataError, NotComputableError, ParameterError, did_you_mean
from loopwise.metrics import performance as perf
from loopwise.metrics import registry as drift_registry
from loopwise.metrics.champion import ModelComparison, compare_models
from loopwise.metrics.compare import Comparison, compare_data
from loopwise.metrics.estimation import ESTIMABLE, estimate_performance
from loopwise.metrics.fairness import AGGREGATES, FairnessResult, fairness
from loopwise.metrics.multivariate import MultivariateDrift, multivariate_drift
from loopwise.metrics.quality import duplicate_share
from loopwise.profiles import Profile
from loopwise.profiles.numeric import NumericProfile
from loopwise.profiles.profile import empty_task, update_task
from loopwise.profiles.task import TaskProfile
from loopwise.schema import DataLike, Role, Schema, to_table

Value = tuple[float | None, dict[str, Any]]


@dataclass
class Side:
    """One side (current or reference): raw data or a Profile, with its schema."""

    data: DataLike | Profile
    schema_hint: Schema | None
    name: str

    @cached_property
    def profile(self) -> Profile | None:
        return self.data if isinstance(self.data, Profile) else None

    @cached_property
    def table(self) -> pa.Table | None:
        return None if isinstance(self.data, Profile) else to_table(self.data)

    @cached_property
    def schema(self) -> Schema:
        if self.profile is not None:
            return self.profile.schema
        assert self.table is not None
        return (self.schema_hint or Schema.infer(self.table)).resolve(self.table)

    @cached_property
    def task(self) -> TaskProfile:
        if self.profile is not None:
            if self.profile.task is None:
                raise NotComputableError(f"the {self.name} profile has no task (prediction and target roles)")
            return self.profile.task
        task = empty_task(self.schema)
        if task is None:
            raise NotComputableError(f"the {self.name} data has no prediction and target in its schema")
        assert self.table is not None
        update_task(task, self.schema, self.table)
        return task

    def missing_rate(self, column: str) -> float:
        if self.profile is not None:
            col = self.profile.columns.get(column)
            if col is None:
                raise NotComputableError(f"column {column!r} is not in the {self.name} profile")
            extra = col.nan if isinstance(col, NumericProfile) else 0
            return (col.missing + extra) / col.n if col.n else float("nan")
        assert self.table is not None
        if column not in self.table.column_names:
            raise NotComputableError(f"column {column!r} is not in the {self.name} data")
        arr = self.table.column(column)
        nulls = arr.null_count
        if pa.types.is_floating(arr.type):
            nulls += int(pc.sum(pc.is_nan(arr)).as_py() or 0)
        return nulls / len(arr) if len(arr) else float("nan")

    @property
    def n(self) -> int:
        return self.profile.n if self.profile is not None else int(self.table.num_rows)  # type: ignore[union-attr]


class Context:
    """Everything a Suite's checks are computed from."""

    def __init__(
        self,
        current: DataLike | Profile,
        reference: DataLike | Profile | None = None,
        schema: Schema | None = None,
        champion: DataLike | None = None,
        challenger: DataLike | None = None,
        labels: DataLike | None = None,
        challenger_latency: dict[str, float] | None = None,
    ) -> None:
        self.schema_hint = schema
        #: The challenger's own speed ({"p50_ms", "p99_ms", "mean_ms"}), for latency budgets.
        self.challenger_latency = dict(challenger_latency or {})
        self.current = Side(current, schema, "current")
        self.reference = Side(reference, schema, "reference") if reference is not None else None
        self.champion, self.challenger, self.labels = champion, challenger, labels
        self._fairness: dict[tuple[str, str, str], FairnessResult] = {}
        self._models: dict[tuple[str, str], ModelComparison] = {}
        self.cache: dict[Any, Any] = {}

    def side(self, which: str) -> Side:
        if which == "current":
            return self.current
        if self.reference is None:
            raise NotComputableError("the condition is relative to the reference, but no reference was given")
        return self.reference

    @cached_property
    def comparison(self) -> Comparison:
        if self.reference is None:
            raise NotComputableError("drift needs a reference (--reference)")
        return compare_data(self.reference.data, self.current.data, self.schema_hint)

    def column_drift(self, column: str) -> Any:
        try:
            col = self.comparison[column]
        except KeyError:
            hint = did_you_mean(column, [c.name for c in self.comparison.columns])
            raise NotComputableError(
                f"column {column!r} was not compared (not in both datasets){hint}"
            ) from None
        if col.drift is None:
            raise NotComputableError(col.warning or f"column {column!r} could not be compared")
        return col

    def fairness(self, which: str, segment: str, pos_label: Any = None) -> FairnessResult:
        side = self.side(which)
        if pos_label is None:
            pos_label = side.schema.positive
        key = (which, segment, repr(pos_label))
        if key not in self._fairness:
            self._fairness[key] = fairness(
                side.data, segment, side.schema if side.profile is None else None, pos_label=pos_label
            )
        return self._fairness[key]

    def models(self, metric: str, params: dict[str, Any]) -> ModelComparison:
        if self.champion is None or self.challenger is None:
            raise NotComputableError(
                "challenger checks need both models' predictions on the same rows: Suite.run(..., "
                "champion=, challenger=), or loopwise check --champion --challenger"
            )
        key = (repr(metric), repr(sorted(params.items())))
        if key in self._models:
            return self._models[key]
        schema = self.current.schema
        preds, scores = schema.by_role(Role.PREDICTION), schema.by_role(Role.SCORE)
        targets = schema.by_role(Role.TARGET)
        if len(preds) != 1 or len(targets) != 1:
            raise NotComputableError("the schema needs one prediction and one target column")
        champ, chall = to_table(self.champion), to_table(self.challenger)
        lab = to_table(self.labels) if self.labels is not None else self.current.table
        if lab is None:
            raise NotComputableError(
                "challenger checks need labels (labels=, --labels; or raw current data with the target)"
            )
        champ, chall, lab = _align(schema, champ, chall, lab)
        self.cache["aligned"] = (champ, chall, lab)
        for t, what, col in (
            (champ, "champion", preds[0].name),
            (chall, "challenger", preds[0].name),
            (lab, "labels", targets[0].name),
        ):
            if col not in t.column_names:
                raise DataError(f"the {what} data has no column {col!r}")
        kw: dict[str, Any] = {k: v for k, v in params.items() if k in ("margin", "alpha", "pos_label")}
        fits(compare_models, kw, "challenger")
        positive = scored_class(schema) if metric == "roc_auc" else schema.positive
        if kw.get("pos_label") is None and positive is not None and metric in POSITIVE_METRICS:
            # What the schema declares: string labels ("yes"/"no") imply no positive class by themselves.
            kw["pos_label"] = positive
        if metric == "roc_auc":
            if len(scores) != 1:
                raise NotComputableError("roc_auc needs one score column in the schema")
            kw["champion_scores"] = champ.column(scores[0].name)
            kw["challenger_scores"] = chall.column(scores[0].name)
        result = compare_models(
            champ.column(preds[0].name).to_numpy(zero_copy_only=False),
            chall.column(preds[0].name).to_numpy(zero_copy_only=False),
            lab.column(targets[0].name).to_numpy(zero_copy_only=False),
            metric=metric,
            deltas=False,
            **kw,
        )
        self._models[key] = result
        return result


#: The paired metrics that are about one class: the score's class for roc_auc, the positive class for the
#: rest (a binary task's precision, recall and F1 are the positive class's, as ``perf.task_params`` says).
POSITIVE_METRICS = ("roc_auc", "precision", "recall", "f1")


def scored_class(schema: Schema) -> str | None:
    """The class a schema's one score column is the probability of (its ``label``, else the declared
    positive class); None with no score column, several, or neither declared."""
    classes = list(schema.score_classes().values())
    return classes[0] if len(classes) == 1 else None


def _align(schema: Schema, *tables: pa.Table) -> tuple[pa.Table, ...]:
    ids = [c.name for c in schema.by_role(Role.ID)]
    if ids and all(ids[0] in t.column_names for t in tables):
        base = tables[0].column(ids[0])
        out = [tables[0]]
        for t in tables[1:]:
            if t.num_rows == len(base) and t.column(ids[0]).equals(base):
                out.append(t)  # already the same rows in the same order: no join needed
                continue
            pos = pc.index_in(base, value_set=t.column(ids[0]))
            if pos.null_count:
                raise DataError(
                    f"{count(pos.null_count, 'event id')} of the champion "
                    f"{'is' if pos.null_count == 1 else 'are'} missing from another input"
                )
            out.append(t.take(pos))
        return tuple(out)
    n = {t.num_rows for t in tables}
    if len(n) != 1:
        raise DataError(
            f"champion, challenger and labels have {', '.join(str(t.num_rows) for t in tables)} rows; "
            "give them the same rows (or an id column to join on)"
        )
    return tables


def fits(fn: Callable[..., Any], params: dict[str, Any], what: str) -> None:
    """Refuse ``params`` that ``fn`` would refuse with a TypeError, before it runs: a name it does not take
    (unless it takes any), or a value of another type than the parameter's default (numbers for numbers,
    text for text, true/false for flags). What ``fn`` raises after that is its own: a bug is not a check's
    "error"."""
    sig = inspect.signature(fn)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    for name, value in params.items():
        p = sig.parameters.get(name)
        if p is None or p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            if takes_any:
                continue
            valid = [n for n, q in sig.parameters.items() if q.default is not inspect.Parameter.empty]
            raise ParameterError(f"params.{name} of {what}", value, f"one of {', '.join(valid)}")
        default = p.default
        if default is inspect.Parameter.empty or default is None or value is None:
            continue
        if isinstance(default, bool):
            ok, wanted = isinstance(value, bool), "true or false"
        elif isinstance(default, int):
            ok, wanted = isinstance(value, int) and not isinstance(value, bool), "a whole number"
        elif isinstance(default, float):
            ok, wanted = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
        else:
            ok, wanted = isinstance(value, type(default)), f"a {type(default).__name__}"
        if not ok:
            raise ParameterError(f"params.{name} of {what}", value, wanted)


# -- the catalog --------------------------------------------------------------------------------
Fn = Callable[[Context, Any, str], Value]


@dataclass(frozen=True)
class Entry:
    scope: str  # "column", "segment" or "dataset"
    kind: str  # drift, quality, performance, fairness, challenger
    fn: Fn
    on_reference: bool = True  # whether the metric has a value on the reference side


def _drift_stat(method: str) -> Fn:
    def fn(ctx: Context, check: Any, which: str) -> Value:
        if which == "reference":
            raise NotComputableError(
                f"{method} compares the current with the reference; it has no reference value"
            )
        col = ctx.column_drift(check.column)
        if method not in col.metrics:
            raise NotComputableError(f"{method} does not apply to {col.kind} column {check.column!r}")
        return col.metrics[method], col.drift.to_dict()

    return fn


def _drifted(ctx: Context, check: Any, which: str) -> Value:
    col = ctx.column_drift(check.column)
    return float(col.drift.drift_detected), col.drift.to_dict()


def _drift_share(ctx: Context, check: Any, which: str) -> Value:
    """The share of the compared feature columns that drifted (the target, prediction, score, segments, ids
    and times are not counted: decision 0059); the columns it counted drifted are its ``drifted_columns``."""
    c = ctx.comparison
    if not c.features:
        roles = sorted({col.role for col in c.compared})
        raise NotComputableError(
            "drift_share is the share of drifted features, and no feature column was compared"
            + (f" (compared: {', '.join(roles)} columns; check each with psi or drifted)" if roles else "")
        )
    return c.drift_share, {
        "drifted_columns": c.drifted_features,
        "n_features_compared": len(c.features),
        "n_columns_compared": len(c.compared),
    }


def _missing_rate(ctx: Context, check: Any, which: str) -> Value:
    side = ctx.side(which)
    return side.missing_rate(check.column), {"n": side.n}


def _quality(attr: str) -> Fn:
    def fn(ctx: Context, check: Any, which: str) -> Value:
        col = (
            ctx.column_drift(check.column) if attr != "missing_rate_change" else ctx.comparison[check.column]
        )
        q = col.quality
        if q is None:
            raise NotComputableError(f"no quality figures for column {check.column!r}")
        v = getattr(q, attr)
        if v is None:
            raise NotComputableError(f"{attr} does not apply to {col.kind} column {check.column!r}")
        return float(v), q.to_dict()

    return fn


def _duplicate_share(ctx: Context, check: Any, which: str) -> Value:
    side = ctx.side(which)
    if side.table is None:
        raise NotComputableError("duplicate_share needs raw data, not a profile")
    return duplicate_share(side.table), {"rows": side.table.num_rows}


def _row_count(ctx: Context, check: Any, which: str) -> Value:
    return float(ctx.side(which).n), {}


def _performance(name: str) -> Fn:
    def fn(ctx: Context, check: Any, which: str) -> Value:
        task = ctx.side(which).task
        fits(perf.get(name)[1], check.params, name)
        r = perf.compute(name, task, ctx.side(which).schema, **check.params)
        if r.value is None:
            raise NotComputableError(r.warning or f"{name} could not be computed")
        return r.value, r.to_dict()

    return fn


def _fairness(name: str) -> Fn:
    def fn(ctx: Context, check: Any, which: str) -> Value:
        f = ctx.fairness(which, check.segment, check.params.get("pos_label"))
        r = f[name]
        if r.value is None:
            raise NotComputableError(r.warning or f"{name} could not be computed")
        return r.value, {**r.to_dict(), "groups": [g.to_dict() for g in f.groups]}

    return fn


def _challenger(what: str) -> Fn:
    def fn(ctx: Context, check: Any, which: str) -> Value:
        if which == "reference":
            raise NotComputableError("challenger metrics have no reference value")
        params = dict(check.params)
        metric = params.pop("metric", "accuracy")
        r = ctx.models(metric, params)
        sign = 1.0 if r.higher_is_better else -1.0
        if what == "difference":
            value = sign * r.difference
        elif what == "lower":
            # One-sided (1 - alpha) lower bound of the improvement (positive = challenger better).
            from loopwise.metrics.champion import NORMAL  # not scipy.stats: 1.2-1.9 s to import

            se = (r.ci_high - r.ci_low) / (2 * NORMAL.inv_cdf(1 - r.alpha / 2))
            value = sign * r.difference - NORMAL.inv_cdf(1 - r.alpha) * se
        else:
            value = r.p_value
        return float(value), r.to_dict()

    return fn


def _segment_change(ctx: Context, check: Any, which: str) -> Value:
    """The worst change of a metric within a segment's groups (challenger - champion, signed so that
    negative is worse): a fairness budget is ``ge(-budget)``. Groups with fewer than ``min_n`` labelled
    rows (default 30) are left out, and listed."""
    if which == "reference":
        raise NotComputableError("challenger metrics have no reference value")
    params = dict(check.params)
    metric = str(params.pop("metric", "accuracy"))
    min_n = int(params.pop("min_n", 30))
    if params:
        raise ParameterError(f"params of {check.metric}", sorted(params), "metric, min_n")
    if metric not in ("accuracy", "mae"):
        raise ParameterError(f"params.metric of {check.metric}", metric, "accuracy or mae")
    ctx.models("accuracy" if metric == "accuracy" else "mae", {})  # the same checks on the inputs
    champ, chall, lab = ctx.cache["aligned"]
    schema = ctx.current.schema
    pred, target = schema.by_role(Role.PREDICTION)[0].name, schema.by_role(Role.TARGET)[0].name
    if check.segment not in lab.column_names:
        raise NotComputableError(f"the labelled rows have no segment column {check.segment!r}")
    import numpy as np

    from loopwise.profiles.canonical import canonical

    seg = lab.column(check.segment).combine_chunks().dictionary_encode()
    names = [*(canonical(v) for v in seg.dictionary.to_pylist()), "(missing)"]
    # Groups as integers (values of one canonical form are one group): comparing a million strings per
    # group took 0.1-0.2 s of a gate.
    distinct = sorted(set(names))
    group_of = np.array([distinct.index(n) for n in names], np.int64)
    groups = group_of[seg.indices.fill_null(-1).to_numpy(zero_copy_only=False)]
    a, b, y = (t.column(c) for t, c in ((champ, pred), (chall, pred), (lab, target)))
    if metric == "accuracy":
        ga, gb, sign = _hits(a, y), _hits(b, y), 1.0
    else:
        ya = y.to_numpy(zero_copy_only=False).astype(float)
        ga = np.abs(a.to_numpy(zero_copy_only=False).astype(float) - ya)
        gb, sign = np.abs(b.to_numpy(zero_copy_only=False).astype(float) - ya), -1.0
    found: dict[str, Any] = {}
    small: list[str] = []
    for k in np.unique(groups).tolist():
        g, rows = distinct[k], groups == k
        n = int(rows.sum())
        if n < min_n:
            small.append(str(g))
            continue
        ca, cb = float(ga[rows].mean()), float(gb[rows].mean())
        found[str(g)] = {"n": n, "champion": ca, "challenger": cb, "change": sign * (cb - ca)}
    if not found:
        raise NotComputableError(f"no group of {check.segment!r} has {min_n} labelled rows")
    worst = min(found, key=lambda g: found[g]["change"])
    evidence = {"metric": metric, "groups": found, "worst": worst, "too_small": small, "min_n": min_n}
    return found[worst]["change"], evidence


def _hits(pred: Any, y: Any) -> Any:
    """1.0 where the prediction equals the label, compared in canonical form (True and "true" are one)."""
    import numpy as np

    from loopwise.profiles.canonical import canonical

    if pred.type == y.type:
        return pc.equal(pred, y).fill_null(False).to_numpy(zero_copy_only=False).astype(float)
    return np.array(
        [canonical(p) == canonical(q) for p, q in zip(pred.to_pylist(), y.to_pylist(), strict=True)], float
    )


def _latency(ctx: Context, check: Any, which: str) -> Value:
    """The challenger's own time per prediction, in milliseconds: ``stat`` p99 (default), p50 or mean."""
    if which == "reference":
        raise NotComputableError("challenger metrics have no reference value")
    stat = str(check.params.get("stat", "p99"))
    if set(check.params) - {"stat"} or stat not in ("p50", "p99", "mean"):
        raise ParameterError(f"params of {check.metric}", dict(check.params), "stat: p50, p99 or mean")
    value = ctx.challenger_latency.get(f"{stat}_ms")
    if value is None:
        raise NotComputableError(
            f"no {stat} latency of the challenger was measured (evaluate the version on the window first)"
        )
    return float(value), dict(ctx.challenger_latency)


def _estimated(name: str) -> Fn:
    def fn(ctx: Context, check: Any, which: str) -> Value:
        if which == "reference" or ctx.reference is None:
            raise NotComputableError("an estimate is calibrated on a labelled reference; give --reference")
        pos_label, average = check.params.get("pos_label"), check.params.get("average")
        key = ("estimate", repr(pos_label), repr(average), name)
        if key not in ctx.cache:
            # One metric at a time: a classifier's and a regressor's metrics cannot be asked for together.
            ctx.cache[key] = estimate_performance(
                ctx.reference.data,
                ctx.current.data,
                ctx.schema_hint,
                metrics=[name],
                pos_label=pos_label,
                average=average,
            )
        est = ctx.cache[key][name]
        return est.estimate, est.to_dict()

    return fn


def _multivariate(what: str) -> Fn:
    """multivariate_drift (1 when drifted by the calibrated rule, else 0) and the two statistics."""

    def fn(ctx: Context, check: Any, which: str) -> Value:
        if which == "reference" or ctx.reference is None:
            raise NotComputableError(f"{what} compares the current with a reference; give one")
        params = dict(check.params)
        fixed = {"reconstruction_error": "pca", "domain_classifier_auc": "classifier"}
        method = str(fixed.get(what, params.pop("method", "pca")))
        params.pop("method", None)
        if ctx.reference.profile is not None or ctx.current.profile is not None:
            raise NotComputableError(f"{what} needs raw rows on both sides, not profiles")
        key = ("multivariate", method, repr(sorted(params.items())))
        fits(MultivariateDrift, params, what)
        if key not in ctx.cache:
            ctx.cache[key] = multivariate_drift(
                ctx.reference.data, ctx.current.data, ctx.schema_hint, method=method, **params
            )
        r = ctx.cache[key]
        value = float(r.drift_detected) if what == "multivariate_drift" else r.statistic
        return value, r.to_dict()

    return fn


def build_catalog() -> dict[str, Entry]:
    cat: dict[str, Entry] = {}
    for m in drift_registry.names():
        cat[m] = Entry("column", "drift", _drift_stat(m), on_reference=False)
    cat["drifted"] = Entry("column", "drift", _drifted, on_reference=False)
    cat["drift_share"] = Entry("dataset", "drift", _drift_share, on_reference=False)
    for what in ("multivariate_drift", "reconstruction_error", "domain_classifier_auc"):
        cat[what] = Entry("dataset", "drift", _multivariate(what), on_reference=False)
    cat["missing_rate"] = Entry("column", "quality", _missing_rate)
    for attr in ("missing_rate_change", "out_of_range_share", "new_category_share"):
        cat[attr] = Entry("column", "quality", _quality(attr), on_reference=False)
    cat["duplicate_share"] = Entry("dataset", "quality", _duplicate_share)
    cat["row_count"] = Entry("dataset", "quality", _row_count)
    for name in perf.names():
        cat[name] = Entry("dataset", "performance", _performance(name))
    for name in AGGREGATES:
        cat[name] = Entry("segment", "fairness", _fairness(name))
    for name in (m for m in ESTIMABLE if m not in ("confusion_matrix", "business_value")):
        cat[f"estimated_{name}"] = Entry("dataset", "estimation", _estimated(name), on_reference=False)
    cat["challenger_difference"] = Entry(
        "dataset", "challenger", _challenger("difference"), on_reference=False
    )
    cat["challenger_difference_lower"] = Entry(
        "dataset", "challenger", _challenger("lower"), on_reference=False
    )
    cat["challenger_p_value"] = Entry("dataset", "challenger", _challenger("p_value"), on_reference=False)
    cat["challenger_segment_change"] = Entry("segment", "challenger", _segment_change, on_reference=False)
    cat["challenger_latency_ms"] = Entry("dataset", "challenger", _latency, on_reference=False)
    return cat


CATALOG = build_catalog()
