"""Validate a batch against a Schema: every problem at once, each naming column and rows.

Nothing is coerced but times: a string column where the schema says numeric is
a type violation, not a parse attempt; a datetime column may hold ISO 8601
strings or epoch numbers (``loopwise.schema.timestamps`` says which).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopwise.errors import DataError, SchemaValidationError
from loopwise.schema.columns import Column, Kind
from loopwise.schema.frames import DataLike, to_table
from loopwise.schema.schema import Schema
from loopwise.schema.timestamps import to_utc_us

#: How many offending row numbers an issue lists (its ``count`` has them all).
MAX_ROWS_LISTED = 10


@dataclass(frozen=True)
class ValidationIssue:
    """One problem found in a batch: which column, which rows (0-based), and what."""

    column: str | None
    problem: str
    message: str
    rows: tuple[int, ...] = ()
    count: int = 0

    def __str__(self) -> str:
        where = f"column {self.column!r}" if self.column is not None else "batch"
        if self.rows:
            shown = ", ".join(map(str, self.rows))
            more = f" (+{self.count - len(self.rows)} more)" if self.count > len(self.rows) else ""
            where += f", row {shown}{more}" if self.count == 1 else f", rows {shown}{more}"
        elif self.count:
            where += f", all {self.count} values"
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        return {
            "column": self.column,
            "problem": self.problem,
            "message": self.message,
            "rows": list(self.rows),
            "count": self.count,
        }


def misspelt(missing: Sequence[str], extra: Sequence[str]) -> dict[str, str]:
    """Each column of the data that is most likely a missing column of the schema misspelt, as
    ``{data's name: schema's name}``, one to one: the same name in another case, else the closest by
    difflib's ratio (at least 0.6, as ``did_you_mean``), the data's columns taken in order.

    Example:
        >>> misspelt(["income", "age"], ["incom", "Age", "colour"])
        {'incom': 'income', 'Age': 'age'}
    """
    import difflib

    left = list(missing)
    found: dict[str, str] = {}
    for name in extra:
        if not left:
            break
        same = [m for m in left if m.lower() == name.lower()]
        close = same or difflib.get_close_matches(name.lower(), [m.lower() for m in left], n=1, cutoff=0.6)
        if close:
            meant = same[0] if same else next(m for m in left if m.lower() == close[0])
            found[name] = meant
            left.remove(meant)
    return found


def misspelt_issue(name: str, meant: str, schema: str = "the schema") -> ValidationIssue:
    """One issue for a misspelt column (not two: an unknown column and a missing one), on one line naming
    the column sent and the schema's column it most likely meant (decision 0059)."""
    return ValidationIssue(
        name, "unknown_column", f"not in {schema}; did you mean {meant!r}, which the data lacks?"
    )


def validate(schema: Schema, data: DataLike, *, allow_extra_columns: bool = True) -> list[ValidationIssue]:
    """Return every way ``data`` breaks ``schema`` (an empty list when it conforms). A column of the data
    that looks like a missing column of the schema misspelt is one issue naming both (``misspelt``), extra
    columns allowed or not."""
    table = to_table(data)
    issues: list[ValidationIssue] = []
    present = set(table.column_names)
    missing = [col.name for col in schema if col.name not in present]
    extra = [name for name in table.column_names if name not in schema]
    pairs = misspelt(missing, extra)
    meant = set(pairs.values())
    for name in missing:
        if name not in meant:
            issues.append(
                ValidationIssue(name, "missing_column", "column is in the schema but not in the data")
            )
    issues += [misspelt_issue(name, m) for name, m in pairs.items()]
    if not allow_extra_columns:
        for name in extra:
            if name not in pairs:
                issues.append(
                    ValidationIssue(name, "unknown_column", "column is in the data but not in the schema")
                )
    for col in schema:
        if col.name in present:
            issues.extend(_check_column(col, table.column(col.name)))
    return issues


def check(schema: Schema, data: DataLike, *, allow_extra_columns: bool = True) -> pa.Table:
    """Validate and return the Arrow table, or raise ``SchemaValidationError`` with every issue."""
    table = to_table(data)
    issues = validate(schema, table, allow_extra_columns=allow_extra_columns)
    if issues:
        raise SchemaValidationError(issues)
    return table


def _type_ok(kind: Kind | None, t: pa.DataType) -> bool:
    if pa.types.is_null(t):
        # All values missing (JSON nulls carry no type): fits any kind; nullability is judged apart.
        return True
    if pa.types.is_dictionary(t):
        t = t.value_type
    is_str = pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
    if kind is Kind.NUMERIC:
        return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))
    if kind is Kind.BOOLEAN:
        return bool(pa.types.is_boolean(t))
    if kind is Kind.TEXT:
        return bool(is_str)
    if kind is Kind.DATETIME:
        return bool(pa.types.is_timestamp(t) or pa.types.is_date(t))
    if kind is Kind.CATEGORICAL:
        return bool(is_str or pa.types.is_integer(t) or pa.types.is_boolean(t))
    return True


def row_issues(mask: np.ndarray, col: str, problem: str, message: str) -> list[ValidationIssue]:
    """One issue for the rows where ``mask`` is true (none when it is false everywhere)."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    listed = tuple(int(i) for i in idx[:MAX_ROWS_LISTED])
    return [ValidationIssue(col, problem, message, listed, int(idx.size))]


def _present(arr: pa.ChunkedArray) -> int:
    return len(arr) - int(arr.null_count)


def _check_column(col: Column, arr: pa.ChunkedArray) -> list[ValidationIssue]:
    fine = pa.types.is_timestamp(arr.type) and arr.type.unit in ("us", "ns")
    if col.kind is Kind.DATETIME and not fine:
        # Times may come as ISO strings or epoch numbers (converted at the edge, by one rule), and a
        # coarse timestamp type may hold times no microsecond timestamp can: those are refused. (Micro-
        # and nanosecond timestamps always fit; the usual case, left without a pass over the values.)
        try:
            arr = to_utc_us(arr, col.name, col.unit)
        except DataError as exc:
            if "rows" in exc.detail:  # strings that do not read as times: those rows, not the column
                rows = tuple(exc.detail["rows"])
                return [
                    ValidationIssue(col.name, "wrong_type", exc.detail["reason"], rows, exc.detail["count"])
                ]
            message = str(exc).removeprefix(f"column {col.name!r}: ")
            problem = "out_of_range" if "outside the years" in message else "wrong_type"
            return [ValidationIssue(col.name, problem, message, count=_present(arr))]
    if not _type_ok(col.kind, arr.type):
        # The whole column is at fault: no row numbers, but a count that does not read as "no rows".
        return [
            ValidationIssue(
                col.name,
                "wrong_type",
                f"expected {col.kind} values, got Arrow type {arr.type}",
                count=_present(arr),
            )
        ]
    issues: list[ValidationIssue] = []
    nulls = (
        arr.is_null().to_numpy(zero_copy_only=False)
        if arr.null_count and (not col.nullable or col.values is not None)
        else np.zeros(len(arr), dtype=bool)
    )
    floating = pa.types.is_floating(arr.type)
    if floating and not arr.null_count and col.values is None and np.isfinite(arr.to_numpy()).all():
        return []  # the usual case, one NumPy pass: no null, NaN or infinity, so nothing below can fail
    if not col.nullable:
        issues += row_issues(nulls, col.name, "null", "missing value in a column that is not nullable")
        if floating:
            nan = pc.fill_null(pc.is_nan(arr), False).to_numpy(zero_copy_only=False)
            issues += row_issues(nan, col.name, "nan", "NaN in a column that is not nullable")
    if floating and not col.allow_infinite:
        inf = pc.fill_null(pc.is_inf(arr), False).to_numpy(zero_copy_only=False)
        issues += row_issues(inf, col.name, "infinite", "infinity in a column that does not allow it")
    if col.values is not None:
        as_str = pc.cast(arr, pa.string()) if not pa.types.is_string(arr.type) else arr
        known = pc.is_in(as_str, value_set=pa.array(list(col.values), pa.string()))
        # A missing value is not an unknown category (nullability is checked above).
        unknown = ~known.to_numpy(zero_copy_only=False) & ~nulls
        if unknown.any():
            first = as_str.filter(pa.array(unknown))[0].as_py()
            issues += row_issues(
                unknown,
                col.name,
                "unknown_category",
                f"category outside the declared values (first: {first!r}); "
                f"allowed: {', '.join(col.values[:20])}",
            )
    return issues
