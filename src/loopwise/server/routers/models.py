"""/v1/models: register, list, describe."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import func, select

from loopwise.errors import DataError, ForbiddenError
from loopwise.ingest import get_model, register_model
from loopwise.server.bodies import parse_json, read_body
from loopwise.server.deps import Manager, Reader, factory, read_factory
from loopwise.store import transaction
from loopwise.store.tables import Event, Model

router = APIRouter(prefix="/v1/models", tags=["models"])


def _describe(s: Any, m: Model) -> dict[str, Any]:
    n = s.scalar(select(func.count()).select_from(Event).where(Event.model_id == m.id))
    return {"name": m.name, "schema": m.schema_json, "created_at": m.created_at.isoformat(), "predictions": n}


@router.post("", status_code=201)
async def create(request: Request, who: Manager) -> dict[str, Any]:
    doc = parse_json(await read_body(request, request.app.state.settings.max_body_bytes))
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("name"), str)
        or not isinstance(doc.get("schema"), dict)
    ):
        raise DataError('expected {"name": ..., "schema": {"columns": {...}}}')
    if who.model_id is not None:
        raise ForbiddenError("a key limited to one model cannot register models")
    from starlette.concurrency import run_in_threadpool

    def work() -> dict[str, Any]:
        with transaction(factory(request)) as s:
            m = register_model(s, doc["name"], doc["schema"], who.actor)
            return _describe(s, m)

    return await run_in_threadpool(work)


@router.get("")
def list_models(request: Request, who: Reader) -> dict[str, Any]:
    with read_factory(request)() as s:
        q = select(Model).order_by(Model.name)
        if who.model_id is not None:
            q = q.where(Model.id == who.model_id)
        return {"models": [_describe(s, m) for m in s.scalars(q)]}


@router.get("/{model}")
def describe(model: str, request: Request, who: Reader) -> dict[str, Any]:
    with read_factory(request)() as s:
        return _describe(s, get_model(s, model))
