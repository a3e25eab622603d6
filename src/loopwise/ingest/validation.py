"""Validation at the edge: a batch checked against its model's schema, its times and versions normalised.

Everything wrong with a batch is reported at once (``SchemaValidationError`` naming columns and rows); a batch
that passes leaves with its event ids in canonical form, its times as UTC microseconds and its versions as
strings, the only forms the rest of the write path sees.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopwise.errors import DataError, SchemaValidationError
from loopwise.ingest.errors import LimitError
from loopwise.profiles.canonical import canonical, canonical_keys
from loopwise.schema import Role, Schema, validate
from loopwise.schema.timestamps import to_utc_us
from loopwise.schema.validate import ValidationIssue, misspelt, misspelt_issue, row_issues

DEFAULT_VERSION = "default"
RESERVED = ("model_version", "latency_ms")
#: Earliest and latest accepted event times (anything else is a clock or unit error).
MIN_TS = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
MAX_FUTURE = dt.timedelta(days=1)


def _ts_column(table: pa.Table, name: str, unit: str | None = None) -> np.ndarray:
    """The event times of ``table[name]`` as UTC microseconds (``datetime64[us]``; NaT where missing).

    The one place a server batch's times are normalised (decision 0016): strings and epoch numbers by the
    library's one conversion rule (``loopwise.schema.timestamps``, decision 0019), Arrow timestamps of any
    unit and zone. A time that does not exist (30 February), or that the cast
    to microseconds would overflow (a seconds value past year 294,247 used to wrap silently to a time
    in range), is an issue naming its rows; so is one outside [2000, now + 1 day].
    """
    arr = table.column(name)
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        _no_rolled_days(arr, name)
    if not pa.types.is_timestamp(arr.type) and not pa.types.is_date(arr.type):
        try:
            arr = to_utc_us(arr, name, unit)
        except DataError as exc:
            problem = "out_of_range" if "outside the years" in str(exc) else "wrong_type"
            message = str(exc).removeprefix(f"column {name!r}: ")
            raise SchemaValidationError([ValidationIssue(name, problem, message)]) from None
    elif pa.types.is_date(arr.type):
        arr = pc.cast(arr, pa.timestamp("s"))
    if not pa.types.is_timestamp(arr.type):
        raise SchemaValidationError(
            [ValidationIssue(name, "wrong_type", f"expected timestamps, got {arr.type}")]
        )
    # Arrow keeps every timestamp as a count of its unit since the epoch in UTC, whatever its zone: the
    # range is checked on that count, in the column's own unit, before anything is multiplied.
    per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[arr.type.unit]
    counts = np.asarray(pc.cast(arr, pa.int64()).to_numpy(zero_copy_only=False))
    missing = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    low = int(MIN_TS.timestamp()) * per_second
    high = int((dt.datetime.now(dt.UTC) + MAX_FUTURE).timestamp()) * per_second
    with np.errstate(invalid="ignore"):
        bad = missing | (np.nan_to_num(counts.astype(np.float64), nan=low) < low) | (counts > high)
    if bad.any():
        raise SchemaValidationError(
            row_issues(bad, name, "out_of_range", "time missing, before 2000 or more than a day ahead")
        )
    # Sub-microsecond digits are dropped: event times are kept to the microsecond.
    counts = counts.astype(np.int64)
    us = counts * (10**6 // per_second) if per_second <= 10**6 else counts // (per_second // 10**6)
    return us.astype("datetime64[us]")


def _no_rolled_days(arr: pa.ChunkedArray, name: str) -> None:
    """A day that does not exist in its month (30 February) is an issue naming its rows: parsers roll it
    over into the next month (2 March) rather than refuse it."""

    # The day as written must be in its month. (An hour, minute or second out of range fails to parse.)
    def part(a: int, b: int) -> np.ndarray:
        sliced = pc.utf8_slice_codeunits(arr, a, b)
        return np.asarray(
            pc.cast(sliced, pa.int64(), safe=False).to_numpy(zero_copy_only=False), dtype=np.float64
        )

    try:
        day = part(8, 10)
        late = day >= 29
        if late.any():
            year, month = part(0, 4)[late], part(5, 7)[late]
            leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
            last = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[month.astype(np.int64) - 1] + (
                (month == 2) & leap
            )
            rolled = np.zeros(len(day), dtype=bool)
            rolled[np.flatnonzero(late)] = day[late] > last
            if rolled.any():
                raise SchemaValidationError(
                    row_issues(rolled, name, "out_of_range", "no such date (e.g. 30 February)")
                )
    except (pa.ArrowInvalid, IndexError):
        pass  # not the YYYY-MM-DD layout: the conversion rule judges it


def _version_column(table: pa.Table) -> tuple[pa.Table, list[ValidationIssue]]:
    """``model_version`` as strings (integers are converted); another type is an issue."""
    if "model_version" not in table.column_names:
        return table, []
    col = table.column("model_version")
    t = col.type.value_type if pa.types.is_dictionary(col.type) else col.type
    if not (
        pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t) or pa.types.is_null(t)
    ):
        return table, [
            ValidationIssue("model_version", "wrong_type", f"model_version must be a string; got {t}")
        ]
    i = table.column_names.index("model_version")
    return table.set_column(i, "model_version", col.cast(pa.string())), []


#: More unknown columns than this are refused by their names alone (dropping thousands costs their square).
MAX_UNKNOWN = 20


def unknown_columns(schema: Schema, names: list[str]) -> list[str]:
    """The columns of a batch of predictions that its model's schema has not (its target among them: labels
    go to /feedback), sorted; more than ``MAX_UNKNOWN`` are refused at once, listed, before anything else
    is looked at. The server asks this of a batch's names before it builds the batch (decision 0016), and
    the write path again: both answer the same."""
    served = {c.name for c in schema if c.role is not Role.TARGET}
    extra = sorted(set(names) - served - set(RESERVED))
    if len(extra) > MAX_UNKNOWN:
        raise SchemaValidationError(
            [
                ValidationIssue(
                    ", ".join(extra[:MAX_UNKNOWN]) + f" and {len(extra) - MAX_UNKNOWN} more",
                    "unknown_column",
                    "column(s) not in the model's schema (targets go to /feedback)",
                )
            ],
            refused=True,
        )
    return extra


def _misspelt_or_unknown(
    schema: Schema, issues: list[ValidationIssue], extra: list[str]
) -> list[ValidationIssue]:
    """The issues of the batch's unknown columns, and ``issues`` without the missing columns they stand
    for (edited in place): a column that looks like a missing one misspelt is one issue naming both; the
    others are one issue listing them (with the hint that targets go to /feedback where one is sent)."""
    targets = {c.name for c in schema.by_role(Role.TARGET)}
    missing = [i.column for i in issues if i.problem == "missing_column" and i.column is not None]
    pairs = misspelt(missing, [e for e in extra if e not in targets])
    meant = set(pairs.values())
    issues[:] = [i for i in issues if not (i.problem == "missing_column" and i.column in meant)]
    out = [misspelt_issue(name, m, "the model's schema") for name, m in pairs.items()]
    rest = [e for e in extra if e not in pairs]
    if rest:
        hint = " (targets go to /feedback)" if targets & set(rest) else ""
        out.append(
            ValidationIssue(", ".join(rest), "unknown_column", f"column(s) not in the model's schema{hint}")
        )
    return out


def check_batch(schema: Schema, table: pa.Table, max_rows: int) -> tuple[pa.Table, list[str], np.ndarray]:
    """Every problem of a batch at once (raises SchemaValidationError), else the batch, its ids and times.

    JSON has no timestamp type, so the timestamp column's ISO 8601 strings and epoch numbers are converted
    (``loopwise.schema.timestamps``: a bad or ambiguous one is an issue naming the column); nothing else is.
    """
    if table.num_rows == 0:
        raise SchemaValidationError([ValidationIssue(None, "empty", "the batch has no rows")], refused=True)
    if table.num_rows > max_rows:
        raise LimitError(f"the batch has {table.num_rows} rows; the limit is {max_rows} per batch")
    served = Schema(tuple(c for c in schema if c.role is not Role.TARGET))
    reserved = [c for c in RESERVED if c in table.column_names]
    extra = unknown_columns(schema, table.column_names)
    ts_column = schema.by_role(Role.TIMESTAMP)[0]
    ts_name = ts_column.name
    times: np.ndarray | None = None
    if ts_name in table.column_names:
        try:
            times = _ts_column(table, ts_name, ts_column.unit)
        except SchemaValidationError as exc:
            time_issues = exc.issues
        else:
            time_issues = []
            # Stored as UTC microseconds whatever was sent, so every batch of a model reads back as one type.
            table = table.set_column(
                table.column_names.index(ts_name),
                ts_name,
                pa.array(times, type=pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC")),
            )
    table, version_issues = _version_column(table)
    # A frame's pandas metadata would restore the zone it was sent in (and types it no longer has) on export.
    table = table.replace_schema_metadata(None)
    issues = validate(served, table.drop_columns(reserved + extra), allow_extra_columns=False)
    issues += version_issues
    if ts_name in table.column_names:
        issues = [i for i in issues if i.column != ts_name] + time_issues
    unknown = _misspelt_or_unknown(schema, issues, extra)  # takes out the missing columns misspelt
    issues += unknown
    if "latency_ms" in reserved and not (
        pa.types.is_integer(table.column("latency_ms").type)
        or pa.types.is_floating(table.column("latency_ms").type)
    ):
        issues.append(
            ValidationIssue("latency_ms", "wrong_type", "latency_ms must be a number of milliseconds")
        )
    id_col = schema.by_role(Role.ID)[0].name
    ids: list[str] = []
    ts = np.array([], dtype="datetime64[us]")
    if id_col in table.column_names:
        raw = table.column(id_col)
        if raw.null_count:
            issues += row_issues(
                raw.is_null().to_numpy(zero_copy_only=False), id_col, "null", "every event needs an id"
            )
        ids = (
            [canonical(v) for v in raw.to_pylist()]
            if raw.null_count
            else [k for k in canonical_keys(raw) if k is not None]
        )
        if len(set(ids)) != len(ids):
            seen: set[str] = set()
            dup_mask = np.zeros(len(ids), dtype=bool)
            for i, e in enumerate(ids):
                dup_mask[i] = e in seen
                seen.add(e)
            issues += row_issues(dup_mask, id_col, "duplicate_id", "an event id appears twice in the batch")
    if times is not None:
        ts = times
    if issues:
        raise SchemaValidationError(issues, refused=True)
    return table, ids, ts


def versions_of(table: pa.Table, version: str | None) -> list[str]:
    """Each row's model version: its ``model_version``, else ``version``, else ``DEFAULT_VERSION``."""
    if "model_version" in table.column_names:
        vals = table.column("model_version").to_pylist()
        return [str(v) if v is not None else (version or DEFAULT_VERSION) for v in vals]
    return [version or DEFAULT_VERSION] * table.num_rows
