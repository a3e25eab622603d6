"""Where each of an event's values falls in the model's reference: a number's percentile, a category's share
(or "new category"), so that a reviewer sees what is unusual about the event. Without a loadable model this
is the workspace's explanation, labelled as such: the features furthest from the reference, not a model's
reasons.

Read from a reference Profile (no rows needed): percentiles from the numeric column's KLL sketch (within
its rank error), shares from the categorical counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from loopwise.profiles import BooleanProfile, CategoricalProfile, NumericProfile, Profile
from loopwise.profiles.canonical import canonical


@dataclass(frozen=True)
class Position:
    """One value against the reference: ``percentile`` (0-100) for a number, ``share`` (0-1) of the
    reference's rows holding it for a category or boolean (0 and ``new`` for a category never seen);
    ``unusual`` in [0, 1], what ``furthest`` sorts by: 0 is the reference's middle or its commonest value."""

    feature: str
    value: Any
    percentile: float | None = None
    share: float | None = None
    new: bool = False
    unusual: float = 0.0

    def __str__(self) -> str:
        if self.value is None:
            return "missing"
        if self.percentile is not None:
            return f"percentile {self.percentile:.0f} of the reference"
        if self.new:
            return "new category (not in the reference)"
        if self.share is not None:
            return f"{self.share:.1%} of the reference"
        return "not in the reference's profile"

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "value": self.value,
            "percentile": self.percentile,
            "share": self.share,
            "new": self.new,
            "unusual": self.unusual,
            "text": str(self),
        }


def positions(reference: Profile, row: dict[str, Any], features: list[str] | None = None) -> list[Position]:
    """Each feature's value of ``row`` against ``reference``, in the order of ``features`` (default: the
    row's keys that the reference profiles).

    Example:
        >>> import numpy as np, pandas as pd, loopwise as lw
        >>> ref = lw.profile(pd.DataFrame({"income": np.arange(1.0, 101.0), "city": ["a"] * 90 + ["b"] * 10}))
        >>> [str(p) for p in positions(ref, {"income": 95.0, "city": "z"})]
        ['percentile 94 of the reference', 'new category (not in the reference)']
    """
    names = [f for f in (features or list(row)) if f in reference.columns]
    return [_position(reference.columns[f], f, row.get(f)) for f in names]


def furthest(reference: Profile, row: dict[str, Any], features: list[str] | None = None) -> list[Position]:
    """``positions`` sorted by how unusual each value is, the most unusual first (ties keep their order)."""
    return sorted(positions(reference, row, features), key=lambda p: -p.unusual)


def _position(col: Any, name: str, value: Any) -> Position:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Position(name, None)
    if isinstance(col, NumericProfile):
        try:
            x = float(value)
        except (TypeError, ValueError):
            return Position(name, value)
        if not math.isfinite(x) or col.count == 0:
            return Position(name, value)
        pct = 100.0 * float(col.cdf(np.array([x]))[0])
        return Position(name, value, percentile=pct, unusual=abs(pct - 50.0) / 50.0)
    if isinstance(col, CategoricalProfile):
        freq = col.frequencies()
        total = sum(freq.values())
        count = freq.get(canonical(value), 0)
        if total == 0:
            return Position(name, value)
        if count == 0:
            return Position(name, value, share=0.0, new=col.exact, unusual=1.0)
        share = count / total
        return Position(name, value, share=share, unusual=1.0 - count / max(freq.values()))
    if isinstance(col, BooleanProfile):
        valid = col.n - col.missing
        if valid == 0:
            return Position(name, value)
        share = (col.true if bool(value) else valid - col.true) / valid
        return Position(name, value, share=share, unusual=1.0 - share)
    return Position(name, value)
