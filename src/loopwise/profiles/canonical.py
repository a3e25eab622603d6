"""Canonical string form of category values, so that 1, 1.0, numpy.int64(1) and b"1" are one key.

Sketches and stored counts are keyed by these strings, never by Python's salted ``hash()``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def canonical(value: Any) -> str:
    """The canonical key of one category value.

    Example:
        >>> [canonical(v) for v in (1, 1.0, np.int64(1), b"1", True, "x")]
        ['1', '1', '1', '1', 'true', 'x']
    """
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isfinite(f) and f.is_integer():
            return str(int(f))
        return repr(f)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def canonical_array(values: Any) -> pa.Array:
    """The canonical key of every value of a sequence, as an Arrow string array (null for None): in Arrow
    for values of one simple kind (booleans, integers, strings), value by value for anything else (floats,
    bytes, mixed kinds), so the keys are ``canonical``'s either way. A million booleans: 0.05 s, where a
    ``canonical`` call each took 1.9 s.

    Example:
        >>> canonical_array([True, None, np.True_]).to_pylist()
        ['true', None, 'true']
        >>> canonical_array([1, 1.0, "a"]).to_pylist()
        ['1', '1', 'a']
    """
    kinds = set(map(type, values)) - {type(None)}
    try:
        if kinds and all(issubclass(k, (bool, np.bool_)) for k in kinds):
            return pc.if_else(pa.array(values, pa.bool_()), pa.scalar("true"), pa.scalar("false"))
        if kinds and all(issubclass(k, (int, np.integer)) and not issubclass(k, bool) for k in kinds):
            return pc.cast(pa.array(values), pa.string())
        if kinds <= {str}:
            return pa.array(values, pa.string())
    except (pa.ArrowException, OverflowError):  # integers past 64 bits: one by one
        pass
    return pa.array([None if v is None else canonical(v) for v in values], pa.string())


def canonical_keys(arr: pa.ChunkedArray | pa.Array) -> list[str | None]:
    """The canonical key of every value (None for a null); strings are their own keys, so no per-value call.

    Example:
        >>> canonical_keys(pa.array([1, None, 2]))
        ['1', None, '2']
    """
    if pa.types.is_dictionary(arr.type):
        arr = pc.cast(arr, arr.type.value_type)
    values: list[Any] = arr.to_pylist()
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        return values
    return [canonical(v) if v is not None else None for v in values]


def value_counts(arr: pa.ChunkedArray | pa.Array) -> tuple[list[str], np.ndarray]:
    """Distinct non-null values (canonical keys) and their counts, counted in Arrow."""
    if pa.types.is_dictionary(arr.type):
        arr = pc.cast(arr, arr.type.value_type)
    vc = pc.value_counts(arr)
    values = vc.field("values")
    counts = vc.field("counts").to_numpy(zero_copy_only=False).astype(np.int64)
    valid = values.is_valid().to_numpy(zero_copy_only=False)
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        keys = values.to_pylist()
    else:
        keys = [canonical(v) if v is not None else None for v in values.to_pylist()]
    if not valid.all():
        keys = [k for k, ok in zip(keys, valid, strict=True) if ok]
        counts = counts[valid]
    if len(set(keys)) != len(keys):  # e.g. floats 1.0 and 1 folded into one key
        merged: dict[str, int] = {}
        for k, c in zip(keys, counts.tolist(), strict=True):
            merged[k] = merged.get(k, 0) + c
        keys, counts = list(merged), np.fromiter(merged.values(), dtype=np.int64)
    return keys, counts
