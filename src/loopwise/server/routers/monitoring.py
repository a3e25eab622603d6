"""/v1/models/{model}/metrics, /references and /checks/run: windows answered from stored profiles."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from loopwise.checks import Suite
from loopwise.errors import DataError, LimitError
from loopwise.ingest import (
    export_window,
    get_model,
    get_reference,
    metrics,
    model_schema,
    pinned,
    put_reference,
    series,
    window,
)
from loopwise.profiles import Profile
from loopwise.schema.yamlfile import load_yaml_text
from loopwise.server.bodies import parse_json, read_body
from loopwise.server.deps import Manager, Reader, factory, read_factory
from loopwise.server.limits import check_profile, read_parquet
from loopwise.store import transaction
from loopwise.wire import (
    PARQUET_TYPES,
    Metrics,
    PinReference,
    ReferenceStored,
    RunChecks,
    Series,
    SuiteOutcome,
    binary_body,
    errors,
    json_body,
    parse,
)

router = APIRouter(prefix="/v1/models/{model}", tags=["monitoring"])


def _time(value: Any, name: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise DataError(f'{name} must be an ISO 8601 time as a string, e.g. "2026-01-01T00:00:00Z"')
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise DataError(
            f"{name} must be an ISO 8601 time, e.g. 2026-01-01T00:00:00Z; got {value!r}"
        ) from None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _segment(value: str | None) -> str | None:
    if value is not None and "=" not in value:
        raise DataError(f"segment must be column=value, e.g. purpose=car; got {value!r}")
    return value


@dataclass(frozen=True)
class Span:
    """The window of a GET: ``start`` and ``end`` (ISO 8601, parsed; hours starting in [start, end)) and a
    model version."""

    start: dt.datetime | None
    end: dt.datetime | None
    version: str | None


def _span(start: str | None = None, end: str | None = None, version: str | None = None) -> Span:
    return Span(_time(start, "start"), _time(end, "end"), version)


WindowQuery = Annotated[Span, Depends(_span)]


@router.get(
    "/metrics", response_model=Metrics, response_model_exclude_unset=True, responses=errors(403, 404, 422)
)
def get_metrics(
    model: str,
    request: Request,
    who: Reader,
    w: WindowQuery,
    reference: str | None = "default",
    segment: str | None = None,
) -> Metrics:
    with read_factory(request)() as s:
        return Metrics.model_validate(
            metrics(s, model, w.start, w.end, w.version, reference, _segment(segment))
        )


@router.get(
    "/series", response_model=Series, response_model_exclude_unset=True, responses=errors(403, 404, 422)
)
def get_series(
    model: str,
    request: Request,
    who: Reader,
    w: WindowQuery,
    bucket: str = "hour",
    columns: str | None = None,
) -> Series:
    """Per-bucket values for charts: volume, label coverage, accuracy or MAE, and chosen columns' means."""
    cols = [c for c in (columns or "").split(",") if c]
    with read_factory(request)() as s:
        return Series.model_validate(series(s, model, w.start, w.end, w.version, bucket, cols))


@router.get(
    "/export",
    response_class=Response,
    responses={
        200: {
            "description": "the window's events and their labels, one row each, as Parquet",
            "content": {"application/x-parquet": {"schema": {"type": "string", "format": "binary"}}},
        },
        **errors(403, 404, 422),
    },
)
def export(model: str, request: Request, who: Reader, w: WindowQuery) -> Response:
    """The window's raw events and their current labels, as Parquet."""
    with read_factory(request)() as s:
        data = export_window(s, model, w.start, w.end, w.version)
    return Response(
        data, media_type="application/x-parquet", headers={"Content-Disposition": _attachment(model)}
    )


def _attachment(model: str) -> str:
    """A Content-Disposition naming ``<model>.parquet``: headers are Latin-1, so a name that is not gets an
    ASCII fallback beside its UTF-8 form (RFC 6266 and RFC 5987's ``filename*``)."""
    name = f"{model}.parquet"
    ascii_name = name.encode("ascii", "replace").decode("ascii").replace('"', "_")
    if ascii_name == name:
        return f'attachment; filename="{name}"'
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.post(
    "/references",
    status_code=201,
    response_model=ReferenceStored,
    responses=errors(400, 403, 404, 413, 422),
    openapi_extra=binary_body(
        (*PARQUET_TYPES, "application/octet-stream"),
        "Data as Parquet (profiled here with the model's schema), or a profile file "
        "(`Profile.to_bytes()`) as application/octet-stream",
    ),
)
async def upload_reference(
    model: str, request: Request, who: Manager, name: str = "default", chunk_size: int | None = None
) -> ReferenceStored:
    """A reference from Parquet (profiled here; with ``chunk_size``, its chunks of that many rows are kept
    so that windows are compared with calibrated thresholds) or from a profile file (which carries its
    chunks, if it was made with them)."""
    import loopwise as lw

    settings = request.app.state.settings
    body = await read_body(request, settings.max_body_bytes)
    ctype = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip().lower()
    if chunk_size is not None and chunk_size < 1:
        raise DataError(f"chunk_size must be a positive integer; got {chunk_size}")
    if ctype in PARQUET_TYPES:
        table = read_parquet(body, settings)
    else:
        check_profile(body, settings)

    def work() -> ReferenceStored:
        with transaction(factory(request)) as s:
            schema = model_schema(get_model(s, model))
            if ctype in PARQUET_TYPES:
                prof = lw.profile(table, schema=schema, chunk_size=chunk_size)
            else:
                prof = Profile.from_bytes(body)
                if chunk_size is not None and (prof.chunks is None or prof.chunks.size != chunk_size):
                    raise DataError(
                        "a profile upload carries its own chunks; make it with "
                        f"lw.profile(data, chunk_size={chunk_size}) and upload that",
                    )
            put_reference(s, model, prof, name, {"source": "upload", "rows": prof.n, **_chunk_meta(prof)})
            return ReferenceStored(name=name, rows=prof.n, **_chunk_meta(prof))

    return await run_in_threadpool(work)


def _chunk_meta(prof: Profile) -> dict[str, Any]:
    c = prof.chunks
    return {"chunk_size": c.size if c else None, "chunks": c.n_chunks if c else None}


@router.post(
    "/references/pin",
    status_code=201,
    response_model=ReferenceStored,
    responses=errors(400, 403, 404, 413, 422),
    openapi_extra=json_body(PinReference),
)
async def pin_reference(model: str, request: Request, who: Manager) -> ReferenceStored:
    doc = parse_json(await read_body(request, 1 << 20))
    pin = parse(PinReference, doc)
    start, end = _time(pin.start, "start"), _time(pin.end, "end")

    def work() -> ReferenceStored:
        with transaction(factory(request)) as s:
            prof = pinned(s, model, start, end, pin.version, pin.chunk_size)
            meta = {"source": "window", "start": pin.start, "end": pin.end, **_chunk_meta(prof)}
            put_reference(s, model, prof, pin.name, meta)
            return ReferenceStored(name=pin.name, rows=prof.n, **_chunk_meta(prof))

    return await run_in_threadpool(work)


@router.post(
    "/checks/run",
    response_model=SuiteOutcome,
    response_model_exclude_unset=True,
    responses=errors(400, 403, 404, 413, 422),
    openapi_extra=json_body(RunChecks),
)
async def run_checks(model: str, request: Request, who: Reader) -> SuiteOutcome:
    """Run a suite sent as YAML text or as a JSON object; never a file name (decision 0016)."""
    settings = request.app.state.settings
    run = parse(RunChecks, parse_json(await read_body(request, settings.max_suite_bytes + 4096)))
    suite = _suite(run.suite, settings)
    start, end = _time(run.start, "start"), _time(run.end, "end")

    def work() -> SuiteOutcome:
        with read_factory(request)() as s:
            cur = window(s, model, start, end, run.version)
            ref = get_reference(s, model, run.reference) if run.reference else None
        return SuiteOutcome.model_validate(suite.run(cur, ref).to_dict())

    return await run_in_threadpool(work)


def _suite(spec: Any, settings: Any) -> Suite:
    """A suite from YAML text or a JSON object, refused past ``max_suite_bytes`` or ``max_suite_checks``.

    YAML aliases can make a small text a huge document (each ``*a`` repeats what ``&a`` names), so the
    parsed document's size is counted too, by visiting it with a budget.
    """
    if isinstance(spec, str):
        if len(spec.encode("utf-8", "replace")) > settings.max_suite_bytes:
            raise LimitError(f"the suite is over the limit of {settings.max_suite_bytes} bytes")
        spec = load_yaml_text(spec, "suite")
        if not isinstance(spec, dict):
            raise DataError(
                "the suite must be YAML text of a mapping or a JSON object; a file name is never read"
            )
    elif not isinstance(spec, dict):
        raise DataError("the suite must be YAML text or a JSON object (never a file name)")
    _bounded(spec, settings.max_suite_bytes // 4)
    checks = spec.get("checks") if isinstance(spec, dict) else None
    if isinstance(checks, list) and len(checks) > settings.max_suite_checks:
        raise LimitError(f"the suite has {len(checks)} checks; the limit is {settings.max_suite_checks}")
    return Suite.from_dict(spec)


def _bounded(doc: Any, budget: int) -> None:
    stack, seen = [doc], 0
    while stack:
        x = stack.pop()
        seen += 1
        if seen > budget:
            raise LimitError(f"the suite holds more than {budget} values; that is the limit")
        if isinstance(x, dict):
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
