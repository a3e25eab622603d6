"""/v1/models/{model}/predictions and /feedback: batches in, one transaction each, idempotent."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from loopwise.errors import ConflictError, DataError
from loopwise.ingest import DEFAULT_VERSION, ROW_PARTS_BELOW, log_feedback
from loopwise.server.admission import known_columns, versions_within
from loopwise.server.bodies import decode_predictions, parse_json, read_body, records
from loopwise.server.deps import FeedbackGiver, Ingester, factory
from loopwise.server.telemetry import INGEST_ERRORS, INGESTED
from loopwise.store import transaction
from loopwise.wire import (
    ARROW_TYPES,
    PARQUET_TYPES,
    FeedbackBatch,
    FeedbackStored,
    Ingested,
    PredictionBatch,
    errors,
    json_body,
)

router = APIRouter(prefix="/v1/models/{model}", tags=["events"])
RETRIES = 3


def _predictions_body() -> dict[str, Any]:
    doc = json_body(PredictionBatch)
    content = doc["requestBody"]["content"]
    content["application/json"]["schema"] = {
        "oneOf": [
            {"$ref": "#/components/schemas/PredictionBatch"},
            {"type": "array", "items": {"$ref": "#/components/schemas/PredictionRecord"}},
        ]
    }
    binary = {"type": "string", "format": "binary"}
    content.update({m: {"schema": binary} for m in (*ARROW_TYPES, *PARQUET_TYPES)})
    doc["requestBody"]["description"] = (
        "Records as JSON (a list, or an object with `records` and `version`), or a table as an Arrow IPC "
        "stream or file, or Parquet. Send an `Idempotency-Key` header to make a retry safe."
    )
    return doc


@router.post(
    "/predictions",
    response_model=Ingested,
    response_model_exclude_unset=True,
    responses=errors(400, 403, 404, 409, 413, 415, 422),
    openapi_extra=_predictions_body(),
)
async def predictions(model: str, request: Request, who: Ingester, version: str | None = None) -> Ingested:
    settings, writer = request.app.state.settings, request.app.state.writer
    try:
        body = await read_body(request, settings.max_body_bytes)
        ctype = request.headers.get("content-type", "application/json")
        batch = decode_predictions(body, ctype, settings, small=ROW_PARTS_BELOW)
        ver = version or batch.version
        if ver is not None and not isinstance(ver, str):
            raise DataError("version must be a string")
        await known_columns(writer.readers, model, batch.columns)
        named = batch.versions | ({ver or DEFAULT_VERSION} if batch.unnamed else set())
        await versions_within(writer.readers, model, named, settings.max_versions_per_model)
        key = request.headers.get("idempotency-key")
        out = await writer.submit(model, batch, ver, settings.max_rows, key, body)
    except Exception:
        INGEST_ERRORS.labels(kind="predictions").inc()
        raise
    if not out.get("replayed"):
        INGESTED.labels(kind="predictions").inc(out["accepted"])
    return Ingested.model_validate(out)


def _with_retries(fn: Any) -> Any:
    # Two requests with the same new event ids race; the loser's insert fails on the unique key, and its
    # retry then sees the winner's rows.
    for attempt in range(RETRIES):
        try:
            return fn()
        except IntegrityError:
            if attempt == RETRIES - 1:
                raise ConflictError("the batch conflicted with a concurrent one; retry it") from None
    return None


def _feedback_body() -> dict[str, Any]:
    doc = json_body(FeedbackBatch)
    doc["requestBody"]["content"]["application/json"]["schema"] = {
        "oneOf": [
            {"$ref": "#/components/schemas/FeedbackBatch"},
            {"type": "array", "items": {"$ref": "#/components/schemas/FeedbackRecord"}},
        ]
    }
    return doc


@router.post(
    "/feedback",
    response_model=FeedbackStored,
    responses=errors(400, 403, 404, 409, 413, 422),
    openapi_extra=_feedback_body(),
)
async def feedback(model: str, request: Request, who: FeedbackGiver) -> FeedbackStored:
    settings = request.app.state.settings
    # Records are checked by the service, which names each record's row and field at fault.
    rows, _ = records(parse_json(await read_body(request, settings.max_body_bytes)))

    def work() -> dict[str, Any]:
        with transaction(factory(request)) as s:
            return log_feedback(s, model, rows, who.actor, max_rows=settings.max_rows)

    try:
        out: dict[str, Any] = await run_in_threadpool(_with_retries, work)
    except Exception:
        INGEST_ERRORS.labels(kind="feedback").inc()
        raise
    INGESTED.labels(kind="feedback").inc(out["stored"] + out["replaced"])
    return FeedbackStored.model_validate(out)
