"""``lw.multivariate_drift`` and its reusable fitted form, ``MultivariateDrift``.

Two methods, both judged against thresholds calibrated on the reference's own
chunks (see docs/drift-methods.md, "Multivariate drift"):

- ``"pca"`` (data reconstruction): mergeable; from rows, or from co-moments
  of stored buckets made by ``summarize``;
- ``"classifier"`` (domain classifier): needs raw rows on both sides.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from loopwise.errors import DataError, ParameterError
from loopwise.metrics.multivariate.classifier import (
    DEFAULT_CAP,
    DEFAULT_CHUNKS,
    DEFAULT_FOLDS,
    ClassifierDrift,
)
from loopwise.metrics.multivariate.pca import DEFAULT_VARIANCE
from loopwise.metrics.multivariate.reconstruction import ReconstructionDrift
from loopwise.metrics.multivariate.result import MultivariateDriftResult
from loopwise.metrics.thresholds import DEFAULT_FALSE_ALARM_RATE
from loopwise.profiles import Profile
from loopwise.profiles.comoments import CoMoments
from loopwise.profiles.encoder import ENCODABLE
from loopwise.schema import DataLike, Role, Schema, to_table

METHODS = ("pca", "classifier")
_NO_PROFILES = (
    "multivariate drift needs raw rows: a Profile summarises each column alone, not how columns move "
    "together (method 'pca' also takes the co-moments made by MultivariateDrift.summarize)"
)


def select_columns(schema: Schema, columns: list[str] | None) -> tuple[list[str], list[str]]:
    """The columns to test and their kinds: ``columns``, or every numeric, boolean or categorical feature."""
    if columns is None:
        chosen = [
            c for c in schema if c.role is Role.FEATURE and c.kind is not None and c.kind.value in ENCODABLE
        ]
    else:
        chosen = []
        for name in columns:
            if name not in schema:
                raise ParameterError("columns", name, f"columns of the reference ({', '.join(schema.names)})")
            col = schema[name]
            if col.kind is None or col.kind.value not in ENCODABLE:
                raise ParameterError(
                    f"columns[{name!r}]", col.kind, f"a column of kind {', '.join(ENCODABLE)}"
                )
            chosen.append(col)
    if len(chosen) < 2:
        raise DataError(
            "multivariate drift needs at least 2 numeric, boolean or categorical columns; "
            f"found {len(chosen)}"
            + ("" if columns is not None else " feature column(s) (name them with columns=)")
        )
    return [c.name for c in chosen], [c.kind.value for c in chosen if c.kind is not None]


class MultivariateDrift:
    """A multivariate drift test, fitted once on a reference and applied to many currents.

    Parameters are stored and checked here; ``fit(reference, schema)`` does the work.
    ``variance`` and ``distance`` apply to ``"pca"``; ``cap``, ``folds`` and ``n_chunks``
    to ``"classifier"``.

    Example:
        >>> import numpy as np, pandas as pd, loopwise as lw
        >>> rng = np.random.default_rng(0)
        >>> a = rng.normal(size=20_000)
        >>> ref = pd.DataFrame({"a": a, "b": a + rng.normal(size=20_000)})
        >>> test = lw.MultivariateDrift("pca").fit(ref)
        >>> c = rng.normal(size=5000)
        >>> test.compare(pd.DataFrame({"a": c, "b": -c + rng.normal(size=5000)})).drift_detected
        True
        >>> window = test.summarize(ref.iloc[:2500]).merge(test.summarize(ref.iloc[2500:5000]))
        >>> test.compare(window).drift_detected
        False
    """

    def __init__(
        self,
        method: str = "pca",
        *,
        columns: list[str] | None = None,
        chunk_size: int | None = None,
        false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE,
        variance: float = DEFAULT_VARIANCE,
        distance: str = "squared",
        cap: int = DEFAULT_CAP,
        folds: int = DEFAULT_FOLDS,
        n_chunks: int = DEFAULT_CHUNKS,
        seed: int = 0,
    ) -> None:
        if method not in METHODS:
            raise ParameterError("method", method, METHODS)
        if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
            raise ParameterError("chunk_size", chunk_size, "a positive number of rows")
        if not 0 < false_alarm_rate < 1:
            raise ParameterError("false_alarm_rate", false_alarm_rate, "a number between 0 and 1 (exclusive)")
        self.method = method
        self.columns = columns
        self.chunk_size = chunk_size
        self.false_alarm_rate = false_alarm_rate
        self.variance = variance
        self.distance = distance
        self.cap = cap
        self.folds = folds
        self.n_chunks = n_chunks
        self.seed = seed
        self.test_: ReconstructionDrift | ClassifierDrift | None = None

    def fit(self, reference: DataLike, schema: Schema | None = None) -> MultivariateDrift:
        """Fit on the reference's rows (encoding, PCA or kept rows, calibration chunks)."""
        if isinstance(reference, (Profile, CoMoments)):
            raise DataError(_NO_PROFILES)
        table = to_table(reference)
        if table.num_rows == 0:
            raise DataError("the reference has no rows")
        sch = schema.resolve(table) if schema is not None else Schema.infer(table)
        names, kinds = select_columns(sch, self.columns)
        if self.method == "pca":
            self.test_ = ReconstructionDrift.fit(
                table,
                names,
                kinds,
                chunk_size=self.chunk_size,
                variance=self.variance,
                distance=self.distance,
                false_alarm_rate=self.false_alarm_rate,
            )
        else:
            self.test_ = ClassifierDrift.fit(
                table,
                names,
                kinds,
                cap=self.cap,
                folds=self.folds,
                n_chunks=self.n_chunks,
                false_alarm_rate=self.false_alarm_rate,
                seed=self.seed,
            )
        return self

    def _fitted(self) -> ReconstructionDrift | ClassifierDrift:
        if self.test_ is None:
            raise DataError("the test is not fitted; call fit(reference) first")
        return self.test_

    def compare(self, current: DataLike | CoMoments) -> MultivariateDriftResult:
        """Whether ``current`` drifted: rows, or (``"pca"``) co-moments from ``summarize``."""
        test = self._fitted()
        if isinstance(current, Profile):
            raise DataError(_NO_PROFILES)
        if isinstance(test, ClassifierDrift):
            if isinstance(current, CoMoments):
                raise DataError("the domain classifier needs the current's raw rows, not co-moments")
            return test.compare(_rows(current))
        return test.compare(current if isinstance(current, CoMoments) else _rows(current))

    def summarize(self, data: DataLike) -> CoMoments:
        """The co-moments of ``data`` in the fitted encoding: store them per bucket, merge, ``compare``."""
        test = self._fitted()
        if not isinstance(test, ReconstructionDrift):
            raise DataError("only method 'pca' works from summaries; the domain classifier needs rows")
        return test.summarize(_rows(data))

    def to_bytes(self) -> bytes:
        """The fitted ``"pca"`` test as versioned bytes (the classifier holds rows and is not stored)."""
        test = self._fitted()
        if not isinstance(test, ReconstructionDrift):
            raise DataError("only a fitted 'pca' test is stored as bytes; the domain classifier holds rows")
        return test.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> MultivariateDrift:
        test = ReconstructionDrift.from_bytes(data)
        out = cls(
            "pca",
            columns=test.columns,
            chunk_size=test.chunk_size if test.fixed else None,
            false_alarm_rate=test.false_alarm_rate,
            variance=test.variance,
            distance=test.distance,
        )
        out.test_ = test
        return out

    def __repr__(self) -> str:
        state = "fitted" if self.test_ is not None else "not fitted"
        return f"<MultivariateDrift {self.method} ({state})>"


def _rows(data: DataLike) -> pa.Table:
    table = to_table(data)
    if table.num_rows == 0:
        raise DataError("the current has no rows")
    return table


def multivariate_drift(
    reference: DataLike,
    current: DataLike | CoMoments,
    schema: Schema | None = None,
    *,
    method: str = "pca",
    chunk_size: int | None = None,
    false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE,
    columns: list[str] | None = None,
    seed: int = 0,
    **options: Any,
) -> MultivariateDriftResult:
    """Whether ``current`` drifted from ``reference`` in how its columns behave together.

    ``method="pca"`` (default): the mean squared error of reconstructing the
    current's rows from the reference's principal components; ``"classifier"``:
    the cross-validated ROC AUC of a model told to tell the two apart. The
    threshold is calibrated on the reference's own chunks (``chunk_size`` rows;
    by default the current's size, at least 10 chunks for ``"pca"``) at
    ``false_alarm_rate``. ``columns`` defaults to the schema's numeric, boolean
    and categorical features. Other keywords go to ``MultivariateDrift``.

    Example:
        >>> import numpy as np, pandas as pd, loopwise as lw
        >>> rng = np.random.default_rng(0)
        >>> a = rng.normal(size=20_000)
        >>> ref = pd.DataFrame({"a": a, "b": a + rng.normal(size=20_000)})
        >>> c = rng.normal(size=5000)  # same marginals, the correlation reversed
        >>> r = lw.multivariate_drift(ref, pd.DataFrame({"a": c, "b": -c + rng.normal(size=5000)}))
        >>> r.drift_detected, r.statistic > r.threshold
        (True, True)
    """
    if isinstance(reference, (Profile, CoMoments)) or isinstance(current, Profile):
        raise DataError(_NO_PROFILES)
    test = MultivariateDrift(
        method,
        columns=columns,
        chunk_size=chunk_size,
        false_alarm_rate=false_alarm_rate,
        seed=seed,
        **options,
    )
    return test.fit(reference, schema).compare(current)


__all__ = ["METHODS", "MultivariateDrift", "multivariate_drift", "select_columns"]
