"""Count, mean, variance, min and max, mergeable by Chan et al.'s pairwise formulas."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Moments:
    """Moments of the finite values seen: ``count``, ``mean``, ``m2`` (sum of squared deviations).

    Example:
        >>> a = Moments.of(np.array([1.0, 2.0])); b = Moments.of(np.array([3.0, 4.0, 5.0]))
        >>> m = a.merge(b)
        >>> (m.count, m.mean, m.variance, m.min, m.max)
        (5, 3.0, 2.5, 1.0, 5.0)
    """

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float = math.inf
    max: float = -math.inf

    @classmethod
    def of(cls, values: np.ndarray) -> Moments:
        """Moments of an array of finite values (two passes, for accuracy)."""
        if values.size == 0:
            return cls()
        with np.errstate(over="ignore"):  # values near 1e308 overflow to inf, which is the honest answer
            mean = float(np.mean(values))
            dev = values - mean
            m2 = float(np.dot(dev, dev))
        return cls(
            count=int(values.size),
            mean=mean,
            m2=m2,
            min=float(np.min(values)),
            max=float(np.max(values)),
        )

    def merge(self, other: Moments) -> Moments:
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        n = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * other.count / n
        m2 = self.m2 + other.m2 + delta * delta * self.count * other.count / n
        return Moments(n, mean, m2, min(self.min, other.min), max(self.max, other.max))

    @property
    def variance(self) -> float:
        """Sample variance (ddof=1), NaN below two values."""
        return self.m2 / (self.count - 1) if self.count > 1 else math.nan

    @property
    def std(self) -> float:
        return math.sqrt(self.variance) if self.count > 1 else math.nan

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            "count": self.count,
            "mean": self.mean if self.count else None,
            "m2": self.m2,
            "min": self.min if self.count else None,
            "max": self.max if self.count else None,
        }

    def state(self) -> dict[str, float | int | None]:
        """What a stored profile keeps (format 3): ``to_dict()``, or only the count when there are no values
        (no ``null`` in the file; ``from_dict`` reads both)."""
        return self.to_dict() if self.count else {"count": 0}

    @classmethod
    def from_dict(cls, d: dict[str, float | int | None]) -> Moments:
        if not d.get("count"):
            return cls()
        return cls(
            int(d["count"] or 0),
            float(d["mean"] or 0.0),
            float(d["m2"] or 0.0),
            float(d["min"] if d["min"] is not None else math.inf),
            float(d["max"] if d["max"] is not None else -math.inf),
        )
