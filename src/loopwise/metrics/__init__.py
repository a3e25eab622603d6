"""Metrics: pure functions of data or profiles (drift, stability, data quality), found by name."""

from loopwise.metrics.compare import ColumnComparison, Comparison, compare_data, default_method
from loopwise.metrics.quality import ColumnQuality
from loopwise.metrics.registry import DriftMethod, get, names
from loopwise.metrics.result import DriftResult

__all__ = [
    "ColumnComparison",
    "ColumnQuality",
    "Comparison",
    "DriftMethod",
    "DriftResult",
    "compare_data",
    "default_method",
    "get",
    "names",
]
