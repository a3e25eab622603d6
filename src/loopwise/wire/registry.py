"""The registry's requests and answers: versions, aliases and their history (docs/registry.md)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Names of versions and aliases (``registry.versions.valid_name``).
NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"
SHA256 = r"^[0-9a-fA-F]{64}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LineageBody(Strict):
    """A version's lineage; ``reference`` is a Profile's bytes (``Profile.to_bytes``), base64-encoded."""

    training_window: tuple[dt.datetime, dt.datetime] | None = None
    data_fingerprint: str | None = Field(None, max_length=500)
    reference: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    code_version: str | None = Field(None, max_length=200)
    metrics: dict[str, float] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)


class RegisterVersion(Strict):
    """A version to register. ``artifact``: the file's bytes, base64-encoded (``sklearn``: an skops file;
    ``onnx``: an ONNX model); none for ``external``, which gives ``uri`` and ``sha256``. ``sample``: rows
    (records) for the dry prediction; without it, the model's most recent logged rows are used.
    ``version``: the version's name, the parameter the clients and the path of every other route call
    ``version`` (``name``, its former key, is still read when ``version`` is absent; decision 0044)."""

    version: str = Field(pattern=NAME)
    flavor: Literal["sklearn", "onnx", "external"]
    artifact: str | None = None
    uri: str | None = Field(None, max_length=2000)
    sha256: str | None = Field(None, pattern=SHA256)
    lineage: LineageBody | None = None
    sample: list[dict[str, Any]] | None = None

    @model_validator(mode="before")
    @classmethod
    def _former_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and "version" not in data and "name" in data:
            data = {("version" if k == "name" else k): v for k, v in data.items()}
        return data


class VersionOut(BaseModel):
    model: str
    name: str
    flavor: str
    sha256: str | None
    size: int | None
    format: str | None
    uri: str | None
    lineage: dict[str, Any]
    aliases: list[str]
    created_at: dt.datetime
    created_by: str
    dry_run: dict[str, Any]


class VersionList(BaseModel):
    versions: list[VersionOut]


class SetAlias(Strict):
    """Point the alias at ``version``; ``evidence`` (any JSON object) is recorded with the move."""

    version: str = Field(pattern=NAME)
    evidence: dict[str, Any] = Field(default_factory=dict)


class AliasMoveOut(BaseModel):
    id: int
    alias: str
    from_version: str | None
    to_version: str | None
    actor: str
    at: dt.datetime
    evidence: dict[str, Any]


class AliasMoves(BaseModel):
    moves: list[AliasMoveOut]


class AliasList(BaseModel):
    aliases: dict[str, str]


class VersionAt(BaseModel):
    """The version ``alias`` pointed at, at ``at`` (None: none did)."""

    alias: str
    at: dt.datetime
    version: str | None


class Served(BaseModel):
    """Events per version among the model's events with a time in [start, end)."""

    start: dt.datetime
    end: dt.datetime
    versions: dict[str, int]


# Challengers on real traffic (decision 0026).


class EvaluateVersion(Strict):
    """Run the version on the events logged in [start, end) it has not answered yet (times without a zone
    are UTC); ``batch_rows`` events at a time."""

    start: dt.datetime
    end: dt.datetime
    batch_rows: int | None = Field(None, ge=1, le=1_000_000)


class BatchTimingOut(BaseModel):
    rows: int
    seconds: float
    rows_per_second: float
    ms_per_row: float


class EvaluationOut(BaseModel):
    """What one evaluation did: the window's events, those answered now, those already stored, and the
    version's own speed (per batch; p50/p99 of one-row calls in ``latency``)."""

    model: str
    version: str
    start: dt.datetime
    end: dt.datetime
    events: int
    evaluated: int
    already: int
    served_by_version: int
    batches: list[BatchTimingOut]
    latency: dict[str, float]
    rows_per_second: float | None


class ShadowOutputs(Strict):
    """A shadow version's outputs for events the model has logged; ``scores`` per event: the positive
    class's probability, or a {class: probability} object."""

    event_ids: list[str] = Field(min_length=1, max_length=100_000)
    predictions: list[Any] = Field(max_length=100_000)
    scores: list[float | dict[str, float]] | None = Field(None, max_length=100_000)


class ShadowStored(BaseModel):
    stored: int
    already: int


class ComparisonOut(BaseModel):
    """Challenger vs champion on the events both answered in [start, end), with the labels that have
    arrived. ``comparisons``: one ``compare_models`` result per metric; ``segments``: column -> value ->
    {n, metric, champion, challenger, change}."""

    model: str
    champion: str
    challenger: str
    start: dt.datetime
    end: dt.datetime
    paired: int
    labels: int
    agreement: float | None
    verdict: str
    needed: int | None
    comparisons: list[dict[str, Any]]
    segments: dict[str, dict[str, dict[str, Any]]]
    challenger_ms_per_row: float | None
