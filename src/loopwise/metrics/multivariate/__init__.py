"""Multivariate drift: data reconstruction (PCA, mergeable) and a domain classifier (raw rows)."""

from loopwise.metrics.multivariate.api import METHODS, MultivariateDrift, multivariate_drift
from loopwise.metrics.multivariate.result import MultivariateDriftResult

__all__ = ["METHODS", "MultivariateDrift", "MultivariateDriftResult", "multivariate_drift"]
