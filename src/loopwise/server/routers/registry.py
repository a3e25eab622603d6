"""/v1/models/{model}/versions and /aliases: the registry over HTTP (docs/registry.md, decision 0024).

Registering a version, evaluating it on logged traffic and moving an alias need the maintainer or admin
role; a pickle artifact, when the operator trusts pickles at all, an admin's key (decision 0025); logging a
shadow version's outputs, an ingest key (as logging the served ones). Reading and comparing need a
viewer's.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from loopwise._lazy import lazy
from loopwise.errors import DataError, NotFoundError, ParameterError
from loopwise.ingest import get_model
from loopwise.registry import (
    ArtifactStore,
    Lineage,
    RegistrySettings,
    alias_history,
    aliases,
    compare_versions,
    describe,
    evaluate,
    list_versions,
    log_shadow,
    register_version,
    served,
    set_alias,
    version_at,
)
from loopwise.registry.predictors import PredictorCache
from loopwise.registry.versions import check_registered
from loopwise.server.bodies import field_error, read_model
from loopwise.server.deps import Ingester, Manager, Reader, factory, read_factory
from loopwise.store import transaction
from loopwise.wire.common import errors, json_body
from loopwise.wire.registry import (
    AliasList,
    AliasMoveOut,
    AliasMoves,
    ComparisonOut,
    EvaluateVersion,
    EvaluationOut,
    RegisterVersion,
    Served,
    SetAlias,
    ShadowOutputs,
    ShadowStored,
    VersionAt,
    VersionList,
    VersionOut,
)

if TYPE_CHECKING:
    import pandas as pd
else:
    pd = lazy("pandas")

router = APIRouter(prefix="/v1/models/{model}", tags=["registry"])


def registry_settings(request: Request) -> tuple[RegistrySettings, ArtifactStore]:
    settings = request.app.state.settings
    registry: RegistrySettings = settings.registry
    return registry, ArtifactStore(registry.directory_for(settings.database_url), registry.max_artifact_bytes)


def predictor_cache(request: Request) -> PredictorCache:
    """The application's loaded versions (``predict`` serves from them, ``evaluate`` replays with them); one
    per application, so an app per database in one process keeps its versions apart."""
    state = request.app.state
    if getattr(state, "predictors", None) is None:
        state.predictors = PredictorCache()
    cache: PredictorCache = state.predictors
    return cache


def _base64(value: str, name: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise DataError(f"{name} is not valid base64") from None


def _lineage(body: RegisterVersion) -> Lineage:
    from loopwise.profiles import Profile

    if body.lineage is None:
        return Lineage()
    spec = body.lineage.model_dump()
    if spec["reference"] is not None:
        spec["reference"] = Profile.from_bytes(_base64(spec["reference"], "lineage.reference"))
    return Lineage.from_dict(spec)


def _register_body() -> dict[str, Any]:
    doc = json_body(RegisterVersion)
    doc["requestBody"]["content"]["application/octet-stream"] = {
        "schema": {"type": "string", "format": "binary"}
    }
    return doc


@router.post(
    "/versions",
    status_code=201,
    response_model=VersionOut,
    responses=errors(400, 403, 404, 409, 413, 422),
    openapi_extra=_register_body(),
)
async def register(model: str, request: Request, who: Manager) -> VersionOut:
    """Register a version: its artifact is stored by digest, loaded under the operator's trust rules and
    run on the sample; one that does not fit the model's schema is refused, naming the column.

    The artifact may also come as the raw body (``application/octet-stream``, ``version`` and ``flavor``
    in the query, the lineage as JSON in ``X-Loopwise-Lineage``): streamed into the store (decision 0029)."""
    registry, store = registry_settings(request)
    if request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/octet-stream":
        return await _register_raw(model, request, who, registry, store)
    # The artifact travels base64-encoded (4 bytes for 3) beside the rest of the body.
    limit = request.app.state.settings.max_body_bytes + (registry.max_artifact_bytes * 4) // 3 + 4
    body = await read_model(request, RegisterVersion, limit)
    artifact = _base64(body.artifact, "artifact") if body.artifact is not None else None
    lineage = _lineage(body)
    sample = pd.DataFrame.from_records(body.sample) if body.sample is not None else None
    if sample is not None and sample.empty:
        raise DataError("the sample has no rows")

    def work() -> VersionOut:
        v = register_version(
            factory(request),
            read_factory(request),
            registry,
            store,
            model,
            body.version,
            flavor=body.flavor,
            artifact=artifact,
            uri=body.uri,
            sha256=body.sha256,
            lineage=lineage,
            sample=sample,
            actor=who.actor,
            admin=who.role == "admin",
        )
        return VersionOut.model_validate(v.to_dict())

    return await run_in_threadpool(work)


async def _register_raw(
    model: str, request: Request, who: Any, registry: RegistrySettings, store: ArtifactStore
) -> VersionOut:
    from loopwise.server.uploads import RequestStream, declared_within

    declared_within(request, registry.max_artifact_bytes)
    query = request.query_params
    try:
        body = RegisterVersion.model_validate(
            {
                "version": query.get("version", query.get("name")),
                "flavor": query.get("flavor", "sklearn"),
                "sha256": query.get("sha256"),
                "lineage": json.loads(request.headers.get("x-loopwise-lineage") or "null"),
            }
        )
    except json.JSONDecodeError:
        raise DataError("X-Loopwise-Lineage is not valid JSON") from None
    except ValidationError as exc:
        raise field_error(exc) from None
    if body.flavor == "external":
        raise DataError("an external version has no artifact: register it with JSON (uri and sha256)")
    lineage = _lineage(body)

    def work() -> VersionOut:
        v = register_version(
            factory(request),
            read_factory(request),
            registry,
            store,
            model,
            body.version,
            flavor=body.flavor,
            artifact=RequestStream(request),  # type: ignore[arg-type]
            sha256=body.sha256,
            lineage=lineage,
            actor=who.actor,
            admin=who.role == "admin",
        )
        return VersionOut.model_validate(v.to_dict())

    return await run_in_threadpool(work)


@router.get("/versions", response_model=VersionList, responses=errors(403, 404))
def versions(model: str, request: Request, who: Reader) -> VersionList:
    with read_factory(request)() as s:
        return VersionList(versions=[VersionOut.model_validate(v.to_dict()) for v in list_versions(s, model)])


@router.get("/versions/{version}", response_model=VersionOut, responses=errors(403, 404))
def version(model: str, version: str, request: Request, who: Reader) -> VersionOut:
    with read_factory(request)() as s:
        return VersionOut.model_validate(describe(s, model, version).to_dict())


@router.get(
    "/versions/{version}/artifact",
    response_class=FileResponse,
    responses={
        200: {
            "description": "the artifact's bytes as stored (its sha256 in X-Loopwise-Sha256)",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        },
        **errors(403, 404, 422),
    },
)
def artifact(model: str, version: str, request: Request, who: Reader) -> FileResponse:
    """The version's artifact file, as stored (its digest in ``X-Loopwise-Sha256``)."""
    _, store = registry_settings(request)
    with read_factory(request)() as s:
        v = describe(s, model, version)
        if v.flavor == "external" or v.sha256 is None:
            raise DataError(f"version {version!r} is external ({v.uri}): loopwise holds no artifact for it")
        check_registered(s, model, get_model(s, model).id, version, v.sha256)
    path = store.path(v.sha256)
    if not path.is_file():
        raise NotFoundError(f"the artifact of version {version!r} ({v.sha256}) is not in the artifact folder")
    return FileResponse(
        path,
        media_type="application/octet-stream",
        headers={"X-Loopwise-Sha256": v.sha256, "X-Loopwise-Format": v.format or ""},
    )


@router.get("/aliases", response_model=AliasList, responses=errors(403, 404))
def list_aliases(model: str, request: Request, who: Reader) -> AliasList:
    with read_factory(request)() as s:
        return AliasList(aliases=aliases(s, model))


def moves_out(moves: list[Any]) -> AliasMoves:
    return AliasMoves(moves=[AliasMoveOut.model_validate(m.to_dict()) for m in moves])


@router.put(
    "/aliases/{alias}",
    response_model=AliasMoves,
    responses=errors(400, 403, 404, 409, 413, 422),
    openapi_extra=json_body(SetAlias),
)
async def move_alias(model: str, alias: str, request: Request, who: Manager) -> AliasMoves:
    """Point the alias at a version; the move is recorded with the key's name, the time and the evidence."""
    body = await read_model(request, SetAlias)

    def work() -> AliasMoves:
        with transaction(factory(request)) as s:
            return moves_out(
                set_alias(s, model, alias, body.version, actor=who.actor, evidence=body.evidence)
            )

    return await run_in_threadpool(work)


@router.delete("/aliases/{alias}", response_model=AliasMoves, responses=errors(403, 404, 409, 422))
def unset_alias(model: str, alias: str, request: Request, who: Manager) -> AliasMoves:
    with transaction(factory(request)) as s:
        return moves_out(set_alias(s, model, alias, None, actor=who.actor))


@router.get("/aliases/history", response_model=AliasMoves, responses=errors(403, 404, 422))
def history(model: str, request: Request, who: Reader, alias: str | None = None) -> AliasMoves:
    """Every recorded move of ``alias`` (all aliases without it), oldest first."""
    with read_factory(request)() as s:
        return moves_out(alias_history(s, model, alias))


@router.get("/aliases/{alias}/at", response_model=VersionAt, responses=errors(403, 404, 422))
def at(model: str, alias: str, time: dt.datetime, request: Request, who: Reader) -> VersionAt:
    """The version the alias pointed at, at ``time`` (ISO 8601; without a zone, UTC)."""
    when = as_utc(time)
    with read_factory(request)() as s:
        return VersionAt(alias=alias, at=when, version=version_at(s, model, alias, when))


def as_utc(t: dt.datetime) -> dt.datetime:
    """``t`` in UTC (without a zone, taken as UTC); one that leaves the calendar in UTC is refused."""
    try:
        return t.astimezone(dt.UTC) if t.tzinfo else t.replace(tzinfo=dt.UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is in year 0 in UTC
        raise ParameterError("time", t.isoformat(), "a time within years 1-9999 in UTC") from None


@router.get("/served", response_model=Served, responses=errors(403, 404, 422))
def served_versions(
    model: str, start: dt.datetime, end: dt.datetime, request: Request, who: Reader
) -> Served:
    """What actually served in [start, end): events per version, from the versions the events carry."""
    a, b = as_utc(start), as_utc(end)
    with read_factory(request)() as s:
        return Served(start=a, end=b, versions=served(s, model, a, b))


# Challengers on real traffic (decision 0026).


@router.post(
    "/versions/{version}/evaluate",
    response_model=EvaluationOut,
    responses=errors(400, 403, 404, 413, 422),
    openapi_extra=json_body(EvaluateVersion),
)
async def evaluate_version(model: str, version: str, request: Request, who: Manager) -> EvaluationOut:
    """Run the version on the events logged in [start, end) that it has not answered yet, and store its
    outputs beside the served ones; evaluating a window twice stores nothing twice."""
    registry, store = registry_settings(request)
    body = await read_model(request, EvaluateVersion)
    extra: dict[str, Any] = {"batch_rows": body.batch_rows} if body.batch_rows is not None else {}

    def work() -> EvaluationOut:
        found = evaluate(
            factory(request),
            read_factory(request),
            registry,
            store,
            model,
            version,
            as_utc(body.start),
            as_utc(body.end),
            actor=who.actor,
            predictors=predictor_cache(request),
            **extra,
        )
        return EvaluationOut.model_validate(found.to_dict())

    return await run_in_threadpool(work)


@router.post(
    "/versions/{version}/shadow",
    response_model=ShadowStored,
    responses=errors(400, 403, 404, 413, 422),
    openapi_extra=json_body(ShadowOutputs),
)
async def shadow(model: str, version: str, request: Request, who: Ingester) -> ShadowStored:
    """Store a shadow version's outputs for events the model has logged; unknown event ids are refused,
    naming a few, and nothing is stored."""
    body = await read_model(request, ShadowOutputs)

    def work() -> ShadowStored:
        with transaction(factory(request)) as s:
            return ShadowStored.model_validate(
                log_shadow(s, model, version, body.event_ids, body.predictions, body.scores)
            )

    return await run_in_threadpool(work)


@router.get("/compare", response_model=ComparisonOut, responses=errors(403, 404, 422))
def compare(
    model: str,
    champion: str,
    challenger: str,
    start: dt.datetime,
    end: dt.datetime,
    request: Request,
    who: Reader,
    metrics: Annotated[list[str] | None, Query()] = None,
    margin: float | None = None,
    alpha: float = 0.05,
    min_effect: float | None = None,
) -> ComparisonOut:
    """Challenger vs champion (versions or aliases) on the window's events both answered, with the labels
    that have arrived: the library's paired tests, agreement, per-segment changes."""
    with read_factory(request)() as s:
        found = compare_versions(
            s,
            model,
            champion,
            challenger,
            as_utc(start),
            as_utc(end),
            metrics=metrics,
            margin=margin,
            alpha=alpha,
            min_effect=min_effect,
        )
    return ComparisonOut.model_validate(found.to_dict())
