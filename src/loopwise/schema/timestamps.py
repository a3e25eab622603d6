"""Times, converted once at the edge: whatever form a column's times come in, UTC microseconds out.

A column whose schema says ``timestamp`` (role) or ``datetime`` (kind) may hold:

- Arrow/pandas/Polars timestamps of any unit, naive (taken as UTC) or with a zone (converted to UTC);
  dates (midnight UTC); a pandas column of Python ``datetime`` objects;
- ISO 8601 strings, with a zone offset (``Z``, ``+02:00``) or all without one (taken as UTC);
- epoch numbers (integers or floats) in seconds, milliseconds, microseconds or nanoseconds: the unit the
  column declares (``unit: ms``), else the one their magnitude implies (see ``EPOCH_BANDS``).

Refused, with a one-line message naming the column: strings that do not parse, a column mixing strings
with and without a zone, numbers whose magnitude fits no unit or several, and times outside the years
1-9999 (which a timestamp[s] column can hold but microseconds, and Python, cannot: such a value must not
wrap around to some other time).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopwise.errors import DataError

#: The unit, given the largest absolute epoch value of a column: times from 1973 to 2286 in each unit.
#: A column whose values fall between bands (say 5e10: the year 3554 in seconds, or 1971 in milliseconds)
#: is ambiguous and refused; declare ``unit`` in the schema for times outside these years.
EPOCH_BANDS = (("s", 1e8, 1e10), ("ms", 1e11, 1e13), ("us", 1e14, 1e16), ("ns", 1e17, 1e19))
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
UTC_US = pa.timestamp("us", tz="UTC")
#: The times a stored event may have: what Python's datetime can hold, so every read can answer.
MIN_US = int(np.datetime64("0001-01-01T00:00:00", "us").astype(np.int64))
MAX_US = int(np.datetime64("9999-12-31T23:59:59.999999", "us").astype(np.int64))


def to_utc_us(arr: pa.Array | pa.ChunkedArray, column: str, unit: str | None = None) -> pa.ChunkedArray:
    """``arr`` as ``timestamp[us, tz=UTC]`` (nulls kept), or ``DataError`` saying why it cannot be.

    Example:
        >>> import pyarrow as pa
        >>> [t.isoformat() for t in to_utc_us(pa.array(["2026-03-01T12:00:00+01:00"]), "ts").to_pylist()]
        ['2026-03-01T11:00:00+00:00']
        >>> [t.isoformat() for t in to_utc_us(pa.array([1_772_366_400_000]), "ts").to_pylist()]  # ms
        ['2026-03-01T12:00:00+00:00']
    """
    chunked = arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr])
    t = chunked.type
    if pa.types.is_dictionary(t):
        chunked = pc.cast(chunked, t.value_type)
        t = t.value_type
    if pa.types.is_null(t):
        return pa.chunked_array([pa.nulls(len(chunked), UTC_US)])
    # Only microsecond timestamps and numbers can reach past the year 9999 without an error on the way:
    # a coarser unit's overflow fails its cast, nanoseconds end in 2262, ISO strings have four-digit years.
    if pa.types.is_timestamp(t):
        out = _from_timestamps(chunked, column)
        return _in_range(out, column) if t.unit == "us" else out
    if pa.types.is_date(t):
        try:
            return pc.cast(pc.cast(chunked, pa.timestamp("us")), UTC_US)
        except pa.ArrowInvalid:
            raise DataError(f"column {column!r}: times outside the years 1-9999 cannot be stored") from None
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return _from_strings(chunked, column)
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return _in_range(_from_numbers(chunked, column, unit), column)
    raise DataError(f"column {column!r}: expected times, got Arrow type {t}")


def epoch_unit(values: np.ndarray, column: str) -> str:
    """The unit the magnitude of epoch numbers implies (``EPOCH_BANDS``), or ``DataError`` if none or two."""
    finite = np.abs(values[np.isfinite(values)])
    if finite.size == 0:
        return "s"  # all missing: any unit reads them the same
    top = float(finite.max())
    for name, low, high in EPOCH_BANDS:
        if low <= top < high:
            return name
    raise DataError(
        f"column {column!r}: epoch numbers up to {top:.6g} fit no unit unambiguously (seconds, milliseconds, "
        "microseconds and nanoseconds cover 1973-2286 at 1e8-1e10, 1e11-1e13, 1e14-1e16, 1e17-1e19); "
        "declare the column's unit in the schema (unit: s, ms, us or ns)"
    )


def _from_timestamps(chunked: pa.ChunkedArray, column: str) -> pa.ChunkedArray:
    t = chunked.type
    if t == UTC_US:
        return chunked
    try:
        # One cast: a zone converts and naive times are taken as UTC (Arrow keeps UTC values either way);
        # finer units lose digits (kept to the microsecond); coarser ones may not fit: refuse those.
        return pc.cast(chunked, UTC_US, safe=t.unit != "ns")
    except pa.ArrowInvalid:
        raise DataError(f"column {column!r}: times outside the years 1-9999 cannot be stored") from None


def _from_strings(chunked: pa.ChunkedArray, column: str) -> pa.ChunkedArray:
    valid = chunked.drop_null()
    if len(valid) == 0:
        return pa.chunked_array([pa.nulls(len(chunked), UTC_US)])
    # A zone offset ends the string: "Z", or +hh:mm / -hhmm after the time of day.
    zoned = pc.match_substring_regex(valid, r"(Z|z|[+-]\d{2}:?\d{2})$")
    has_zone = pc.any(zoned).as_py()
    if has_zone and not pc.all(zoned).as_py():
        first = valid.filter(pc.invert(zoned))[0].as_py()
        if not _parses(first, pa.timestamp("us")):
            raise DataError(
                f"column {column!r}: {first!r} is not an ISO 8601 time (like 2026-03-01T12:00:00Z)"
            )
        raise DataError(
            f"column {column!r}: some times have a zone offset and some do not (first without: {first!r}); "
            "give every time a zone, or none (then they are UTC)"
        )
    target = UTC_US if has_zone else pa.timestamp("us")
    try:
        return pc.cast(pc.cast(chunked, target), UTC_US)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        rows, values = unparsed(chunked, target)
        shown = ", ".join(map(str, rows[:ROWS_LISTED].tolist()))
        more = f" (+{len(rows) - ROWS_LISTED} more)" if len(rows) > ROWS_LISTED else ""
        message = (
            f"{'not an ISO 8601 time' if len(rows) == 1 else 'not ISO 8601 times'} "
            f"(like 2026-03-01T12:00:00Z): {', '.join(map(repr, values))}"
        )
        where = f"row {shown}" if len(rows) == 1 else f"rows {shown}{more}"
        raise DataError(f"column {column!r}, {where}: {message}").with_detail(
            rows=rows[:ROWS_LISTED].tolist(), count=len(rows), reason=message
        ) from None


#: Rows an error lists (the count says how many more), and distinct bad strings it quotes.
ROWS_LISTED = 10
VALUES_QUOTED = 3
#: Distinct unreadable strings searched for before giving up on finding the rest (each costs a few casts).
BAD_VALUES_SEARCHED = 100


def unparsed(chunked: pa.ChunkedArray, target: pa.DataType) -> tuple[np.ndarray, list[str]]:
    """The 0-based rows whose string does not cast to ``target``, and the first distinct such strings.

    The column's distinct strings are halved until each failing cast is one string: a few casts per bad
    value instead of a Python call per row (a file with one bad time among a million reads in
    milliseconds). After ``BAD_VALUES_SEARCHED`` distinct bad strings the rest are not looked for."""
    distinct = pc.unique(chunked.drop_null().combine_chunks())
    bad: list[str] = []

    def search(part: pa.Array) -> None:
        if len(bad) >= BAD_VALUES_SEARCHED:
            return
        try:
            part.cast(target)
            return
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        if len(part) == 1:
            bad.append(part[0].as_py())
            return
        half = len(part) // 2
        search(part.slice(0, half))
        search(part.slice(half))

    search(distinct)
    found = pc.fill_null(pc.is_in(chunked, value_set=pa.array(bad, chunked.type)), False)
    rows = np.flatnonzero(found.to_numpy(zero_copy_only=False))
    first = chunked.take(pa.array(rows)).to_pylist()
    return rows, list(dict.fromkeys(first))[:VALUES_QUOTED]


def _parses(value: str, target: pa.DataType) -> bool:
    try:
        pa.array([value]).cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _from_numbers(chunked: pa.ChunkedArray, column: str, unit: str | None) -> pa.ChunkedArray:
    values = (
        chunked.to_numpy().astype(np.float64)
        if chunked.null_count == 0
        else np.asarray(
            pc.fill_null(pc.cast(chunked, pa.float64()), np.nan).to_numpy(zero_copy_only=False),
            dtype=np.float64,
        )
    )
    if np.isinf(values).any():
        raise DataError(f"column {column!r}: an infinite epoch number is not a time")
    unit = unit or epoch_unit(values, column)
    per_us = _PER_SECOND[unit] / 1_000_000
    if pa.types.is_integer(chunked.type) and chunked.null_count == 0:
        raw = chunked.to_numpy().astype(np.int64)
        if unit == "ns":
            us = raw // 1_000
        else:
            scale = 1_000_000 // _PER_SECOND[unit]
            limit = np.iinfo(np.int64).max // scale
            if (np.abs(raw) > limit).any():
                raise DataError(f"column {column!r}: times outside the years 1-9999 cannot be stored")
            us = raw * scale
        return pa.chunked_array([pa.array(us, pa.int64()).cast(UTC_US)])
    scaled = values / per_us
    missing = np.isnan(scaled)
    if (np.abs(scaled[~missing]) >= 2**63).any():
        raise DataError(f"column {column!r}: times outside the years 1-9999 cannot be stored")
    us = np.where(missing, 0, np.round(scaled)).astype(np.int64)
    return pa.chunked_array([pa.array(us, pa.int64(), mask=missing).cast(UTC_US)])


def _in_range(out: pa.ChunkedArray, column: str) -> pa.ChunkedArray:
    if len(out) == out.null_count:
        return out
    bounds = pc.min_max(out)
    if bounds["min"].value < MIN_US or bounds["max"].value > MAX_US:
        raise DataError(f"column {column!r}: times outside the years 1-9999 cannot be stored")
    return out
