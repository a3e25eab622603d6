"""/v1/models/{model}/predictions and /feedback: batches in, what was stored out."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: The media types a batch of predictions may be sent in (JSON, Arrow IPC stream or file, Parquet).
ARROW_TYPES = ("application/vnd.apache.arrow.stream", "application/vnd.apache.arrow.file")
PARQUET_TYPES = ("application/x-parquet", "application/vnd.apache.parquet", "application/parquet")


class PredictionRecord(BaseModel):
    """One prediction: a value for each column of the model's schema (its id and timestamp at least; an
    ISO 8601 string or epoch number where the schema says timestamp), and optionally ``model_version``.
    A column not in the schema is refused (targets go to /feedback)."""

    model_config = ConfigDict(extra="allow")

    model_version: str | None = Field(None, description="the version that served it; the default otherwise")


class PredictionBatch(BaseModel):
    """A JSON batch as an object: the records and the version they all have (unless a record names its
    own). A plain JSON list of records is taken too."""

    records: list[PredictionRecord]
    version: str | None = None


class Ingested(BaseModel):
    """What a batch of predictions stored: rows accepted, rows already stored before (by event id), the
    batch's id, and ``replayed`` when the same Idempotency-Key came again (the first answer, repeated)."""

    accepted: int
    duplicates: int
    batch_id: int | None = None
    replayed: bool | None = None


class FeedbackRecord(BaseModel):
    """Something learned about a prediction, by its event id: a label (ground truth or a reviewer's), a
    correction, a rating or a comment. Sent again for the same (event, source, kind), it replaces."""

    model_config = ConfigDict(extra="forbid")

    event_id: str | int
    kind: Literal["label", "correction", "rating", "comment"] = "label"
    source: str = "ground_truth"
    label: Any = Field(None, description="the true class or value (label, correction)")
    rating: float | None = None
    comment: str | None = None


class FeedbackBatch(BaseModel):
    """Feedback records, as an object (a plain JSON list of records is taken too)."""

    records: list[FeedbackRecord]


class FeedbackStored(BaseModel):
    """What a feedback batch did: records stored, earlier ones replaced, and how many joined a prediction
    already stored (the others wait for theirs)."""

    stored: int
    replaced: int
    joined: int
