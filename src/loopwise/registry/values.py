"""A paired comparison's columns of values (predictions, labels) as arrays, not Python lists (decision 0058).

A column is an Arrow array when its values have one plain type (boolean, 64-bit integer, float64 or string):
the types ``to_pylist`` then ``pa.array`` would have given, so the gate's tables are what they were. Values of
mixed kinds (a label ``"maybe"`` among booleans), nested ones or integers past 64 bits have no such type:
they are a NumPy object array of the Python values, as the lists held them, and take the old per-value paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopwise.profiles.canonical import canonical_array

#: One value per paired event: an Arrow array of a plain type, else a NumPy object array of Python values.
Values: TypeAlias = pa.Array | np.ndarray


def plain(arr: pa.Array | pa.ChunkedArray) -> Values:
    """``arr`` with the type ``pa.array(arr.to_pylist())`` infers (dictionaries decoded, integers as int64,
    floats as float64), or, for any other type, the Python values in an object array."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = pc.cast(arr, arr.type.value_type)
    t = arr.type
    if pa.types.is_boolean(t) or pa.types.is_string(t):
        return arr
    if pa.types.is_large_string(t):
        return pc.cast(arr, pa.string())
    if pa.types.is_integer(t) and not pa.types.is_uint64(t):
        return pc.cast(arr, pa.int64())
    if pa.types.is_floating(t):
        return pc.cast(arr, pa.float64())
    if pa.types.is_null(t):
        return arr
    return objects(arr.to_pylist())


def objects(values: Sequence[Any]) -> np.ndarray:
    """Python values in a one-dimensional object array (lists stay values, not a second dimension)."""
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def from_python(values: Sequence[Any]) -> Values:
    """Python values as a column: Arrow when they have one plain type, else an object array of them."""
    try:
        arr = pa.array(values)
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        return objects(values)
    if isinstance(arr, pa.ChunkedArray):  # very large inputs
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_boolean(t) or pa.types.is_int64(t) or pa.types.is_float64(t) or pa.types.is_string(t):
        return arr
    if pa.types.is_null(t):
        return arr
    return objects(values)


def valid(col: Values) -> np.ndarray:
    """Where a value is not None (NaN is a value, as the lists had it)."""
    if isinstance(col, np.ndarray):
        return np.fromiter((v is not None for v in col), bool, len(col))
    return np.asarray(col.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def take(col: Values, at: np.ndarray) -> Values:
    if isinstance(col, np.ndarray):
        return col[at]
    return col.take(pa.array(np.asarray(at, dtype=np.int64)))


def to_list(col: Values) -> list[Any]:
    out: list[Any] = col.tolist() if isinstance(col, np.ndarray) else col.to_pylist()
    return out


def for_library(col: Values) -> Any:
    """What ``compare_models`` is given: NumPy for an Arrow column (no nulls: labelled events only), the
    Python list for an object column (its arrays are made as from the lists before)."""
    if isinstance(col, np.ndarray):
        return col.tolist()
    if pa.types.is_null(col.type):
        return col.to_pylist()
    return col.to_numpy(zero_copy_only=False)


def keys(col: Values) -> pa.Array:
    """Each value's canonical key (``canonical_array``'s), null for None, in Arrow for plain columns."""
    if isinstance(col, np.ndarray):
        return canonical_array(col.tolist())
    t = col.type
    if pa.types.is_boolean(t):
        return pc.if_else(col, pa.scalar("true"), pa.scalar("false"))
    if pa.types.is_integer(t):
        return pc.cast(col, pa.string())
    if pa.types.is_string(t):
        return col
    return canonical_array(col.to_pylist())


def where(own: np.ndarray, mine: Values, theirs: Values) -> Values:
    """``mine`` where ``own``, else ``theirs``: in Arrow when both are of one type."""
    if isinstance(mine, pa.Array) and isinstance(theirs, pa.Array):
        if mine.type == theirs.type:
            return pc.if_else(pa.array(own, pa.bool_()), mine, theirs)
        if pa.types.is_null(mine.type) and not own.any():
            return theirs
        if pa.types.is_null(theirs.type) and own.all():
            return mine
    a, b = to_list(mine), to_list(theirs)
    return from_python([m if f else o for m, o, f in zip(a, b, own.tolist(), strict=True)])
