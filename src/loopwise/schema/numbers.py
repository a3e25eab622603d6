"""Numbers read as text, and schema columns missing from the data: fixed at the edge, or one line why not.

``validate`` reports every violation of a batch and coerces nothing; this is the other door, for the
offline paths (``compare``, ``profile``) that read a user's files: a schema column missing from the data
is named (with the close matches a typo leaves), and a numeric column read as text (a CSV with ``forty``
in it) either converts, when every value is a number or blank, or is refused naming the values that are
not. Without it both surfaced as pyarrow's ``KeyError`` and ``ArrowInvalid`` from deep inside a drift
method.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from loopwise.errors import DataError, SchemaValidationError, did_you_mean
from loopwise.schema.columns import Kind, Role
from loopwise.schema.schema import Schema
from loopwise.schema.validate import ValidationIssue

#: A decimal number as text (what float() reads, without the underscores), or a non-finite one.
_NUMBER = r"^\s*[-+]?((\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|inf|infinity|nan)\s*$"
#: Text Arrow casts to a boolean, in any case (no blanks, no spaces around). A tuple, made an Arrow array
#: where used: ``pa.array`` of a list imports pandas (to ask whether it is a pandas object), seconds of a
#: server's start-up (decision 0059).
_BOOLEAN_TEXT = ("true", "false", "1", "0")
#: How many offending values an error names.
SHOWN = 3
#: The roles data profiled as a reference must hold (training data has no event ids, times or served outputs).
REFERENCE_NEEDS = (Role.FEATURE,)


def missing_columns(
    schema: Schema, names: list[str], which: str, roles: tuple[Role, ...] | None = None
) -> DataError | None:
    """The error for schema columns (of ``roles``, else all) absent from ``names`` (the data's columns), or
    None. A close match is offered from the data's columns the schema does not name: one it names (the
    label ``defaulted``) is no typo of another."""
    missing = [c.name for c in schema if c.name not in names and (roles is None or c.role in roles)]
    if not missing:
        return None
    free = [n for n in names if n not in schema.names]
    parts = [name + did_you_mean(name, free) for name in missing]
    what = "feature(s)" if roles == (Role.FEATURE,) else "column(s)"
    return DataError(f"{what} of the schema missing from the {which}: {', '.join(parts)}")


def held_columns(schema: Schema, names: list[str], which: str = "data") -> Schema:
    """The schema of the columns data with columns ``names`` holds; raises ``DataError`` when a feature is
    absent. Data profiled as a reference (training data) needs every feature; its ids, times, outputs
    (predictions, scores), labels and segments are profiled when present, and a reference without them has
    no baseline for them (docs/schema.md, "References").

    Example:
        >>> import loopwise as lw
        >>> from loopwise.schema.numbers import held_columns
        >>> s = lw.Schema.from_yaml("columns: {ts: {role: timestamp}, income: {}, p_yes: {role: score}}")
        >>> held_columns(s, ["income"]).names
        ['income']
        >>> try:
        ...     held_columns(s, ["incme", "ts"])
        ... except lw.DataError as e:
        ...     print(e)
        feature(s) of the schema missing from the data: income (did you mean 'incme'?)
    """
    if (err := missing_columns(schema, names, which, REFERENCE_NEEDS)) is not None:
        raise err
    return schema.with_columns(c for c in schema if c.name in names)


def numbers_from_text(
    schema: Schema, table: pa.Table, which: str = "data", *, require: bool = True
) -> pa.Table:
    """``table`` with numeric columns read as text converted to numbers; raises ``DataError`` for a schema
    column missing from the data (when ``require``), text that is not a number in a numeric column, or text
    Arrow cannot read as a boolean in a boolean column.

    Example:
        >>> import pyarrow as pa, loopwise as lw
        >>> from loopwise.schema.numbers import numbers_from_text
        >>> s = lw.Schema.from_dict({"columns": {"income": {"kind": "numeric"}}})
        >>> numbers_from_text(s, pa.table({"income": ["1.5", "", "2"]})).column("income").to_pylist()
        [1.5, None, 2.0]
        >>> try:
        ...     numbers_from_text(s, pa.table({"income": ["1.5", "forty"]}))
        ... except lw.DataError as e:
        ...     print(str(e).rsplit(": ", 1)[1])
        'forty' (row 1)
    """
    if require and (err := missing_columns(schema, table.column_names, which)) is not None:
        raise err
    for col in schema:
        if col.name not in table.column_names:
            continue
        arr = table.column(col.name)
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            continue
        if col.kind is Kind.BOOLEAN:
            # Arrow reads true/false/1/0 as booleans; anything else surfaced as pyarrow's ArrowInvalid.
            known = pc.is_in(pc.utf8_lower(arr), value_set=pa.array(_BOOLEAN_TEXT, pa.string()))
            _refuse(col.name, which, "boolean", "true or false", arr, pc.invert(known))
            continue
        if col.kind is not Kind.NUMERIC:
            continue
        text = pc.utf8_trim_whitespace(arr)
        blank = pc.equal(text, "")
        bad = pc.and_(pc.invert(pc.match_substring_regex(text, _NUMBER, ignore_case=True)), pc.invert(blank))
        _refuse(col.name, which, "numeric", "a number", arr, bad)
        numbers = pc.cast(pc.if_else(blank, pa.scalar(None, arr.type), text), pa.float64())
        table = table.set_column(table.column_names.index(col.name), col.name, numbers)
    return table


def _refuse(name: str, which: str, kind: str, what: str, arr: pa.ChunkedArray, bad: pa.ChunkedArray) -> None:
    """Raise ``SchemaValidationError`` (a ``DataError``) naming the first few values flagged in ``bad``
    (nulls are missing, not bad): the class the server's validation raises for the same batch."""
    bad = pc.fill_null(bad, False)
    n_bad = pc.sum(bad).as_py() or 0
    if n_bad:
        rows = pc.indices_nonzero(bad).to_pylist()[:SHOWN]
        shown = ", ".join(f"{arr[r].as_py()!r} (row {r})" for r in rows)
        more = f" and {n_bad - len(rows)} more" if n_bad > len(rows) else ""
        message = (
            f"declared {kind} in the schema, but the {which} hold text that is not {what}: {shown}{more}"
        )
        issue = ValidationIssue(name, "wrong_type", message)
        raise SchemaValidationError([issue]).with_detail(column=name)
