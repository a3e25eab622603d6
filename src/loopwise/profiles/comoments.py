"""Count, mean vector and co-moment matrix of vectors: how columns move together, mergeable.

The multivariate counterpart of ``Moments``: ``m2`` is the sum of the outer
products of the deviations from the mean, merged by Chan et al.'s pairwise
formula (M2 = M2a + M2b + d d' na nb / n, d the difference of the means), so
that merging the summaries of two halves equals summarising the whole, to
rounding. From it come the covariance (hence a PCA) of a reference, and the
mean squared distance of a chunk to any affine subspace, without the rows.

Bytes: ``b"LWCM"``, the format version (uint16), a JSON header (columns,
count, the encoder key), then the mean and the matrix as little-endian float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from loopwise.errors import DataError, ProfileFormatError
from loopwise.profiles.framing import damaged, frame, unframe

MAGIC = b"LWCM"
FORMAT_VERSION = 1


@dataclass
class CoMoments:
    """Moments of the rows seen, in the coordinates ``columns`` of the encoder ``anchor``.

    Example:
        >>> import numpy as np
        >>> x = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 5.0], [4.0, 4.0]])
        >>> m = CoMoments.of(x[:1], ["a", "b"]).merge(CoMoments.of(x[1:], ["a", "b"]))
        >>> bool(np.allclose(m.covariance(), np.cov(x, rowvar=False))), m.count
        (True, 4)
    """

    columns: tuple[str, ...]
    count: int = 0
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    m2: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    anchor: str = ""

    def __post_init__(self) -> None:
        self.columns = tuple(self.columns)
        d = len(self.columns)
        if self.mean.shape != (d,):
            self.mean = np.zeros(d) if self.count == 0 else self.mean
        if self.m2.shape != (d, d):
            self.m2 = np.zeros((d, d)) if self.count == 0 else self.m2
        if self.mean.shape != (d,) or self.m2.shape != (d, d):
            raise DataError(f"co-moments of {d} columns need a mean of {d} and a {d} x {d} matrix")

    @classmethod
    def empty(cls, columns: Sequence[str], anchor: str = "") -> CoMoments:
        return cls(tuple(columns), anchor=anchor)

    @classmethod
    def of(cls, x: np.ndarray, columns: Sequence[str], anchor: str = "") -> CoMoments:
        """The moments of the rows of ``x`` (n, d), two passes for accuracy."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(columns):
            raise DataError(f"expected rows of {len(columns)} values; got an array of shape {x.shape}")
        if x.shape[0] == 0:
            return cls.empty(columns, anchor)
        if not np.isfinite(x).all():
            raise DataError("co-moments need finite values; encode (impute) the rows first")
        mean = x.mean(axis=0)
        dev = x - mean
        return cls(tuple(columns), int(x.shape[0]), mean, dev.T @ dev, anchor)

    def update(self, x: np.ndarray) -> None:
        """Add the rows of ``x`` (n, d)."""
        merged = self.merge(CoMoments.of(x, self.columns, self.anchor))
        self.count, self.mean, self.m2 = merged.count, merged.mean, merged.m2

    def merge(self, other: CoMoments) -> CoMoments:
        """The moments of both sets of rows (pure; associative and commutative to rounding)."""
        if other.columns != self.columns or other.anchor != self.anchor:
            raise DataError(
                "cannot merge co-moments of different columns or encodings "
                f"({len(self.columns)} columns, encoding {self.anchor or '-'} vs "
                f"{len(other.columns)} columns, encoding {other.anchor or '-'})"
            )
        if other.count == 0:
            return CoMoments(self.columns, self.count, self.mean.copy(), self.m2.copy(), self.anchor)
        if self.count == 0:
            return CoMoments(other.columns, other.count, other.mean.copy(), other.m2.copy(), other.anchor)
        n = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / n)
        m2 = self.m2 + other.m2 + np.outer(delta, delta) * (self.count * other.count / n)
        return CoMoments(self.columns, n, mean, m2, self.anchor)

    def without(self, part: CoMoments) -> CoMoments:
        """The moments of these rows less ``part``'s (which must be among them): Chan's merge undone.

        Example:
            >>> x = np.arange(12.0).reshape(6, 2) ** 2
            >>> whole, head = CoMoments.of(x, ["a", "b"]), CoMoments.of(x[:2], ["a", "b"])
            >>> bool(np.allclose(whole.without(head).m2, CoMoments.of(x[2:], ["a", "b"]).m2))
            True
        """
        if part.columns != self.columns or part.anchor != self.anchor or part.count > self.count:
            raise DataError("the part is not among these rows (other columns, encoding, or more rows)")
        n = self.count - part.count
        if n == 0:
            return CoMoments.empty(self.columns, self.anchor)
        if part.count == 0:
            return CoMoments(self.columns, self.count, self.mean.copy(), self.m2.copy(), self.anchor)
        mean = (self.mean * self.count - part.mean * part.count) / n
        delta = mean - part.mean
        m2 = self.m2 - part.m2 - np.outer(delta, delta) * (part.count * n / self.count)
        return CoMoments(self.columns, n, mean, m2, self.anchor)

    def covariance(self, ddof: int = 1) -> np.ndarray:
        """The covariance matrix (``ddof=1``: numpy.cov's; ``ddof=0``: the population's)."""
        if self.count <= ddof:
            return np.full_like(self.m2, np.nan)
        out: np.ndarray = self.m2 / (self.count - ddof)
        return out

    def to_bytes(self) -> bytes:
        head = {"columns": list(self.columns), "count": self.count, "anchor": self.anchor}
        body = self.mean.astype("<f8").tobytes() + self.m2.astype("<f8").tobytes()
        return frame(MAGIC, FORMAT_VERSION, head, body)

    @classmethod
    def from_bytes(cls, data: bytes) -> CoMoments:
        head, body = unframe(data, MAGIC, FORMAT_VERSION, "loopwise co-moments")
        with damaged("loopwise co-moments"):
            d = len(head["columns"])
            if len(body) != 8 * (d + d * d):
                raise ProfileFormatError("the co-moments are truncated or have trailing bytes")
            mean = np.frombuffer(body, "<f8", d, 0).astype(np.float64)
            m2 = np.frombuffer(body, "<f8", d * d, 8 * d).astype(np.float64).reshape(d, d)
            return cls(tuple(head["columns"]), int(head["count"]), mean, m2, str(head["anchor"]))

    def __repr__(self) -> str:
        return f"<CoMoments of {len(self.columns)} columns, {self.count:,} rows>"


def merge_all(parts: Sequence[CoMoments]) -> CoMoments:
    """The merge of ``parts`` (at least one), in order."""
    out = parts[0]
    for p in parts[1:]:
        out = out.merge(p)
    return out


__all__ = ["CoMoments", "merge_all"]
