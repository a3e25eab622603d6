"""loopwise: close the continuous feedback loop for ML models in production.

The pure library works without a server::

    import loopwise as lw
    ref = lw.profile(train_df)
    report = lw.compare(ref, live_df)
"""

# The package's names load on first use (PEP 562): `import loopwise` and `loopwise --help` stay quick, and
# SciPy, scikit-learn and pandas load only when a function that needs them is called.
from typing import TYPE_CHECKING

from loopwise._version import __version__
from loopwise.errors import (
    ConflictError,
    DatabaseError,
    DataError,
    EmptyDataError,
    LimitError,
    LoopwiseError,
    NotFoundError,
    ParameterError,
    ProfileFormatError,
    RateLimitError,
    SchemaError,
    SchemaValidationError,
    ServerError,
    UnknownNameError,
    UnreachableError,
)

if TYPE_CHECKING:
    from loopwise.checks import Check, Reference, Suite, SuiteResult
    from loopwise.client import Client
    from loopwise.metrics import (
        MultivariateDrift,
        PerformanceEstimator,
        compare_models,
        compare_outputs,
        estimate_performance,
        multivariate_drift,
    )
    from loopwise.metrics.fairness import fairness
    from loopwise.profiles import Profile, ProfileOptions, merge, profile
    from loopwise.report import Report, compare
    from loopwise.schema import Column, Kind, Role, Schema, ValidationIssue, check, to_table, validate

_LAZY = {
    "loopwise.checks": ("Check", "Reference", "Suite", "SuiteResult"),
    "loopwise.client": ("Client",),
    "loopwise.metrics": (
        "MultivariateDrift",
        "PerformanceEstimator",
        "compare_models",
        "compare_outputs",
        "estimate_performance",
        "fairness",
        "multivariate_drift",
    ),
    "loopwise.profiles": ("Profile", "ProfileOptions", "merge", "profile"),
    "loopwise.report": ("Report", "compare"),
    "loopwise.schema": (
        "Column",
        "Kind",
        "Role",
        "Schema",
        "ValidationIssue",
        "check",
        "to_table",
        "validate",
    ),
}
_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> object:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'loopwise' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Check",
    "Client",
    "Column",
    "ConflictError",
    "DataError",
    "DatabaseError",
    "EmptyDataError",
    "Kind",
    "LimitError",
    "LoopwiseError",
    "MultivariateDrift",
    "NotFoundError",
    "ParameterError",
    "PerformanceEstimator",
    "Profile",
    "ProfileFormatError",
    "ProfileOptions",
    "RateLimitError",
    "Reference",
    "Report",
    "Role",
    "Schema",
    "SchemaError",
    "SchemaValidationError",
    "ServerError",
    "Suite",
    "SuiteResult",
    "UnknownNameError",
    "UnreachableError",
    "ValidationIssue",
    "__version__",
    "check",
    "compare",
    "compare_models",
    "compare_outputs",
    "estimate_performance",
    "fairness",
    "merge",
    "multivariate_drift",
    "profile",
    "to_table",
    "validate",
]
