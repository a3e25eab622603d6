"""loopwise: close the continuous feedback loop for ML models in production.

The pure library works without a server::

    import loopwise as lw
    ref = lw.profile(train_df)
    report = lw.compare(ref, live_df)
"""

from loopwise._version import __version__
from loopwise.checks import Check, Reference, Suite, SuiteResult
from loopwise.client import Client
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
    SchemaError,
    SchemaValidationError,
    ServerError,
    UnknownNameError,
    UnreachableError,
)
from loopwise.metrics import (
    MultivariateDrift,
    PerformanceEstimator,
    compare_models,
    compare_outputs,
    estimate_performance,
    fairness,
    multivariate_drift,
)
from loopwise.profiles import Profile, ProfileOptions, merge, profile
from loopwise.report import Report, compare
from loopwise.schema import Column, Kind, Role, Schema, ValidationIssue, check, to_table, validate

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
