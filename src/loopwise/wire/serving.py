"""Serving from the registry over HTTP: the champion's predictions, an alias's current version, and
background jobs (docs/registry.md, "Serving"; decision 0029)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PredictRows(BaseModel):
    """Rows for the champion: each a JSON object of the model's feature columns (and, optionally, its id and
    time columns; missing ones are generated). An Arrow IPC stream of the same columns is accepted too."""

    model_config = ConfigDict(extra="forbid")

    rows: list[dict[str, Any]] = Field(min_length=1)


class Predicted(BaseModel):
    """What the champion answered, one entry per row in the request's order, and how the rows were logged
    (``accepted``; ``duplicates``: ids logged before, not counted again)."""

    model: str
    version: str
    event_ids: list[str]
    predictions: list[Any]
    scores: list[dict[str, float]] | None
    accepted: int
    duplicates: int
    #: The version holding ``shadow``, answering the same events in the background (None: none).
    shadow: str | None


class AliasOut(BaseModel):
    """The version ``alias`` points at now (None: none). The answer's ETag changes when the alias moves."""

    alias: str
    version: str | None


class JobOut(BaseModel):
    """A background job: ``state`` is queued, running, done or failed; ``progress`` {done, total} rows;
    ``result`` the evaluation once done; ``stalled``: running, but no progress for ten minutes."""

    id: str
    model: str
    kind: str
    state: str
    params: dict[str, Any]
    progress: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    actor: str
    created_at: dt.datetime
    heartbeat_at: dt.datetime
    finished_at: dt.datetime | None
    stalled: bool
