"""The ingestion service: models, predictions, feedback, references and windows over stored profiles."""

from loopwise.ingest.errors import ConflictError, LimitError, NotFoundError
from loopwise.ingest.feedback import log_feedback
from loopwise.ingest.models import get_model, register_model
from loopwise.ingest.predictions import body_digest, log_predictions
from loopwise.ingest.windows import get_reference, metrics, put_reference, window

__all__ = [
    "ConflictError",
    "LimitError",
    "NotFoundError",
    "body_digest",
    "get_model",
    "get_reference",
    "log_feedback",
    "log_predictions",
    "metrics",
    "put_reference",
    "register_model",
    "window",
]
