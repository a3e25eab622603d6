"""Compare a current dataset with its reference, column by column, and give a dataset verdict."""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopwise._display import count
from loopwise._lazy import lazy
from loopwise.errors import DataError, EmptyDataError, ParameterError
from loopwise.metrics import registry
from loopwise.metrics.describe import categorical_sides, numeric_sides
from loopwise.metrics.drift import calibration as cal
from loopwise.metrics.drift.pairs import CategoricalPair, NumericPair, sorted_finite
from loopwise.metrics.quality import (
    ColumnQuality,
    categorical_quality,
    duplicate_share,
    numeric_quality,
    rate,
)
from loopwise.metrics.result import DriftResult
from loopwise.metrics.thresholds import DEFAULT_FALSE_ALARM_RATE
from loopwise.profiles import Profile
from loopwise.profiles.canonical import canonical
from loopwise.profiles.chunks import Chunks
from loopwise.profiles.numeric import NumericProfile
from loopwise.profiles.others import TextProfile
from loopwise.schema import DRIFT_ROLES, DataLike, Kind, Role, Schema, to_table, validate
from loopwise.schema.numbers import held_columns, numbers_from_text

if TYPE_CHECKING:
    from scipy import stats as sps
else:
    sps = lazy("scipy.stats")

#: Below this many values on either side a column's test has little power; the result says so.
FEW_ROWS = 30
DISPLAY_BINS = 40
#: The string modes of ``thresholds`` (a mapping of overrides means "plain").
THRESHOLD_MODES = ("auto", "calibrated", "plain")
#: A current this many times larger or smaller than the calibration chunks gets a warning.
SIZE_RATIO_WARNING = 2.0
EFFECT_METHOD = {
    "numeric": "wasserstein",
    "text": "wasserstein",
    "categorical": "jensenshannon",
    "boolean": "jensenshannon",
}


def default_method(kind: str, categories: int = 3) -> str:
    """The default method for a column kind (see docs/drift-methods.md for why)."""
    if kind in ("numeric", "text"):
        return "ks"
    if kind == "boolean" or categories <= 2:
        return "z"
    return "chisquare"


@dataclass(frozen=True)
class ColumnComparison:
    """Everything the comparison found about one column."""

    name: str
    kind: str
    role: str
    drift: DriftResult | None
    metrics: dict[str, float | None] = field(default_factory=dict)
    quality: ColumnQuality | None = None
    warning: str | None = None
    display: dict[str, Any] = field(default_factory=dict, repr=False)
    #: Reference and current side by side in the column's unit (``metrics.describe``).
    summary: dict[str, Any] = field(default_factory=dict, repr=False)


#: The roles ``Comparison.drift_share`` counts (decision 0059): the model's inputs, not what it answered
#: (prediction, score), what it learns from (target), how traffic is grouped (segment), ids or times.
SHARE_ROLES = (Role.FEATURE.value,)


@dataclass(frozen=True)
class Comparison:
    """The column comparisons and the dataset-level verdict."""

    columns: list[ColumnComparison]
    n_reference: int
    n_current: int
    alpha: float
    drift_share_threshold: float
    missing_columns: list[str] = field(default_factory=list)
    new_columns: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    duplicate_share: float | None = None
    #: How drift was decided: "calibrated" (thresholds from the reference's chunks) or "plain".
    thresholds: str = "plain"
    false_alarm_rate: float | None = None

    @property
    def compared(self) -> list[ColumnComparison]:
        return [c for c in self.columns if c.drift is not None]

    @property
    def drifted_columns(self) -> list[str]:
        return [c.name for c in self.compared if c.drift is not None and c.drift.drift_detected]

    @property
    def features(self) -> list[ColumnComparison]:
        """The compared columns ``drift_share`` counts: the features (``SHARE_ROLES``). The prediction, score,
        target and segment columns are compared and reported too, each on its own (a drifting label is
        label drift, not a share of the inputs), as Evidently's and NannyML's drift share is over features."""
        return [c for c in self.compared if c.role in SHARE_ROLES]

    @property
    def drifted_features(self) -> list[str]:
        return [c.name for c in self.features if c.drift is not None and c.drift.drift_detected]

    @property
    def drift_share(self) -> float:
        """The share of the compared features that drifted (0 when no feature was compared)."""
        n = len(self.features)
        return len(self.drifted_features) / n if n else 0.0

    @property
    def dataset_drift(self) -> bool:
        return bool(self.features) and self.drift_share >= self.drift_share_threshold

    @property
    def not_compared(self) -> list[ColumnComparison]:
        """Columns that should have been compared and could not be (each says why in its warning)."""
        return [c for c in self.columns if c.drift is None and c.kind != Kind.DATETIME.value]

    def not_compared_warnings(self) -> list[str]:
        """One line per column that could not be compared, for answers that list warnings."""
        return [f"column {c.name!r} not compared: {c.warning}" for c in self.not_compared]

    def __getitem__(self, name: str) -> ColumnComparison:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"no column {name!r} in the comparison")


@dataclass
class _Side:
    n: int
    schema: Schema
    table: pa.Table | None = None
    profile: Profile | None = None

    def column(self, name: str, kind: str) -> Any:
        """The column as a sorted sample / Arrow array (raw), or as its profile."""
        if self.profile is not None:
            col = self.profile.columns[name]
            if isinstance(col, TextProfile):
                return col.lengths
            return col
        assert self.table is not None
        arr = self.table.column(name)
        if kind == "numeric":
            return sorted_finite(arr)
        if kind == "text":
            return sorted_finite(pc.utf8_length(arr))
        return arr

    def missing(self, name: str) -> float | None:
        if self.profile is not None:
            col = self.profile.columns[name]
            extra = col.nan if isinstance(col, NumericProfile) else 0
            return rate(col.missing + extra, col.n)
        assert self.table is not None
        arr = self.table.column(name)
        nulls = arr.null_count
        if pa.types.is_floating(arr.type):
            nulls += int(pc.sum(pc.is_nan(arr)).as_py() or 0)
        return rate(nulls, len(arr))


def _side(
    data: DataLike | Profile, schema: Schema | None, segment: tuple[str, Any] | None, which: str
) -> _Side:
    if isinstance(data, Profile):
        if segment is not None:
            try:
                data = data.segment(*segment)
            except KeyError as exc:  # Profile.segment's message names the segment columns or values
                raise ParameterError(
                    "segment", segment, f"a segment of the {which} profile ({exc.args[0]})"
                ) from None
        return _Side(data.n, _profiled_kinds(data), profile=data)
    table = to_table(data)
    if segment is not None:
        column, value = segment
        if column not in table.column_names:
            raise ParameterError(
                "segment", segment, f"a column of the {which} data ({', '.join(table.column_names)})"
            )
        keys = (
            pc.cast(table.column(column), pa.string())
            if not pa.types.is_string(table.column(column).type)
            else table.column(column)
        )
        table = table.filter(pc.fill_null(pc.equal(keys, canonical(value)), False))
        if table.num_rows == 0:
            raise EmptyDataError(f"no rows of the {which} data have {column} = {canonical(value)!r}")
    if table.num_rows == 0:
        raise EmptyDataError(f"the {which} dataset has no rows")
    if schema is not None:
        # A column the current data lacks is a warning of the comparison; a feature the reference lacks is
        # a schema that does not describe this data (a typo, most often): refused, naming close matches.
        # Training data has no ids, times or served outputs: the reference is the columns it holds.
        if which == "reference":
            schema = held_columns(schema, table.column_names, "reference data")
        else:  # what the current lacks is named by the comparison, never as a column "only in the current"
            schema = schema.with_columns(c for c in schema if c.name in table.column_names)
        table = numbers_from_text(schema, table, f"{which} data", require=False)
    sch = schema.resolve(table) if schema is not None else Schema.infer(table)
    return _Side(table.num_rows, sch, table=sch.conform(table))


def _profiled_kinds(p: Profile) -> Schema:
    """The profile's schema, with each kind left open (a server's model schema may) set to the kind its
    column was profiled as (a pinned window's buckets are profiled on such a schema)."""
    if all(c.kind is not None for c in p.schema):
        return p.schema
    return Schema(
        tuple(
            replace(c, kind=p.columns[c.name].kind) if c.kind is None and c.name in p.columns else c
            for c in p.schema
        )
    )


def compare_data(
    reference: DataLike | Profile,
    current: DataLike | Profile,
    schema: Schema | None = None,
    *,
    method: str | None = None,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | str | None = None,
    alpha: float = 0.05,
    bins: int = 10,
    drift_share: float = 0.5,
    segment: tuple[str, Any] | None = None,
    workers: int | None = None,
    false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE,
) -> Comparison:
    """Compare ``current`` with ``reference`` (each raw data or a Profile); see ``loopwise.compare``."""
    if not 0 < alpha < 1:
        raise ParameterError("alpha", alpha, "a number between 0 and 1 (exclusive)")
    if not 0 < false_alarm_rate < 1:
        raise ParameterError("false_alarm_rate", false_alarm_rate, "a number between 0 and 1 (exclusive)")
    if isinstance(thresholds, str) and thresholds not in THRESHOLD_MODES:
        raise ParameterError("thresholds", thresholds, f"one of {', '.join(THRESHOLD_MODES)}, or a mapping")
    if not 0 < drift_share <= 1:
        raise ParameterError("drift_share", drift_share, "a number in (0, 1]")
    if bins < 2:
        raise ParameterError("bins", bins, "an integer of at least 2")
    if method is not None:
        registry.get(method)
    methods = dict(methods or {})
    for m in methods.values():
        registry.get(m)
    mode = thresholds if isinstance(thresholds, str) else "plain" if thresholds else "auto"
    overrides = dict(thresholds) if not isinstance(thresholds, str) and thresholds else {}

    ref, cur = _side(reference, schema, segment, "reference"), _side(current, schema, segment, "current")
    chunks = ref.profile.chunks if ref.profile is not None else None
    if mode == "calibrated" and chunks is None:
        raise DataError(
            "thresholds='calibrated' needs a reference profiled with chunk_size "
            "(lw.profile(reference, chunk_size=N)); "
            + ("segment sub-profiles have no chunks" if segment is not None else "this reference has none")
        )
    calibrated = chunks if mode != "plain" else None
    ref_names = {c.name for c in ref.schema if c.role in DRIFT_ROLES or c.role is Role.SEGMENT}
    cur_names = set(cur.schema.names)
    missing = sorted(ref_names - cur_names)
    new = sorted(n for n in cur.schema.names if n not in set(ref.schema.names))
    unknown = sorted(set(methods) - set(ref.schema.names))
    if unknown:
        raise ParameterError(
            "methods", unknown, f"column names of the reference ({', '.join(ref.schema.names)})"
        )
    warnings = []
    if ref_names and not ref_names & cur_names:
        # Nothing to compare is not "no drift": two unrelated files (or a renamed export) say so at once.
        raise DataError(
            f"the current data has none of the reference's columns ({', '.join(sorted(ref_names))}); "
            f"its columns: {', '.join(cur.schema.names) or 'none'}"
        )
    if missing:
        warnings.append(f"column(s) missing from the current data: {', '.join(missing)}")
    if new:
        warnings.append(f"column(s) only in the current data, not compared: {', '.join(new)}")

    todo = [c for c in ref.schema if c.name in cur_names and c.role in DRIFT_ROLES]

    def run(col: Any) -> ColumnComparison:
        return _compare_column(
            col.name,
            col,
            cur.schema[col.name],
            ref,
            cur,
            method,
            methods.get(col.name),
            overrides,
            alpha,
            bins,
            calibrated,
            false_alarm_rate,
        )

    n_workers = workers or min(4, os.cpu_count() or 1)
    dup: float | None = None
    if n_workers > 1 and len(todo) > 1:
        with ThreadPoolExecutor(n_workers) as pool:
            dup_future = pool.submit(duplicate_share, cur.table) if cur.table is not None else None
            results = list(pool.map(run, todo))
            dup = dup_future.result() if dup_future is not None else None
    else:
        results = [run(c) for c in todo]
        dup = duplicate_share(cur.table) if cur.table is not None else None
    if method is not None:
        skipped = sorted(
            {
                r.kind
                for r in results
                if r.drift is not None and r.drift.method != method and r.name not in methods
            }
        )
        if skipped:
            warnings.append(
                f"method {method!r} does not apply to {', '.join(skipped)} columns; "
                "they use their default method"
            )
    results = _adjust(results)
    skipped_columns = [r.name for r in results if r.drift is None and r.kind != Kind.DATETIME.value]
    if skipped_columns:
        # Never a silent omission: the verdict counts only the columns compared, so say which were not.
        warnings.append(
            f"{count(len(skipped_columns), 'column')} not compared, so not in the drift count: "
            f"{', '.join(skipped_columns)} (each column's warning says why)"
        )
    if cur.table is not None:
        results = _attach_violations(results, ref.schema, cur.table)
    if calibrated is not None:
        ratio = cur.n / calibrated.size
        if ratio > SIZE_RATIO_WARNING or ratio < 1 / SIZE_RATIO_WARNING:
            warnings.append(
                f"the current has {cur.n} rows and the reference's calibration chunks {calibrated.size}: "
                + (
                    "thresholds were raised for its extra sampling noise"
                    if ratio < 1
                    else "thresholds are not lowered for a larger current, so drift smaller than the "
                    "reference's own chunk-to-chunk spread is not flagged"
                )
            )
    return Comparison(
        results,
        ref.n,
        cur.n,
        alpha,
        drift_share,
        missing,
        new,
        warnings,
        dup,
        "calibrated" if calibrated is not None else "plain",
        false_alarm_rate if calibrated is not None else None,
    )


def _compare_column(
    name: str,
    ref_col: Any,
    cur_col: Any,
    ref: _Side,
    cur: _Side,
    method: str | None,
    column_method: str | None,
    thresholds: Mapping[str, float],
    alpha: float,
    bins: int,
    chunks: Chunks | None = None,
    false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE,
) -> ColumnComparison:
    kind = ref_col.kind.value
    role = ref_col.role.value
    if kind == Kind.DATETIME.value:
        return ColumnComparison(name, kind, role, None, warning="datetime columns are not compared for drift")
    if cur_col.kind != ref_col.kind:
        return ColumnComparison(
            name,
            kind,
            role,
            None,
            warning=f"kind differs: {kind} in the reference, {cur_col.kind} in the current",
        )
    missing = (ref.missing(name), cur.missing(name))
    numeric = kind in ("numeric", "text")
    r, c = ref.column(name, kind), cur.column(name, kind)
    pair: NumericPair | CategoricalPair = NumericPair.build(r, c) if numeric else CategoricalPair.build(r, c)
    if pair.n_ref == 0 or pair.n_cur == 0:
        side = "reference" if pair.n_ref == 0 else "current"
        return ColumnComparison(
            name,
            kind,
            role,
            None,
            quality=ColumnQuality(missing[0], missing[1]),
            warning=f"no usable values in the {side}; not compared",
        )
    n_cat = len(pair.keys) if isinstance(pair, CategoricalPair) else 0
    if chunks is not None and name not in chunks.columns:
        chunks = None  # no chunk data for this column (added later, or no values): a plain threshold
    fallback = cal.CALIBRATED_METHOD[kind] if chunks is not None else default_method(kind, n_cat)
    chosen = column_method or method or fallback
    spec = registry.get(chosen)
    if kind not in spec.kinds or (chosen == "z" and n_cat > 2):
        if column_method is not None:
            # z compares two proportions: on more categories it is not among the valid ones.
            valid = [
                m for m in registry.names() if kind in registry.get(m).kinds and (m != "z" or n_cat <= 2)
            ]
            which = f"{kind} columns" + (f" of {n_cat} categories" if n_cat > 2 else "")
            raise ParameterError(f"methods[{name!r}]", chosen, f"a method for {which} ({', '.join(valid)})")
        chosen = fallback
        spec = registry.get(chosen)

    all_metrics: dict[str, float | None] = {}
    outcomes: dict[str, Any] = {}
    for m in registry.names():
        s = registry.get(m)
        fn = s.numeric if numeric else s.categorical
        if fn is None or (m == "z" and n_cat > 2):
            continue
        out = fn(pair, bins=bins)
        outcomes[m] = out
        all_metrics[m] = out[0]
        if out[1] is not None:
            all_metrics[f"{m}_p_value"] = out[1]
    stat, p, exact, bound, details = outcomes[chosen]
    effect_name = EFFECT_METHOD[kind]
    warning = None
    if min(pair.n_ref, pair.n_cur) < FEW_ROWS:
        warning = f"few values ({min(pair.n_ref, pair.n_cur)}): the result has little power"
    if chunks is not None:
        test = cal.plain_test(kind, n_cat)
        ref_col = ref.profile.columns[name] if ref.profile is not None else None
        t, n_cal = cal.threshold(chunks, name, ref_col, chosen, bins, false_alarm_rate)
        n_now = cal.effective_size(pair.n_ref, pair.n_cur)
        cells = n_cat if isinstance(pair, CategoricalPair) else int(details.get("n_bins", 0))
        q_cal = cal.null_quantile(chosen, n_cal, false_alarm_rate, cells)
        q_now = cal.null_quantile(chosen, n_now, false_alarm_rate, cells)
        if q_cal is not None and q_now is not None:
            threshold, size_rule = t.widened(q_cal, q_now), "plus the no-change quantile's growth"
        else:
            threshold, size_rule = t.scaled(n_cal, n_now, spec.null_exponent), "times the size ratio"
        if spec.upper is not None and threshold >= spec.upper:
            cannot = (
                f"this column cannot alert: its calibrated threshold ({threshold:.4g}) is at or above "
                f"{chosen}'s largest value ({spec.upper:.4g}) for a current of this size"
            )
            warning = f"{warning}; {cannot}" if warning else cannot
        drift = DriftResult(
            column=name,
            kind=kind,
            method=chosen,
            statistic=float(stat),
            threshold=float(threshold),
            drift_detected=bool(stat > threshold),
            n_reference=pair.n_ref,
            n_current=pair.n_cur,
            exact=bool(exact),
            p_value=outcomes[test][1],
            error_bound=bound,
            effect_size=all_metrics.get(effect_name),
            effect_size_method=effect_name,
            details=details,
            threshold_kind="calibrated",
            test=test,
            calibration={
                **t.to_dict(),
                "chunk_size": chunks.size,
                "effective_size_calibration": n_cal,
                "effective_size_current": n_now,
                "size_adjustment": size_rule if threshold != t.value else None,
                "scaled_by": threshold / t.value if t.value > 0 else 1.0,
            },
        )
    else:
        threshold = thresholds.get(
            name, thresholds.get(chosen, alpha if spec.is_test else spec.default_threshold)
        )
        drift = DriftResult(
            column=name,
            kind=kind,
            method=chosen,
            statistic=float(stat),
            threshold=float(threshold),
            drift_detected=bool(p < threshold) if p is not None else bool(stat >= threshold),
            n_reference=pair.n_ref,
            n_current=pair.n_cur,
            exact=bool(exact),
            p_value=p,
            error_bound=bound,
            effect_size=all_metrics.get(effect_name),
            effect_size_method=effect_name,
            details=details,
            threshold_kind="alpha" if p is not None else "fixed",
            test=chosen if p is not None else None,
        )
    if isinstance(pair, NumericPair):
        quality = numeric_quality(pair, missing)
        display = _numeric_display(pair)
        summary = {"measure": "length (characters)" if kind == "text" else "value", **numeric_sides(pair)}
    else:
        quality = categorical_quality(pair, missing)
        display = _categorical_display(pair)
        summary = {"measure": "share of values", **categorical_sides(pair)}
    return ColumnComparison(name, kind, role, drift, all_metrics, quality, warning, display, summary)


def _attach_violations(
    results: list[ColumnComparison], schema: Schema, table: pa.Table
) -> list[ColumnComparison]:
    """Schema violations of the current data (types, nulls, infinities, unknown categories), per column."""
    by_column: dict[str, list[str]] = {}
    present = [c for c in schema if c.name in table.column_names]
    for issue in validate(Schema(tuple(present)), table):
        if issue.column is not None:
            msg = issue.message if not issue.count else f"{issue.message} ({issue.count} rows)"
            by_column.setdefault(issue.column, []).append(msg)
    out = []
    for r in results:
        found = by_column.get(r.name)
        if found:
            q = r.quality or ColumnQuality(None, None)
            r = replace(r, quality=replace(q, violations=tuple(found)))
        out.append(r)
    return out


def _adjust(results: list[ColumnComparison]) -> list[ColumnComparison]:
    """Benjamini-Hochberg across the columns decided by a test, so the false discovery rate is alpha."""
    tested = [i for i, r in enumerate(results) if r.drift is not None and r.drift.p_value is not None]
    if not tested:
        return results
    pvals = np.array([results[i].drift.p_value for i in tested], dtype=np.float64)  # type: ignore[union-attr]
    adjusted = sps.false_discovery_control(np.clip(pvals, 0.0, 1.0), method="bh")
    out = list(results)
    for i, adj in zip(tested, adjusted, strict=True):
        d = out[i].drift
        assert d is not None
        # A calibrated decision stands; its p-value (the plain test's) is adjusted for reading only.
        detected = d.drift_detected if d.threshold_kind == "calibrated" else bool(adj < d.threshold)
        out[i] = replace(out[i], drift=replace(d, p_value_adjusted=float(adj), drift_detected=detected))
    return out


def _numeric_display(pair: NumericPair) -> dict[str, Any]:
    lo, hi = pair.range()
    if pair.ref_sorted is not None and pair.cur_sorted is not None:
        qs = [s[int(q * (s.size - 1))] for s in (pair.ref_sorted, pair.cur_sorted) for q in (0.005, 0.995)]
        lo, hi = float(min(qs[0], qs[2])), float(max(qs[1], qs[3]))
    elif pair.ref_profile is not None and pair.cur_profile is not None:
        q = np.concatenate(
            (
                pair.ref_profile.quantiles(np.array([0.005, 0.995])),
                pair.cur_profile.quantiles(np.array([0.005, 0.995])),
            )
        )
        lo, hi = float(np.nanmin(q)), float(np.nanmax(q))
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, DISPLAY_BINS + 1)
    if _small_integers(pair, lo, hi):
        # Whole numbers (ages, counts) get one bar per value instead of bins that straddle them.
        edges = np.arange(np.floor(lo) - 0.5, np.ceil(hi) + 1.0, 1.0)
    f_ref, f_cur = pair.cdf(edges)
    return {
        "type": "numeric",
        "edges": edges.tolist(),
        "reference": np.diff(f_ref).tolist(),
        "current": np.diff(f_cur).tolist(),
    }


def _small_integers(pair: NumericPair, lo: float, hi: float, most: int = 120) -> bool:
    # Raw values, or the distinct values a profile of a column with few of them counts.
    sides = pair.distinct_values()
    if hi - lo > most or sides is None:
        return False
    return all(bool(np.all(np.mod(s[:: max(1, s.size // 10_000)], 1.0) == 0)) for s in sides)


def _categorical_display(pair: CategoricalPair, top: int = 25) -> dict[str, Any]:
    r = pair.ref_counts / max(pair.n_ref, 1)
    c = pair.cur_counts / max(pair.n_cur, 1)
    order = np.argsort(-(r + c), kind="stable")[:top]
    return {
        "type": "categorical",
        "categories": [pair.keys[i] for i in order],
        "reference": r[order].tolist(),
        "current": c[order].tolist(),
    }


__all__ = ["ColumnComparison", "Comparison", "compare_data", "default_method"]
