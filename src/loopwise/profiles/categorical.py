"""The profile of a categorical column: exact counts up to a cap, then a frequent-items sketch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import datasketches as ds
import pyarrow as pa

from loopwise.profiles.canonical import value_counts
from loopwise.profiles.compact import dump_json, load_json
from loopwise.schema.columns import Kind

#: Distinct categories counted exactly before the profile switches to a frequent-items sketch.
DEFAULT_CAP = 1000
#: log2 of the frequent-items sketch's map size; error about 3.5/2^lg of the total weight.
FI_LG_MAX_K = 10
HLL_LG_K = 12


def _new_hll() -> Any:
    return ds.hll_sketch(HLL_LG_K, ds.tgt_hll_type.HLL_8)


def _union(*sketches: Any) -> Any:
    u = ds.hll_union(HLL_LG_K)
    for s in sketches:
        u.update(s)
    return u.get_result(ds.tgt_hll_type.HLL_8)


@dataclass
class CategoricalProfile:
    """Mergeable summary of a categorical column.

    ``counts`` is exact while the column has at most ``cap`` distinct values;
    past that, ``items`` (a DataSketches frequent-items sketch) keeps the
    heavy hitters with a stated error, and ``hll`` the distinct count.
    """

    cap: int = DEFAULT_CAP
    n: int = 0
    missing: int = 0
    counts: dict[str, int] | None = field(default_factory=dict)
    items: Any = None
    hll: Any = None

    kind = Kind.CATEGORICAL

    def __post_init__(self) -> None:
        if self.hll is None:
            self.hll = _new_hll()

    @classmethod
    def empty(cls, *, cap: int = DEFAULT_CAP) -> CategoricalProfile:
        return cls(cap=cap)

    def update(self, arr: pa.ChunkedArray | pa.Array) -> None:
        keys, counts = value_counts(arr)
        self.n += len(arr)
        self.missing += arr.null_count
        for k in keys:
            self.hll.update(k)
        self._add(keys, counts.tolist())

    def _add(self, keys: list[str], counts: list[int]) -> None:
        if self.counts is not None:
            for k, c in zip(keys, counts, strict=True):
                self.counts[k] = self.counts.get(k, 0) + c
            if len(self.counts) > self.cap:
                self._to_sketch()
        else:
            for k, c in zip(keys, counts, strict=True):
                self.items.update(k, c)

    def _to_sketch(self) -> None:
        assert self.counts is not None
        self.items = ds.frequent_strings_sketch(FI_LG_MAX_K)
        for k, c in self.counts.items():
            self.items.update(k, c)
        self.counts = None

    def merge(self, other: CategoricalProfile) -> CategoricalProfile:
        out = CategoricalProfile(
            cap=self.cap,
            n=self.n + other.n,
            missing=self.missing + other.missing,
            hll=_union(self.hll, other.hll),
        )
        for side in (self, other):
            if side.counts is not None:
                out._add(list(side.counts), list(side.counts.values()))
            else:
                if out.counts is not None:
                    out._to_sketch()
                out.items.merge(side.items)
        return out

    # -- reading ------------------------------------------------------------------------------
    @property
    def exact(self) -> bool:
        return self.counts is not None

    @property
    def valid(self) -> int:
        return self.n - self.missing

    @property
    def distinct(self) -> float:
        """Distinct categories: exact while counted exactly, else the HLL estimate."""
        return float(len(self.counts)) if self.counts is not None else float(self.hll.get_estimate())

    @property
    def count_error(self) -> float:
        """Largest possible error of any single category's count (0 when exact)."""
        return 0.0 if self.counts is not None else float(self.items.epsilon * self.items.total_weight)

    def frequencies(self) -> dict[str, int]:
        """Counts per category: exact, or the sketch's estimates of its heavy hitters."""
        if self.counts is not None:
            return dict(self.counts)
        rows = self.items.get_frequent_items(ds.frequent_items_error_type.NO_FALSE_NEGATIVES)
        return {item: int(est) for item, est, _lo, _hi in rows}

    def summary(self) -> dict[str, Any]:
        top = sorted(self.frequencies().items(), key=lambda kv: -kv[1])[:10]
        return {
            "kind": self.kind.value,
            "n": self.n,
            "missing": self.missing,
            "distinct": self.distinct,
            "exact": self.exact,
            "top": dict(top),
        }

    # -- serialization ------------------------------------------------------------------------
    def to_state(self) -> tuple[dict[str, Any], list[bytes]]:
        blobs = [bytes(self.hll.serialize_compact())]
        if self.counts is not None:
            blobs.append(dump_json(self.counts))  # the JSON the standard library wrote, faster
        else:
            blobs.append(bytes(self.items.serialize()))
        meta = {
            "cap": self.cap,
            "n": self.n,
            "missing": self.missing,
            "exact": self.counts is not None,
        }
        return meta, blobs

    @classmethod
    def from_state(cls, meta: dict[str, Any], blobs: list[bytes]) -> CategoricalProfile:
        out = cls(
            cap=int(meta["cap"]),
            n=int(meta["n"]),
            missing=int(meta["missing"]),
            hll=ds.hll_sketch.deserialize(blobs[0]),
        )
        if meta["exact"]:
            counts = load_json(blobs[1])
            if not isinstance(counts, dict):
                raise ValueError("category counts must be a mapping")
            out.counts = {str(k): int(v) for k, v in counts.items()}
        else:
            out.counts = None
            out.items = ds.frequent_strings_sketch.deserialize(blobs[1])
        return out
