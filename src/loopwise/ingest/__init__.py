"""The ingestion service: models, predictions, feedback, references and windows over stored profiles.

A predictions batch flows through one module per step (decisions 0003, 0004, 0007)::

    table --validation--> checked batch --preparation--> Prepared (parts per (version, hour): parts)
      (check_batch: ids,    (prepare_predictions; small       |
       UTC times, versions)  batches: prepare_group together)  v
                                            staging: Write, PackedGroup (before the write lock)
                                                              |
    idempotency (known keys answer; new ones remembered) <-- writes: write_group, one transaction
                                                              |
                      store.bulk: blob + index rows (COPY / VALUES) + bucket parts
                                                              |
    labels: late feedback rebuilds task profiles    buckets: parts folded by the compactor
                                                    (loopwise.server.jobs), read by windows
"""

from loopwise.ingest.buckets import ROW_PARTS_BELOW, ROWS, BucketKey, compact_pending, read_ipc
from loopwise.ingest.errors import ConflictError, IdempotencyMismatchError, LimitError, NotFoundError
from loopwise.ingest.export import export_window, window_table
from loopwise.ingest.feedback import log_feedback, retract_feedback
from loopwise.ingest.idempotency import body_digest
from loopwise.ingest.labels import labels_for
from loopwise.ingest.models import (
    get_model,
    model_names,
    model_schema,
    register_model,
    registered,
    remembered,
)
from loopwise.ingest.parts import own_edges
from loopwise.ingest.preparation import Prepared, UnvalidatedBatch, prepare_group, prepare_predictions
from loopwise.ingest.staging import Write, prepare_writes, stage
from loopwise.ingest.validation import DEFAULT_VERSION, RESERVED
from loopwise.ingest.windows import (
    get_reference,
    metrics,
    pinned,
    put_reference,
    series,
    stored_reference,
    window,
)
from loopwise.ingest.writes import Duplicates, log_predictions, write_group, write_predictions

__all__ = [
    "DEFAULT_VERSION",
    "RESERVED",
    "ROWS",
    "ROW_PARTS_BELOW",
    "BucketKey",
    "ConflictError",
    "Duplicates",
    "IdempotencyMismatchError",
    "LimitError",
    "NotFoundError",
    "Prepared",
    "UnvalidatedBatch",
    "Write",
    "body_digest",
    "compact_pending",
    "export_window",
    "get_model",
    "get_reference",
    "labels_for",
    "log_feedback",
    "log_predictions",
    "metrics",
    "model_names",
    "model_schema",
    "own_edges",
    "pinned",
    "prepare_group",
    "prepare_predictions",
    "prepare_writes",
    "put_reference",
    "read_ipc",
    "register_model",
    "registered",
    "remembered",
    "retract_feedback",
    "series",
    "stage",
    "stored_reference",
    "window",
    "window_table",
    "write_group",
    "write_predictions",
]
