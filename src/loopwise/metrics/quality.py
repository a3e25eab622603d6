"""Data quality of a current against its reference, per column and for the dataset."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopwise.metrics.drift.pairs import CategoricalPair, NumericPair

#: When a quality figure becomes an issue in the report (Suites of Checks will set their own).
QUALITY_THRESHOLDS = {"missing_rate_change": 0.05, "out_of_range_share": 0.01, "new_category_share": 0.0}

#: Low mantissa bits dropped before hashing, so values equal to about 9 significant digits match.
DUPLICATE_DROP_BITS = 20


@dataclass(frozen=True)
class ColumnQuality:
    """Quality figures of one column; None where the kind or the inputs do not allow one."""

    missing_rate_reference: float | None
    missing_rate_current: float | None
    out_of_range_share: float | None = None
    new_categories: tuple[str, ...] = ()
    new_category_share: float | None = None
    constant: bool = False
    violations: tuple[str, ...] = ()

    @property
    def missing_rate_change(self) -> float | None:
        if self.missing_rate_reference is None or self.missing_rate_current is None:
            return None
        return self.missing_rate_current - self.missing_rate_reference

    def issues(self) -> list[str]:
        out = []
        if (self.missing_rate_change or 0) > QUALITY_THRESHOLDS["missing_rate_change"]:
            out.append(f"missing rate up {self.missing_rate_change:.1%}")
        if (self.out_of_range_share or 0) > QUALITY_THRESHOLDS["out_of_range_share"]:
            out.append(f"{self.out_of_range_share:.1%} of values outside the reference range")
        if self.new_categories:
            out.append(
                f"{len(self.new_categories)} new categor{'y' if len(self.new_categories) == 1 else 'ies'}"
                f" ({self.new_category_share:.1%} of rows)"
            )
        if self.constant:
            out.append("constant in the current data")
        out.extend(self.violations)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "missing_rate_reference": self.missing_rate_reference,
            "missing_rate_current": self.missing_rate_current,
            "missing_rate_change": self.missing_rate_change,
            "out_of_range_share": self.out_of_range_share,
            "new_categories": list(self.new_categories[:50]),
            "new_category_count": len(self.new_categories),
            "new_category_share": self.new_category_share,
            "constant": self.constant,
            "violations": list(self.violations),
        }


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def numeric_quality(pair: NumericPair, missing: tuple[float | None, float | None]) -> ColumnQuality:
    lo, hi = _ref_range(pair)
    if pair.cur_sorted is not None:
        s = pair.cur_sorted
        outside = (
            int(np.searchsorted(s, lo, "left") + s.size - np.searchsorted(s, hi, "right")) if s.size else 0
        )
        share = rate(outside, s.size)
        constant = bool(s.size and s[0] == s[-1])
    else:
        cp = pair.cur_profile
        assert cp is not None
        if cp.atoms is not None:
            outside = cp.atoms.below(np.array([lo]))[0] + cp.count - cp.atoms.at_or_below(np.array([hi]))[0]
            share = rate(int(outside), cp.count)
        elif pair.mode == "binned" and cp.hist is not None:
            below, above = cp.hist.out_of_range
            share = rate(below + above, cp.count)
        else:
            f = cp.cdf(np.array([lo, np.nextafter(hi, np.inf)]))
            share = float(f[0] + 1 - f[1]) if cp.count else None
        constant = cp.count > 0 and cp.moments.min == cp.moments.max
    return ColumnQuality(missing[0], missing[1], share, constant=constant)


def _ref_range(pair: NumericPair) -> tuple[float, float]:
    if pair.ref_sorted is not None and pair.ref_sorted.size:
        return float(pair.ref_sorted[0]), float(pair.ref_sorted[-1])
    if pair.ref_profile is not None and pair.ref_profile.count:
        return pair.ref_profile.moments.min, pair.ref_profile.moments.max
    return -np.inf, np.inf


def categorical_quality(pair: CategoricalPair, missing: tuple[float | None, float | None]) -> ColumnQuality:
    new = pair.cur_counts > 0
    new &= pair.ref_counts == 0
    keys = tuple(k for k, flag in zip(pair.keys, new, strict=True) if flag)
    share = float(pair.cur_counts[new].sum() / pair.n_cur) if pair.n_cur else None
    constant = int((pair.cur_counts > 0).sum()) == 1
    return ColumnQuality(
        missing[0], missing[1], new_categories=keys, new_category_share=share, constant=constant
    )


def duplicate_share(table: pa.Table) -> float | None:
    """Share of rows that repeat an earlier row, numerics compared to about 9 significant digits.

    Rows are hashed column by column with a stable hash (never Python's ``hash()``).
    """
    if table.num_rows == 0:
        return None
    h = np.zeros(table.num_rows, dtype=np.uint64)
    odd = np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        for name in table.column_names:
            # Multiplying by an odd constant is a bijection mod 2^64: the column order matters.
            h ^= _column_hash(table.column(name))
            h *= odd
            h ^= h >> np.uint64(29)
    h = _mix(h)
    h.sort()  # a sort and a count of changes: np.unique's hashing is 30x slower here
    distinct = 1 + int(np.count_nonzero(h[1:] != h[:-1]))
    return 1.0 - distinct / int(table.num_rows)


def _column_hash(col: pa.ChunkedArray) -> np.ndarray:
    t = col.type
    with np.errstate(over="ignore"):
        if (
            pa.types.is_integer(t)
            or pa.types.is_floating(t)
            or pa.types.is_boolean(t)
            or pa.types.is_decimal(t)
        ):
            x = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
            x = x + 0.0  # folds -0.0 into 0.0
            bits = x.view(np.uint64) & ~np.uint64((1 << DUPLICATE_DROP_BITS) - 1)
            return np.asarray(np.where(np.isnan(x), np.uint64(0x7FF8), bits), dtype=np.uint64)
        if pa.types.is_timestamp(t) or pa.types.is_date(t):
            ns = pc.cast(pc.cast(col, pa.timestamp("ns", tz=getattr(t, "tz", None))), pa.int64())
            return np.asarray(ns.fill_null(0).to_numpy(zero_copy_only=False)).view(np.uint64)
        enc = pc.dictionary_encode(pc.cast(col, pa.string()).combine_chunks())
        digests = np.array(
            [
                int.from_bytes(hashlib.blake2b(str(v).encode(), digest_size=8).digest(), "little")
                for v in enc.dictionary.to_pylist()
            ]
            + [0],
            dtype=np.uint64,
        )
        idx = enc.indices.fill_null(len(enc.dictionary)).to_numpy(zero_copy_only=False)
        return np.asarray(digests[np.asarray(idx)], dtype=np.uint64)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finalizer: spreads bits so XOR-combined column hashes do not collide."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return np.asarray(x ^ (x >> np.uint64(31)), dtype=np.uint64)
