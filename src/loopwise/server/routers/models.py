"""/v1/models: register, list, describe."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from loopwise.errors import ForbiddenError
from loopwise.ingest import register_model
from loopwise.server.bodies import parse_json, read_body
from loopwise.server.deps import Manager, Reader, factory, read_factory
from loopwise.store import transaction
from loopwise.store.catalog import ModelSummary, model_exists, model_summaries, model_summary
from loopwise.wire import ModelInfo, ModelList, RegisterModel, errors, json_body, parse

router = APIRouter(prefix="/v1/models", tags=["models"])


def _info(m: ModelSummary) -> ModelInfo:
    return ModelInfo.model_validate(
        {
            "name": m.name,
            "schema": m.schema,
            "created_at": m.created_at.isoformat(),
            "predictions": m.predictions,
        }
    )


@router.post(
    "",
    status_code=201,
    response_model=ModelInfo,
    response_model_exclude_unset=True,
    responses={
        200: {"model": ModelInfo, "description": "already registered with this schema: nothing changed"},
        **errors(400, 403, 409, 413, 422),
    },
    openapi_extra=json_body(RegisterModel),
)
async def create(request: Request, response: Response, who: Manager) -> ModelInfo:
    """Register a model; registering it again with the schema it has answers 200 with the model and changes
    nothing (another schema: 409, naming what differs)."""
    doc = parse_json(await read_body(request, request.app.state.settings.max_body_bytes))
    parse(RegisterModel, doc)
    if who.model_id is not None:
        raise ForbiddenError("a key limited to one model cannot register models")

    def work() -> ModelInfo:
        with transaction(factory(request)) as s:
            # The schema as sent: Schema.from_dict checks it, with messages naming the column.
            existed = model_exists(s, doc["name"])
            register_model(s, doc["name"], doc["schema"], who.actor)
            if existed:
                response.status_code = 200
            return _info(model_summary(s, doc["name"]))

    return await run_in_threadpool(work)


@router.get("", response_model=ModelList, response_model_exclude_unset=True, responses=errors(403))
def list_models(request: Request, who: Reader) -> ModelList:
    with read_factory(request)() as s:
        return ModelList(models=[_info(m) for m in model_summaries(s, who.model_id)])


@router.get(
    "/{model}", response_model=ModelInfo, response_model_exclude_unset=True, responses=errors(403, 404)
)
def describe(model: str, request: Request, who: Reader) -> ModelInfo:
    with read_factory(request)() as s:
        return _info(model_summary(s, model))
