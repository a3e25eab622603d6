"""Performance without labels: confidence-based estimation (classifiers), direct loss estimation (regressors).

Both assume no concept shift (P(y | x) as in the reference): they follow the
inputs and the model's outputs as they move, not a change in what the inputs mean.
"""

from loopwise.metrics.estimation.cbpe import CLASSIFICATION
from loopwise.metrics.estimation.dle import REGRESSION
from loopwise.metrics.estimation.estimator import ESTIMABLE, PerformanceEstimator, estimate_performance
from loopwise.metrics.estimation.result import ASSUMPTION, Estimate, Estimates

__all__ = [
    "ASSUMPTION",
    "CLASSIFICATION",
    "ESTIMABLE",
    "REGRESSION",
    "Estimate",
    "Estimates",
    "PerformanceEstimator",
    "estimate_performance",
]
