"""Data reconstruction drift fitted on a reference, with its threshold calibrated on the reference's chunks.

The reference is cut, in its row order, into chunks (``chunk_size`` rows, or a
hundredth of the reference when no size is given; a remainder joins the last
chunk) and the co-moments of each are kept. The PCA is fitted on their merge
(the whole reference). To judge a current of n rows, runs of consecutive
chunks are merged into calibration chunks of about n rows (at least 10 of
them; with a fixed ``chunk_size``, the chunks themselves), the statistic of
each is computed with the whole reference's PCA, and ``calibrate`` sets the
threshold at the false-alarm rate asked for. A current smaller than the
calibration chunks is noisier: the threshold's distance above the chunks'
median grows by sqrt(chunk rows / current rows), as a mean's spread does.

Everything here but the ``euclidean`` statistic works from co-moments, so a
fitted test is stored as bytes (``to_bytes``) and a current may be given as
merged ``CoMoments`` of stored buckets (``summarize`` makes them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from loopwise.errors import DataError, ParameterError, ProfileFormatError
from loopwise.metrics.multivariate.pca import DEFAULT_VARIANCE, DISTANCES, PCAModel
from loopwise.metrics.multivariate.result import MultivariateDriftResult
from loopwise.metrics.thresholds import DEFAULT_FALSE_ALARM_RATE, CalibratedThreshold, calibrate
from loopwise.profiles.comoments import CoMoments, merge_all
from loopwise.profiles.encoder import FeatureEncoder
from loopwise.profiles.framing import damaged, frame, unframe

#: Chunks the reference is cut into when no chunk size is given (calibration merges runs of them).
BASE_CHUNKS = 100
#: Calibration chunks wanted at least, when their size is free to choose.
MIN_CALIBRATION_CHUNKS = 10
MAGIC = b"LWMR"
FORMAT_VERSION = 1
_NAMES = {
    "squared": "mean squared reconstruction error",
    "euclidean": "mean reconstruction error (Euclidean)",
}


def chunk_bounds(n: int, size: int) -> list[tuple[int, int]]:
    """Consecutive [start, stop) of ``size`` rows; a remainder joins the last chunk.

    Example:
        >>> chunk_bounds(10, 4)
        [(0, 4), (4, 10)]
    """
    starts = list(range(0, n, size))
    bounds = [(a, min(a + size, n)) for a in starts]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < size:
        last = bounds.pop()
        bounds[-1] = (bounds[-1][0], last[1])
    return bounds


@dataclass(frozen=True)
class Calibration:
    """Thresholds for one current size, from the reference's calibration chunks."""

    upper: float
    lower: float
    rule: str
    threshold: CalibratedThreshold
    statistics: list[float]
    rows: int


class ReconstructionDrift:
    """A data-reconstruction drift test fitted on a reference: fit once, compare with many currents.

    Example:
        >>> import numpy as np, pyarrow as pa
        >>> rng = np.random.default_rng(0)
        >>> a = rng.normal(size=20_000); ref = pa.table({"a": a, "b": a + rng.normal(size=20_000)})
        >>> test = ReconstructionDrift.fit(ref, ["a", "b"], ["numeric", "numeric"])
        >>> c = rng.normal(size=2000); broken = pa.table({"a": c, "b": -c + rng.normal(size=2000)})
        >>> test.compare(broken).drift_detected, test.compare(ref.slice(0, 2000)).drift_detected
        (True, False)
    """

    def __init__(
        self,
        encoder: FeatureEncoder,
        chunks: list[CoMoments],
        *,
        chunk_size: int,
        fixed: bool,
        variance: float = DEFAULT_VARIANCE,
        distance: str = "squared",
        false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE,
        error_sums: list[float] | None = None,
    ) -> None:
        if distance not in DISTANCES:
            raise ParameterError("distance", distance, DISTANCES)
        if not 0 < false_alarm_rate < 1:
            raise ParameterError("false_alarm_rate", false_alarm_rate, "a number between 0 and 1 (exclusive)")
        if distance == "euclidean" and (error_sums is None or len(error_sums) != len(chunks)):
            raise DataError("the euclidean statistic needs each reference chunk's summed row errors")
        self.encoder = encoder
        self.chunks = chunks
        self.chunk_size = chunk_size
        self.fixed = fixed
        self.variance = variance
        self.distance = distance
        self.false_alarm_rate = false_alarm_rate
        self.error_sums = error_sums
        self.reference = merge_all(chunks)
        self.pca = PCAModel.fit(self.reference, variance)

    @classmethod
    def fit(
        cls,
        table: pa.Table,
        columns: list[str],
        kinds: list[str],
        *,
        chunk_size: int | None = None,
        variance: float = DEFAULT_VARIANCE,
        distance: str = "squared",
        false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE,
    ) -> ReconstructionDrift:
        if chunk_size is not None and chunk_size < 1:
            raise ParameterError("chunk_size", chunk_size, "a positive number of rows")
        encoder = FeatureEncoder.fit(table, columns, kinds)
        x = encoder.transform(table)
        size = chunk_size or max(1, len(x) // BASE_CHUNKS)
        bounds = chunk_bounds(len(x), size)
        chunks = [CoMoments.of(x[a:b], columns, encoder.key) for a, b in bounds]
        sums = None
        if distance == "euclidean":
            pca = PCAModel.fit(merge_all(chunks), variance)
            errors = pca.row_errors(x)
            sums = [float(errors[a:b].sum()) for a, b in bounds]
        return cls(
            encoder,
            chunks,
            chunk_size=size,
            fixed=chunk_size is not None,
            variance=variance,
            distance=distance,
            false_alarm_rate=false_alarm_rate,
            error_sums=sums,
        )

    @property
    def columns(self) -> list[str]:
        return list(self.encoder.columns)

    def summarize(self, data: pa.Table) -> CoMoments:
        """The co-moments of ``data``'s rows in this test's encoding (store, merge, compare them)."""
        return CoMoments.of(self.encoder.transform(data), self.encoder.columns, self.encoder.key)

    def _groups(self, n_current: int) -> list[list[int]]:
        k = len(self.chunks)
        g = 1
        if not self.fixed:
            g = max(1, round(n_current / self.chunk_size))
            if k // g < MIN_CALIBRATION_CHUNKS:
                g = max(1, k // MIN_CALIBRATION_CHUNKS)
        groups = [list(range(i, i + g)) for i in range(0, k - k % g, g)]
        groups[-1].extend(range(k - k % g, k))
        return groups

    def _statistic(self, idx: list[int]) -> float:
        if self.distance == "squared":
            # Leave-one-out: the chunk is judged by a PCA that has not seen it, as a current is.
            part = merge_all([self.chunks[i] for i in idx])
            rest = self.reference.without(part)
            pca = PCAModel.fit(rest, self.variance) if rest.count >= 2 else self.pca
            return pca.squared_error(part)
        assert self.error_sums is not None
        return sum(self.error_sums[i] for i in idx) / sum(self.chunks[i].count for i in idx)

    def threshold(self, n_current: int) -> Calibration:
        """The thresholds for a current of ``n_current`` rows, their rule, and the chunks' statistics."""
        groups = self._groups(n_current)
        stats = [self._statistic(g) for g in groups]
        rows = int(np.median([sum(self.chunks[i].count for i in g) for g in groups]))
        half = self.false_alarm_rate / 2
        upper = calibrate(stats, half)
        lower = 1 / calibrate(1 / np.asarray(stats), half).value
        high, low = upper.value, lower
        rule = (
            f"two-sided, {half:g} a side: above, {upper.rule}; below, the same rule on the reciprocals "
            "(an error lower than the reference's chunks is a change too: rows collapsing onto the subspace)"
        )
        if 0 < n_current < rows:
            widen = math.sqrt(rows / n_current)
            high = upper.chunk_median + (high - upper.chunk_median) * widen
            low = max(0.0, upper.chunk_median - (upper.chunk_median - low) * widen)
            rule += (
                f"; widened about the median by sqrt({rows} / {n_current}) "
                "for a current smaller than the calibration chunks"
            )
        return Calibration(high, low, rule, upper, stats, rows)

    def compare(self, current: pa.Table | CoMoments) -> MultivariateDriftResult:
        """Whether ``current`` (rows, or co-moments from ``summarize``) drifted from the reference."""
        warnings: list[str] = []
        if isinstance(current, CoMoments):
            if self.distance != "squared":
                raise DataError(
                    "the euclidean reconstruction error needs the current's rows; "
                    "co-moments give distance='squared'"
                )
            if current.anchor != self.encoder.key or current.columns != self.encoder.columns:
                raise DataError(
                    "the co-moments were not made with this test's encoding (use its summarize())"
                )
            moments, exact = current, True
        else:
            x = self.encoder.transform(current)
            moments = CoMoments.of(x, self.encoder.columns, self.encoder.key)
            exact = True
        n = moments.count
        if n == 0:
            raise DataError("the current has no rows")
        if self.distance == "squared":
            stat = self.pca.squared_error(moments)
        else:
            stat = float(np.mean(self.pca.row_errors(x)))
        cal = self.threshold(n)
        if n < 10 * len(self.encoder.columns):
            warnings.append(f"few rows in the current ({n}) for {len(self.encoder.columns)} columns")
        return MultivariateDriftResult(
            method="pca",
            statistic_name=_NAMES[self.distance],
            statistic=stat,
            threshold=cal.upper,
            lower_threshold=cal.lower,
            threshold_rule=cal.rule,
            drift_detected=bool(stat > cal.upper or stat < cal.lower),
            n_reference=self.reference.count,
            n_current=n,
            columns=list(self.encoder.columns),
            chunk_size=cal.rows,
            reference_chunks=cal.statistics,
            exact=exact,
            needs_rows=self.distance == "euclidean",
            details={
                "distance": self.distance,
                "n_components": self.pca.n_components,
                "variance_explained": self.pca.explained,
                "variance_target": self.variance,
                "calibration": cal.threshold.to_dict(),
                "encoding": dict(zip(self.encoder.columns, self.encoder.kinds, strict=True)),
            },
            warnings=warnings,
        )

    def to_bytes(self) -> bytes:
        """The fitted test (encoding, parameters and each reference chunk's co-moments), versioned."""
        blobs = [c.to_bytes() for c in self.chunks]
        head = {
            "encoder": self.encoder.to_dict(),
            "chunk_size": self.chunk_size,
            "fixed": self.fixed,
            "variance": self.variance,
            "distance": self.distance,
            "false_alarm_rate": self.false_alarm_rate,
            "error_sums": self.error_sums,
            "chunks": [len(b) for b in blobs],
        }
        return frame(MAGIC, FORMAT_VERSION, head, b"".join(blobs))

    @classmethod
    def from_bytes(cls, data: bytes) -> ReconstructionDrift:
        what = "a loopwise reconstruction drift test"
        head, body = unframe(data, MAGIC, FORMAT_VERSION, what)
        with damaged(what):
            pos, chunks = 0, []
            for size in head["chunks"]:
                chunks.append(CoMoments.from_bytes(body[pos : pos + size]))
                pos += size
            if pos != len(body):
                raise ProfileFormatError("the reconstruction drift test has trailing bytes")
            return cls(
                FeatureEncoder.from_dict(head["encoder"]),
                chunks,
                chunk_size=int(head["chunk_size"]),
                fixed=bool(head["fixed"]),
                variance=float(head["variance"]),
                distance=str(head["distance"]),
                false_alarm_rate=float(head["false_alarm_rate"]),
                error_sums=head["error_sums"],
            )


__all__ = ["BASE_CHUNKS", "MIN_CALIBRATION_CHUNKS", "ReconstructionDrift", "chunk_bounds"]
