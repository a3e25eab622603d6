"""Data reconstruction drift: how badly a PCA of the reference reconstructs a chunk's rows.

Rows are encoded (``FeatureEncoder``), standardised with the reference's mean
and standard deviation, and projected on the principal components that keep
``variance`` of the reference's variance (0.65, NannyML's default; the first k
whose cumulative share exceeds it, as scikit-learn's ``PCA(n_components=0.65)``
chooses). A row's reconstruction error is its distance to that subspace. When
columns stop moving together as they did in the reference, rows leave the
subspace and the error grows, even if no column's own distribution changed.

Two statistics of a chunk:

- ``squared`` (default): the mean squared error. With R = I - V V' (V the kept
  components), z the standardised rows, S and m their covariance (ddof 0) and
  mean over the chunk, mean ||R z||^2 = tr(R S) + m' R m: a function of the
  chunk's ``CoMoments`` only, so it is computed exactly from stored, merged
  summaries (a window of buckets) without the rows.
- ``euclidean``: the mean distance (NannyML's statistic); needs the rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from loopwise.errors import DataError, ParameterError
from loopwise.profiles.comoments import CoMoments

#: Share of the reference's variance the kept components explain (NannyML's default).
DEFAULT_VARIANCE = 0.65
DISTANCES = ("squared", "euclidean")


@dataclass(frozen=True)
class PCAModel:
    """A PCA of standardised encoded rows, fitted on a reference's co-moments.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(1000, 3)); x[:, 1] = x[:, 0] + 0.1 * x[:, 1]
        >>> pca = PCAModel.fit(CoMoments.of(x, ["a", "b", "c"]))
        >>> pca.n_components, round(pca.squared_error(CoMoments.of(x, ["a", "b", "c"])), 6) == round(
        ...     float(np.mean(pca.row_errors(x) ** 2)), 6)
        (1, True)
    """

    center: np.ndarray
    scale: np.ndarray
    components: np.ndarray
    explained: float
    eigenvalues: np.ndarray

    @classmethod
    def fit(cls, moments: CoMoments, variance: float = DEFAULT_VARIANCE) -> PCAModel:
        if not 0 < variance < 1:
            raise ParameterError("variance", variance, "a share between 0 and 1 (exclusive)")
        if moments.count < 2:
            raise DataError(f"a PCA needs at least 2 reference rows; there are {moments.count}")
        cov = moments.m2 / moments.count
        scale = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        scale[scale == 0] = 1.0  # a constant column stays as it is (scikit-learn's StandardScaler does so)
        corr = cov / np.outer(scale, scale)
        values, vectors = np.linalg.eigh((corr + corr.T) / 2)
        order = np.argsort(values)[::-1]
        values, vectors = np.clip(values[order], 0.0, None), vectors[:, order]
        total = float(values.sum())
        if total <= 0:
            raise DataError("every column is constant in the reference; there is no variance to model")
        ratio = np.cumsum(values / total)
        # At least one direction is left out: with every component kept the reconstruction error is zero
        # up to rounding whatever the data, and its bounds flag noise (two uncorrelated columns at 65%).
        k = min(int(np.searchsorted(ratio, variance, side="right")) + 1, values.size - 1)
        return cls(moments.mean.copy(), scale, vectors[:, :k].T.copy(), float(ratio[k - 1]), values)

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])

    @property
    def residual(self) -> np.ndarray:
        """I - V V': the projection on what the kept components do not explain."""
        d = self.center.size
        out: np.ndarray = np.eye(d) - self.components.T @ self.components
        return out

    def squared_error(self, moments: CoMoments) -> float:
        """Mean squared reconstruction error of the rows ``moments`` summarises, from the moments alone."""
        if moments.count == 0:
            return math.nan
        r = self.residual
        m = (moments.mean - self.center) / self.scale
        s = (moments.m2 / moments.count) / np.outer(self.scale, self.scale)
        return float(np.sum(r * s) + m @ r @ m)

    def row_errors(self, x: np.ndarray) -> np.ndarray:
        """Each row's reconstruction error (Euclidean distance to the kept subspace)."""
        z = (x - self.center) / self.scale
        e = z - (z @ self.components.T) @ self.components
        out: np.ndarray = np.sqrt(np.einsum("ij,ij->i", e, e))
        return out


__all__ = ["DEFAULT_VARIANCE", "DISTANCES", "PCAModel"]
