"""The HTTP API's request and response bodies as pydantic models (decision 0022): ``/openapi.json`` is
generated from them, so it describes every body, and schemathesis tests the server against it."""

from loopwise.wire.common import Issue, Problem, binary_body, errors, json_body, parse
from loopwise.wire.events import (
    ARROW_TYPES,
    PARQUET_TYPES,
    FeedbackBatch,
    FeedbackRecord,
    FeedbackStored,
    Ingested,
    PredictionBatch,
    PredictionRecord,
)
from loopwise.wire.models import ColumnSpec, ModelInfo, ModelList, RegisterModel, SchemaSpec
from loopwise.wire.monitoring import (
    CheckOutcome,
    Health,
    Metrics,
    Operations,
    PinReference,
    ReferenceStored,
    RunChecks,
    Series,
    SeriesPoint,
    SuiteOutcome,
    TaskInfo,
    WindowInfo,
)
from loopwise.wire.openapi import REQUEST_MODELS, with_request_bodies

__all__ = [
    "ARROW_TYPES",
    "PARQUET_TYPES",
    "REQUEST_MODELS",
    "CheckOutcome",
    "ColumnSpec",
    "FeedbackBatch",
    "FeedbackRecord",
    "FeedbackStored",
    "Health",
    "Ingested",
    "Issue",
    "Metrics",
    "ModelInfo",
    "ModelList",
    "Operations",
    "PinReference",
    "PredictionBatch",
    "PredictionRecord",
    "Problem",
    "ReferenceStored",
    "RegisterModel",
    "RunChecks",
    "SchemaSpec",
    "Series",
    "SeriesPoint",
    "SuiteOutcome",
    "TaskInfo",
    "WindowInfo",
    "binary_body",
    "errors",
    "json_body",
    "parse",
    "with_request_bodies",
]
