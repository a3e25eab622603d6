"""Metrics: pure functions of data or profiles (drift, stability, data quality), found by name."""

from loopwise.metrics.agreement import Agreement, cohen_kappa, fleiss_kappa, krippendorff_alpha
from loopwise.metrics.champion import ModelComparison, compare_models
from loopwise.metrics.compare import ColumnComparison, Comparison, compare_data, default_method
from loopwise.metrics.estimation import Estimate, PerformanceEstimator, estimate_performance
from loopwise.metrics.fairness import FairnessResult, fairness
from loopwise.metrics.multivariate import MultivariateDrift, MultivariateDriftResult, multivariate_drift
from loopwise.metrics.performance import MetricResult
from loopwise.metrics.quality import ColumnQuality
from loopwise.metrics.registry import DriftMethod, get, names
from loopwise.metrics.result import DriftResult
from loopwise.metrics.sampled import SampledEstimate, hajek, horvitz_thompson
from loopwise.metrics.stability import OutputComparison, compare_outputs

__all__ = [
    "Agreement",
    "ColumnComparison",
    "ColumnQuality",
    "Comparison",
    "DriftMethod",
    "DriftResult",
    "Estimate",
    "FairnessResult",
    "MetricResult",
    "ModelComparison",
    "MultivariateDrift",
    "MultivariateDriftResult",
    "OutputComparison",
    "PerformanceEstimator",
    "SampledEstimate",
    "cohen_kappa",
    "compare_data",
    "compare_models",
    "compare_outputs",
    "default_method",
    "estimate_performance",
    "fairness",
    "fleiss_kappa",
    "get",
    "hajek",
    "horvitz_thompson",
    "krippendorff_alpha",
    "multivariate_drift",
    "names",
]
