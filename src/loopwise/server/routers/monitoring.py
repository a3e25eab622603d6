"""/v1/models/{model}/metrics, /references and /checks/run: windows answered from stored profiles."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from loopwise.checks import Suite
from loopwise.ingest import get_reference, metrics, put_reference, window
from loopwise.ingest.windows import pinned, series
from loopwise.profiles import Profile
from loopwise.server.bodies import PARQUET_TYPES, parse_json, read_body
from loopwise.server.deps import Manager, Reader, factory, read_factory
from loopwise.server.errors import HTTPError
from loopwise.store import transaction

router = APIRouter(prefix="/v1/models/{model}", tags=["monitoring"])


def _time(value: str | None, name: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise HTTPError(
            422, f"{name} must be an ISO 8601 time, e.g. 2026-01-01T00:00:00Z; got {value!r}"
        ) from None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


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


@router.get("/metrics")
def get_metrics(
    model: str,
    request: Request,
    who: Reader,
    w: WindowQuery,
    reference: str | None = "default",
    segment: str | None = None,
) -> dict[str, Any]:
    with read_factory(request)() as s:
        return metrics(s, model, w.start, w.end, w.version, reference, segment)


@router.get("/series")
def get_series(
    model: str,
    request: Request,
    who: Reader,
    w: WindowQuery,
    bucket: str = "hour",
    columns: str | None = None,
) -> dict[str, Any]:
    """Per-bucket values for charts: volume, label coverage, accuracy or MAE, and chosen columns' means."""
    cols = [c for c in (columns or "").split(",") if c]
    with read_factory(request)() as s:
        return series(s, model, w.start, w.end, w.version, bucket, cols)


@router.get("/export")
def export(model: str, request: Request, who: Reader, w: WindowQuery) -> Response:
    """The window's raw events and their current labels, as Parquet."""
    from loopwise.ingest.export import export_window

    with read_factory(request)() as s:
        data = export_window(s, model, w.start, w.end, w.version)
    return Response(
        data,
        media_type="application/x-parquet",
        headers={"Content-Disposition": f'attachment; filename="{model}.parquet"'},
    )


@router.post("/references", status_code=201)
async def upload_reference(
    model: str, request: Request, who: Manager, name: str = "default", chunk_size: int | None = None
) -> dict[str, Any]:
    """A reference from Parquet (profiled here; with ``chunk_size``, its chunks of that many rows are kept
    so that windows are compared with calibrated thresholds) or from a profile file (which carries its
    chunks, if it was made with them)."""
    import loopwise as lw

    body = await read_body(request, request.app.state.settings.max_body_bytes)
    ctype = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip()

    def work() -> dict[str, Any]:
        with transaction(factory(request)) as s:
            from loopwise.ingest import get_model
            from loopwise.ingest.models import model_schema

            schema = model_schema(get_model(s, model))
            if ctype in PARQUET_TYPES:
                import pyarrow as pa
                import pyarrow.parquet as pq

                prof = lw.profile(pq.read_table(pa.BufferReader(body)), schema=schema, chunk_size=chunk_size)
            else:
                prof = Profile.from_bytes(body)
                if chunk_size is not None and (prof.chunks is None or prof.chunks.size != chunk_size):
                    raise HTTPError(
                        422,
                        "a profile upload carries its own chunks; make it with "
                        f"lw.profile(data, chunk_size={chunk_size}) and upload that",
                    )
            put_reference(s, model, prof, name, {"source": "upload", "rows": prof.n, **_chunk_meta(prof)})
            return {"name": name, "rows": prof.n, **_chunk_meta(prof)}

    return await run_in_threadpool(work)


def _chunk_meta(prof: Profile) -> dict[str, Any]:
    c = prof.chunks
    return {"chunk_size": c.size if c else None, "chunks": c.n_chunks if c else None}


@router.post("/references/pin", status_code=201)
async def pin_reference(model: str, request: Request, who: Manager) -> dict[str, Any]:
    doc = parse_json(await read_body(request, 1 << 20))
    if not isinstance(doc, dict):
        raise HTTPError(422, 'expected {"name": ..., "start": ..., "end": ...}')
    name = doc.get("name", "default")
    start, end = _time(doc.get("start"), "start"), _time(doc.get("end"), "end")

    chunk_size = doc.get("chunk_size")
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)):
        raise HTTPError(422, f"chunk_size must be a positive integer; got {chunk_size!r}")

    def work() -> dict[str, Any]:
        with transaction(factory(request)) as s:
            prof = pinned(s, model, start, end, doc.get("version"), chunk_size)
            meta = {"source": "window", "start": doc.get("start"), "end": doc.get("end"), **_chunk_meta(prof)}
            put_reference(s, model, prof, name, meta)
            return {"name": name, "rows": prof.n, **_chunk_meta(prof)}

    return await run_in_threadpool(work)


@router.post("/checks/run")
async def run_checks(model: str, request: Request, who: Reader) -> dict[str, Any]:
    doc = parse_json(await read_body(request, 1 << 20))
    if not isinstance(doc, dict) or "suite" not in doc:
        raise HTTPError(422, 'expected {"suite": <suite YAML text or object>, "start": ..., "end": ...}')
    spec = doc["suite"]
    suite = Suite.from_yaml(spec) if isinstance(spec, str) else Suite.from_dict(spec)
    start, end = _time(doc.get("start"), "start"), _time(doc.get("end"), "end")

    def work() -> dict[str, Any]:
        with read_factory(request)() as s:
            cur = window(s, model, start, end, doc.get("version"))
            ref_name = doc.get("reference", "default")
            ref = get_reference(s, model, ref_name) if ref_name else None
        return suite.run(cur, ref).to_dict()

    return await run_in_threadpool(work)
