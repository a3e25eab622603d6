"""Profiles of boolean, text and datetime columns (small, built from the numeric and categorical ones)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopwise.profiles.categorical import _new_hll, _union
from loopwise.profiles.numeric import NumericProfile
from loopwise.schema.columns import Kind


@dataclass
class BooleanProfile:
    """Counts of true, false and missing."""

    n: int = 0
    missing: int = 0
    true: int = 0

    kind = Kind.BOOLEAN

    @classmethod
    def empty(cls) -> BooleanProfile:
        return cls()

    def update(self, arr: pa.ChunkedArray | pa.Array) -> None:
        if not pa.types.is_boolean(arr.type):
            arr = pc.cast(arr, pa.bool_())
        self.n += len(arr)
        self.missing += arr.null_count
        self.true += int(pc.sum(arr).as_py() or 0)

    def merge(self, other: BooleanProfile) -> BooleanProfile:
        return BooleanProfile(self.n + other.n, self.missing + other.missing, self.true + other.true)

    @property
    def valid(self) -> int:
        return self.n - self.missing

    @property
    def false(self) -> int:
        return self.valid - self.true

    def summary(self) -> dict[str, Any]:
        rate = self.true / self.valid if self.valid else None
        return {
            "kind": self.kind.value,
            "n": self.n,
            "missing": self.missing,
            "true": self.true,
            "true_rate": rate,
        }

    def to_state(self) -> tuple[dict[str, Any], list[bytes]]:
        return {"n": self.n, "missing": self.missing, "true": self.true}, []

    @classmethod
    def from_state(cls, meta: dict[str, Any], blobs: list[bytes]) -> BooleanProfile:
        return cls(int(meta["n"]), int(meta["missing"]), int(meta["true"]))


@dataclass
class TextProfile:
    """Lengths (as a numeric profile), the empty-string count, and distinct values (HLL)."""

    n: int = 0
    missing: int = 0
    empty_count: int = 0
    lengths: NumericProfile = field(default_factory=NumericProfile)
    hll: Any = None

    kind = Kind.TEXT

    def __post_init__(self) -> None:
        if self.hll is None:
            self.hll = _new_hll()

    @classmethod
    def empty(cls, edges: np.ndarray | None = None) -> TextProfile:
        return cls(lengths=NumericProfile.empty(edges))

    def update(self, arr: pa.ChunkedArray | pa.Array) -> None:
        lengths = pc.utf8_length(arr)
        self.n += len(arr)
        self.missing += arr.null_count
        self.empty_count += int(pc.sum(pc.equal(lengths, 0)).as_py() or 0)
        self.lengths.update(lengths.drop_null())
        for v in pc.unique(arr.drop_null()).to_pylist():
            self.hll.update(v)

    def merge(self, other: TextProfile) -> TextProfile:
        return TextProfile(
            self.n + other.n,
            self.missing + other.missing,
            self.empty_count + other.empty_count,
            self.lengths.merge(other.lengths),
            _union(self.hll, other.hll),
        )

    def summary(self) -> dict[str, Any]:
        valid = self.n - self.missing
        return {
            "kind": self.kind.value,
            "n": self.n,
            "missing": self.missing,
            "empty_rate": self.empty_count / valid if valid else None,
            "mean_length": self.lengths.moments.mean if self.lengths.count else None,
            "distinct": float(self.hll.get_estimate()),
        }

    def to_state(self) -> tuple[dict[str, Any], list[bytes]]:
        meta, blobs = self.lengths.to_state()
        return (
            {"n": self.n, "missing": self.missing, "empty": self.empty_count, "lengths": meta},
            [bytes(self.hll.serialize_compact()), *blobs],
        )

    @classmethod
    def from_state(cls, meta: dict[str, Any], blobs: list[bytes]) -> TextProfile:
        import datasketches as ds

        return cls(
            int(meta["n"]),
            int(meta["missing"]),
            int(meta["empty"]),
            NumericProfile.from_state(meta["lengths"], blobs[1:]),
            ds.hll_sketch.deserialize(blobs[0]),
        )


def _iso(seconds: float) -> str:
    return str(np.datetime_as_string(np.datetime64(int(seconds * 1e6), "us"))) + "Z"


def epoch_seconds(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Non-null timestamps or dates as float seconds since the epoch (UTC)."""
    if pa.types.is_date(arr.type):
        arr = pc.cast(arr, pa.timestamp("s"))
    tz = getattr(arr.type, "tz", None)
    ns = pc.cast(pc.cast(arr.drop_null(), pa.timestamp("ns", tz=tz)), pa.int64())
    return np.asarray(ns.to_numpy(zero_copy_only=False), dtype=np.float64) / 1e9


def _seconds() -> NumericProfile:
    return NumericProfile(bins=0)


@dataclass
class DatetimeProfile:
    """Timestamps as seconds since the epoch (UTC), summarised as a numeric profile without a histogram.

    Its range, moments, quantile sketch and (few distinct times) exact counts. Not a histogram: its edges
    would be the column's own quantiles, which no other profile's merge with (a window of two hourly
    buckets dropped them), and no reader used one (datetime columns are not compared for drift); a
    backfilled bucket spent a third of its profiling on them, and 84 KB of each one's bytes (decision 0021).
    Profiles written with one still read, and merge with these into one without.
    """

    n: int = 0
    missing: int = 0
    seconds: NumericProfile = field(default_factory=_seconds)

    kind = Kind.DATETIME

    @classmethod
    def empty(cls) -> DatetimeProfile:
        return cls()

    def update(self, arr: pa.ChunkedArray | pa.Array) -> None:
        self.n += len(arr)
        self.missing += arr.null_count
        self.seconds.update(epoch_seconds(arr))

    @classmethod
    def merge_all(cls, profiles: list[DatetimeProfile]) -> DatetimeProfile:
        return cls(
            sum(p.n for p in profiles),
            sum(p.missing for p in profiles),
            NumericProfile.merge_all([p.seconds for p in profiles]),
        )

    def merge(self, other: DatetimeProfile) -> DatetimeProfile:
        return DatetimeProfile.merge_all([self, other])

    def summary(self) -> dict[str, Any]:
        m = self.seconds.moments
        return {
            "kind": self.kind.value,
            "n": self.n,
            "missing": self.missing,
            "min": _iso(m.min) if m.count else None,
            "max": _iso(m.max) if m.count else None,
        }

    def to_state(self) -> tuple[dict[str, Any], list[bytes]]:
        meta, blobs = self.seconds.to_state()
        return {"n": self.n, "missing": self.missing, "seconds": meta}, blobs

    @classmethod
    def from_state(cls, meta: dict[str, Any], blobs: list[bytes]) -> DatetimeProfile:
        return cls(int(meta["n"]), int(meta["missing"]), NumericProfile.from_state(meta["seconds"], blobs))
