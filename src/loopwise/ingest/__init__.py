"""The ingestion service: models, predictions, feedback, references and windows over stored profiles."""

from loopwise.ingest.buckets import Compactor, compact_pending
from loopwise.ingest.errors import ConflictError, LimitError, NotFoundError
from loopwise.ingest.export import export_window
from loopwise.ingest.feedback import log_feedback
from loopwise.ingest.models import get_model, model_schema, register_model, registered, remembered
from loopwise.ingest.predictions import (
    DEFAULT_VERSION,
    PROFILE_ALONE,
    RESERVED,
    Duplicates,
    Prepared,
    Raw,
    Write,
    body_digest,
    log_predictions,
    prepare_predictions,
    prepare_writes,
    write_group,
)
from loopwise.ingest.windows import get_reference, metrics, pinned, put_reference, series, window

__all__ = [
    "DEFAULT_VERSION",
    "PROFILE_ALONE",
    "RESERVED",
    "Compactor",
    "ConflictError",
    "Duplicates",
    "LimitError",
    "NotFoundError",
    "Prepared",
    "Raw",
    "Write",
    "body_digest",
    "compact_pending",
    "export_window",
    "get_model",
    "get_reference",
    "log_feedback",
    "log_predictions",
    "metrics",
    "model_schema",
    "pinned",
    "prepare_predictions",
    "prepare_writes",
    "put_reference",
    "register_model",
    "registered",
    "remembered",
    "series",
    "window",
    "write_group",
]
