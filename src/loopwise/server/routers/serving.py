"""Serving from the registry (docs/registry.md, "Serving"; decision 0029).

``POST /predict`` runs the champion on a batch and logs its answers with its version (the ingest policy, as
logging predictions: a serving process holds an ingest key); the version holding ``shadow`` answers the same
events after the response is sent. ``GET /aliases/{alias}`` answers 304 to an If-None-Match of the current
ETag, so a loaded model checks for a move cheaply. Evaluations run as background jobs: ``POST
/versions/{version}/evaluations`` answers 202 with the job (maintainer, as the synchronous evaluate),
``GET /jobs/{job}`` its state (viewer).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request, Response
from starlette.concurrency import run_in_threadpool

from loopwise.errors import LimitError
from loopwise.registry import ArtifactStore, RegistrySettings, aliases
from loopwise.registry.jobs import describe_job, run_evaluation, run_in_thread, start_evaluation
from loopwise.registry.predictors import PredictorCache
from loopwise.registry.serving import predict, shadow
from loopwise.server.bodies import body_to_table, parse_json, read_body, read_model, records, records_to_table
from loopwise.server.deps import Ingester, Manager, Reader, factory, read_factory
from loopwise.server.limits import json_columns
from loopwise.server.routers.registry import as_utc, predictor_cache, registry_settings
from loopwise.store import transaction
from loopwise.wire import ARROW_TYPES
from loopwise.wire.common import errors, json_body
from loopwise.wire.registry import EvaluateVersion
from loopwise.wire.serving import AliasOut, JobOut, Predicted, PredictRows

router = APIRouter(prefix="/v1/models/{model}", tags=["serving"])
log = logging.getLogger("loopwise.serving")


def _cache(request: Request) -> PredictorCache:
    return predictor_cache(request)


def _etag(version: str | None) -> str:
    # Version names are [A-Za-z0-9._-]: safe inside the quotes as they are.
    return f'"{version}"' if version is not None else '"-"'


@router.get(
    "/aliases/{alias}",
    response_model=AliasOut,
    responses={
        304: {"description": "the alias still points where the If-None-Match ETag says"},
        **errors(403, 404),
    },
)
def alias(model: str, alias: str, request: Request, response: Response, who: Reader) -> Any:
    """The version ``alias`` points at now, with an ETag; 304 (no body) when If-None-Match holds it."""
    with read_factory(request)() as s:
        version = aliases(s, model).get(alias)
    tag = _etag(version)
    if tag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers={"ETag": tag})
    response.headers["ETag"] = tag
    return AliasOut(alias=alias, version=version)


def _predict_body() -> dict[str, Any]:
    doc = json_body(PredictRows)
    doc["requestBody"]["content"][ARROW_TYPES[0]] = {"schema": {"type": "string", "format": "binary"}}
    return doc


@router.post(
    "/predict",
    response_model=Predicted,
    responses=errors(400, 403, 404, 409, 413, 415, 422),
    openapi_extra=_predict_body(),
)
async def predict_rows(model: str, request: Request, background: BackgroundTasks, who: Ingester) -> Predicted:
    """Run the champion on the rows, log them with its answers under its version, and return the answers
    with the events' ids; the version holding ``shadow`` answers the same events in the background."""
    settings = request.app.state.settings
    registry, store = registry_settings(request)
    body = await read_body(request, settings.max_body_bytes)
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if ctype == "application/json":
        rows, _ = records(parse_json(body), "rows")
        if len(rows) > settings.max_rows:
            raise LimitError(f"the batch has {len(rows)} rows; the limit is {settings.max_rows} per batch")
        json_columns(rows, settings)  # counted and capped before Arrow sees them, as for /predictions
        table = records_to_table(rows)
    else:
        table, _ = body_to_table(body, ctype, settings)
    cache = _cache(request)

    def work() -> Any:
        return predict(
            factory(request),
            read_factory(request),
            registry,
            store,
            cache,
            model,
            table,
            max_rows=settings.max_rows,
        )

    served, logged = await run_in_threadpool(work)
    if served.shadow is not None and served.accepted:
        background.add_task(
            _shadow, request, registry, store, cache, model, served.shadow, served.event_ids, logged
        )
    return Predicted.model_validate(served.to_dict())


def _shadow(
    request: Request,
    registry: RegistrySettings,
    store: ArtifactStore,
    cache: PredictorCache,
    model: str,
    version: str,
    event_ids: list[str],
    logged: Any,
) -> None:
    # After the response: a shadow that cannot answer must not fail the champion's request; it is logged.
    try:
        shadow(
            factory(request), read_factory(request), registry, store, cache, model, version, event_ids, logged
        )
    except Exception as exc:  # the estimator's own errors too: the response is sent, only the log can say
        log.warning(
            "shadow version %r of model %r did not answer: %s: %s", version, model, type(exc).__name__, exc
        )


@router.post(
    "/versions/{version}/evaluations",
    status_code=202,
    response_model=JobOut,
    responses=errors(400, 403, 404, 413, 422),
    openapi_extra=json_body(EvaluateVersion),
)
async def start(model: str, version: str, request: Request, response: Response, who: Manager) -> JobOut:
    """Start evaluating the version on the events logged in [start, end) in the background; the answer is
    the queued job (its URL in Location): ``GET /jobs/{id}`` shows progress and, once done, the result."""
    registry, store = registry_settings(request)
    body = await read_model(request, EvaluateVersion)

    def work() -> JobOut:
        with transaction(factory(request)) as s:
            job_id = start_evaluation(
                s,
                model,
                version,
                as_utc(body.start),
                as_utc(body.end),
                actor=who.actor,
                batch_rows=body.batch_rows,
            )
        run_in_thread(
            run_evaluation,
            factory(request),
            read_factory(request),
            registry,
            store,
            model,
            job_id,
            _cache(request),
        )
        with read_factory(request)() as s:
            return JobOut.model_validate(describe_job(s, model, job_id).to_dict())

    job = await run_in_threadpool(work)
    response.headers["Location"] = f"/v1/models/{model}/jobs/{job.id}"
    return job


@router.get("/jobs/{job}", response_model=JobOut, responses=errors(403, 404))
def job(model: str, job: str, request: Request, who: Reader) -> JobOut:
    """A background job's state, progress and (once done) result."""
    with read_factory(request)() as s:
        return JobOut.model_validate(describe_job(s, model, job).to_dict())
