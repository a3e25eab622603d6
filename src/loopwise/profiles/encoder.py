"""Rows as vectors of numbers, for statistics over several columns at once: fixed by the reference.

Numeric columns are taken as they are; booleans as 0/1; a categorical column
becomes the share its category has in the reference (frequency encoding, as
NannyML's data reconstruction does). One coordinate per column keeps every
column's weight equal whatever its number of categories (one-hot encoding
would give a 200-category column 200 coordinates and most of the variance),
and an unseen category encodes as share 0, far from every seen one. What it
cannot see: two categories of equal share trading places (the per-column
chi-square test does).

Missing values are imputed from the reference: a numeric or boolean column's
mean, a categorical column's most frequent category (NannyML's rule); infinite
values count as missing. The encoder is stored with what it encoded (its
``key``), so that summaries made with different encoders are never merged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopwise.errors import DataError, EmptyDataError, ParameterError
from loopwise.profiles.canonical import canonical_keys, value_counts

#: The kinds of column an encoder turns into numbers.
ENCODABLE = ("numeric", "boolean", "categorical")


def numeric_values(arr: pa.ChunkedArray) -> np.ndarray:
    """Float64 values with NaN for null and for +/-inf."""
    if pa.types.is_boolean(arr.type):
        arr = pc.cast(arr, pa.uint8())
    x = np.asarray(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    if not x.flags.writeable:
        x = x.copy()
    x[~np.isfinite(x)] = np.nan
    return x


def category_indices(arr: pa.ChunkedArray) -> tuple[np.ndarray, list[str | None]]:
    """Index of each row's value into the distinct values (-1 for null), and those values' canonical keys."""
    if pa.types.is_dictionary(arr.type):
        arr = pc.cast(arr, arr.type.value_type)
    encoded = pc.dictionary_encode(arr.combine_chunks())
    indices = np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    return indices, canonical_keys(encoded.dictionary)


@dataclass(frozen=True)
class FeatureEncoder:
    """The reference's encoding of ``columns`` (of ``kinds``) as numbers.

    Example:
        >>> import pyarrow as pa
        >>> t = pa.table({"x": [1.0, None, 3.0], "c": ["a", "a", "b"]})
        >>> enc = FeatureEncoder.fit(t, ["x", "c"], ["numeric", "categorical"])
        >>> enc.transform(pa.table({"x": [None], "c": ["b"]})).round(3).tolist()
        [[2.0, 0.333]]
    """

    columns: tuple[str, ...]
    kinds: tuple[str, ...]
    #: Encoded value of a missing entry, per column.
    fill: tuple[float, ...]
    #: Per categorical column: category -> its share of the reference (after imputation).
    frequencies: dict[str, dict[str, float]]

    @classmethod
    def fit(cls, table: pa.Table, columns: Sequence[str], kinds: Sequence[str]) -> FeatureEncoder:
        if len(columns) != len(kinds) or not columns:
            raise ParameterError("columns", list(columns), "one or more columns, each with its kind")
        if table.num_rows == 0:
            raise EmptyDataError("the reference has no rows to fit an encoding on")
        fill: list[float] = []
        freqs: dict[str, dict[str, float]] = {}
        for name, kind in zip(columns, kinds, strict=True):
            if kind not in ENCODABLE:
                raise ParameterError(f"kind of {name!r}", kind, ENCODABLE)
            if name not in table.column_names:
                raise DataError(f"the reference has no column {name!r}")
            arr = table.column(name)
            if kind == "categorical":
                keys, counts = value_counts(arr)
                if not keys:
                    raise EmptyDataError(f"column {name!r} has no values in the reference")
                mode = int(np.argmax(counts))
                counts = counts.astype(np.float64)
                counts[mode] += table.num_rows - counts.sum()  # missing entries become the mode
                share = counts / table.num_rows
                freqs[name] = dict(zip(keys, share.tolist(), strict=True))
                fill.append(float(share[mode]))
            else:
                x = numeric_values(arr)
                if np.isnan(x).all():
                    raise EmptyDataError(f"column {name!r} has no finite values in the reference")
                fill.append(float(np.nanmean(x)))
        return cls(tuple(columns), tuple(kinds), tuple(fill), freqs)

    def transform(self, table: pa.Table) -> np.ndarray:
        """The rows of ``table`` as an (n, d) float64 matrix in this encoding."""
        missing = [c for c in self.columns if c not in table.column_names]
        if missing:
            raise DataError(f"the data lacks column(s) of the reference: {', '.join(missing)}")
        out = np.empty((table.num_rows, len(self.columns)), dtype=np.float64)
        for j, (name, kind) in enumerate(zip(self.columns, self.kinds, strict=True)):
            arr = table.column(name)
            if kind == "categorical":
                indices, keys = category_indices(arr)
                share = self.frequencies[name]
                # An unseen category has share 0; a null (index -1) takes the last entry, the fill.
                col = np.array([share.get(str(k), 0.0) for k in keys] + [self.fill[j]])[indices]
            else:
                col = numeric_values(arr)
                col[np.isnan(col)] = self.fill[j]
            out[:, j] = col
        return out

    @property
    def key(self) -> str:
        """A fingerprint of the encoding: summaries with different keys live in different coordinates."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": list(self.columns),
            "kinds": list(self.kinds),
            "fill": list(self.fill),
            "frequencies": self.frequencies,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureEncoder:
        return cls(
            tuple(d["columns"]),
            tuple(d["kinds"]),
            tuple(float(v) for v in d["fill"]),
            {k: {c: float(s) for c, s in v.items()} for k, v in d["frequencies"].items()},
        )


__all__ = ["ENCODABLE", "FeatureEncoder", "category_indices", "numeric_values"]
