"""The notebook display of a Profile: one line per column, numbers a person reads at a glance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from loopwise._display import block, pct, table
from loopwise.profiles.categorical import CategoricalProfile
from loopwise.profiles.numeric import NumericProfile
from loopwise.profiles.others import BooleanProfile, DatetimeProfile, TextProfile

if TYPE_CHECKING:
    from loopwise.profiles.profile import Profile

HEADERS = ["column", "kind", "rows", "missing", "mean", "std", "min", "median", "max", "values"]


def _numeric(p: NumericProfile) -> list[Any]:
    if p.count == 0:
        return [None] * 5
    m = p.moments
    median = float(p.quantiles(np.array([0.5]))[0])
    return [m.mean, m.std if p.count > 1 else None, m.min, median, m.max]


def _row(name: str, col: Any) -> list[Any]:
    missing = col.missing + (col.nan if isinstance(col, NumericProfile) else 0)
    head = [name, col.kind.value, col.n, pct(missing / col.n) if col.n else ""]
    if isinstance(col, NumericProfile):
        return [*head, *_numeric(col), ""]
    if isinstance(col, TextProfile):
        return [*head, *_numeric(col.lengths), "lengths (characters)"]
    if isinstance(col, CategoricalProfile):
        freq = sorted(col.frequencies().items(), key=lambda kv: -kv[1])[:3]
        valid = max(col.n - col.missing, 1)
        top = ", ".join(f"{k} ({v / valid:.0%})" for k, v in freq)
        more = " ..." if col.distinct > len(freq) else ""
        return [*head, *[None] * 5, f"{col.distinct:,.0f} distinct: {top}{more}"]
    if isinstance(col, BooleanProfile):
        rate = col.summary()["true_rate"]
        return [*head, *[None] * 5, f"true {pct(rate)}" if rate is not None else ""]
    if isinstance(col, DatetimeProfile):
        s = col.summary()
        return [*head, None, None, s["min"], None, s["max"], ""]
    return [*head, *[None] * 5, ""]


def profile_html(p: Profile) -> str:
    segments = ", ".join(f"{seg} ({len(vals)} values)" for seg, vals in p.segments.items())
    sub = f"{p.n:,} rows, {len(p.columns)} columns" + (f"; segments: {segments}" if segments else "")
    if p.chunks is not None:
        sub += f"; {p.chunks.n_chunks} calibration chunks of {p.chunks.size:,} rows"
    rows = [_row(name, col) for name, col in p.columns.items()]
    return block("Profile", table(HEADERS, rows), subtitle=sub)
