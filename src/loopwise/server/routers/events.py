"""/v1/models/{model}/predictions and /feedback: batches in, one transaction each, idempotent."""

from __future__ import annotations

import threading
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, Request
from sqlalchemy import select, union
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from loopwise.errors import LoopwiseError, SchemaValidationError
from loopwise.ingest import (
    DEFAULT_VERSION,
    RESERVED,
    ROW_PARTS_BELOW,
    LimitError,
    Prepared,
    UnvalidatedBatch,
    Write,
    body_digest,
    log_feedback,
    prepare_predictions,
    registered,
    remembered,
)
from loopwise.schema import Schema
from loopwise.schema.validate import ValidationIssue
from loopwise.server.bodies import (
    Shape,
    body_to_table,
    is_json,
    parse_json,
    read_body,
    records,
    records_to_table,
    shape_of,
)
from loopwise.server.deps import FeedbackGiver, Ingester, factory, read_factory
from loopwise.server.errors import HTTPError
from loopwise.server.limits import check_versions, json_columns
from loopwise.server.telemetry import INGEST_ERRORS, INGESTED
from loopwise.server.writer import JsonBatch
from loopwise.store import transaction
from loopwise.store.tables import BucketPart, BucketProfile

router = APIRouter(prefix="/v1/models/{model}", tags=["events"])
RETRIES = 3


def _with_retries(fn: Any) -> Any:
    # Two requests with the same new event ids (or idempotency key) race; the loser's insert fails on the
    # unique key, and its retry then sees the winner's rows and answers as a replay.
    for attempt in range(RETRIES):
        try:
            return fn()
        except IntegrityError:
            if attempt == RETRIES - 1:
                raise HTTPError(409, "the batch conflicted with a concurrent one; retry it") from None
    return None


@router.post("/predictions")
async def predictions(
    model: str, request: Request, who: Ingester, version: str | None = None
) -> dict[str, Any]:
    settings = request.app.state.settings
    ctype = request.headers.get("content-type", "application/json")
    shape: Shape | None = None
    try:
        body = await read_body(request, settings.max_body_bytes)
        if is_json(ctype):
            rows, envelope = records(parse_json(body))
            if len(rows) > settings.max_rows:
                raise LimitError(
                    f"the batch has {len(rows)} rows; the limit is {settings.max_rows} per batch"
                )
            # Unknown columns are refused before anything is built: Arrow's cost grows with the square of
            # the number of columns it is given (100,000 keys took minutes).
            await _known_columns(request, model, json_columns(rows, settings))
            named = {r.get("model_version") for r in rows if isinstance(r, dict)} - {None}
            check_versions(len(named), settings)
            versions = {str(v) for v in named if isinstance(v, (str, int)) and not isinstance(v, bool)}
            unnamed = any(not isinstance(r, dict) or r.get("model_version") is None for r in rows)
            # A small batch of uniform rows goes to the writer as it is: it converts the group's together.
            shape = shape_of(rows) if len(rows) < ROW_PARTS_BELOW else None
            table = None if shape is not None else records_to_table(rows)
        else:
            table, envelope = body_to_table(body, ctype, settings)
            await _known_columns(request, model, table.column_names)
            col = table.column("model_version") if "model_version" in table.column_names else None
            versions, unnamed = set(), col is None or col.null_count > 0
            if col is not None and col.null_count < len(table):
                check_versions(pc.count_distinct(col).as_py(), settings)
                versions = {str(v) for v in pc.unique(col).to_pylist() if v is not None}
        ver = version or envelope.get("version")
        if ver is not None and not isinstance(ver, str):
            raise HTTPError(422, "version must be a string")
        await _versions_of_model(request, model, versions | ({ver or DEFAULT_VERSION} if unnamed else set()))
    except (HTTPError, LoopwiseError):
        INGEST_ERRORS.labels(kind="predictions").inc()
        raise
    key = request.headers.get("idempotency-key")
    digest = body_digest(body) if key else None

    def prepare(table: pa.Table) -> Prepared:
        # Validation and profiling only read, so they run beside the writer (one at a time: see
        # GroupWriter.preparing).
        with request.app.state.writer.preparing, read_factory(request)() as s:
            return prepare_predictions(s, model, table, version=ver, max_rows=settings.max_rows)

    try:
        # A small batch is validated and profiled by the writer together with the others queued with it:
        # per-column overhead dominates a one-event request, and thirty cost about what one does.
        queued: Prepared | UnvalidatedBatch | JsonBatch
        if table is None:
            assert shape is not None
            queued = JsonBatch(model, rows, shape, ver, settings.max_rows, key, digest)
        elif table.num_rows < ROW_PARTS_BELOW:
            queued = UnvalidatedBatch(model, table, ver, settings.max_rows)
        else:
            queued = await run_in_threadpool(prepare, table)
        writer = request.app.state.writer
        for attempt in range(RETRIES):
            try:
                # A fresh Write each attempt: the writer stages what it would store on it.
                item = queued if isinstance(queued, JsonBatch) else Write(queued, key, digest)
                out: dict[str, Any]
                if isinstance(queued, Prepared) and writer.side_by_side:
                    out = await run_in_threadpool(writer.write_here, item)
                else:
                    out = await writer.write(item)
                break
            except IntegrityError:
                # Another process stored some of these ids (or this key) first; the retry sees them.
                if attempt == RETRIES - 1:
                    raise HTTPError(409, "the batch conflicted with a concurrent one; retry it") from None
    except Exception:
        INGEST_ERRORS.labels(kind="predictions").inc()
        raise
    if not out.get("replayed"):
        INGESTED.labels(kind="predictions").inc(out["accepted"])
    return out


async def _known_columns(request: Request, model: str, names: list[str]) -> None:
    """Refuse column names the model's schema does not have, naming them (as validation would, later)."""
    hit = remembered(request.app.state.engine, model)
    if hit is None:

        def look() -> tuple[int, Schema]:
            with read_factory(request)() as s:
                return registered(s, model)

        hit = await run_in_threadpool(look)
    known = set(hit[1].names) | set(RESERVED)
    extra = [n for n in names if n not in known]
    if extra:
        shown = ", ".join(extra[:20]) + (f" and {len(extra) - 20} more" if len(extra) > 20 else "")
        raise SchemaValidationError(
            [
                ValidationIssue(
                    shown, "unknown_column", "column(s) not in the model's schema (targets go to /feedback)"
                )
            ]
        )


#: The versions each model is known to have, by (database, model): a batch naming only known versions costs no
#: query. Another process's new versions are seen when the limit seems reached (the set is then read again).
_VERSIONS: dict[tuple[str, str], set[str]] = {}
_versions_lock = threading.Lock()


async def _versions_of_model(request: Request, model: str, names: set[str]) -> None:
    """Refuse a batch that would take a model past ``max_versions_per_model`` versions (413)."""
    limit = request.app.state.settings.max_versions_per_model
    key = (str(request.app.state.engine.url), model)
    with _versions_lock:
        known = _VERSIONS.get(key)
        if known is not None and names <= known:
            return
    if known is None or len(known | names) > limit:

        def stored() -> set[str]:
            with read_factory(request)() as s:
                model_id = registered(s, model)[0]
                q = union(
                    select(BucketProfile.version).where(BucketProfile.model_id == model_id),
                    select(BucketPart.version).where(BucketPart.model_id == model_id),
                )
                return {str(v) for v in s.scalars(q)}

        known = await run_in_threadpool(stored)
    total = known | names
    if len(total) > limit:
        raise HTTPError(
            413,
            f"model {model!r} would have {len(total)} versions; the limit is {limit} per model "
            "(LOOPWISE_MAX_VERSIONS_PER_MODEL)",
        )
    with _versions_lock:
        if len(_VERSIONS) > 10_000:  # bounded: forget everything rather than grow
            _VERSIONS.clear()
        _VERSIONS[key] = total  # counted before the write: a batch refused later only over-counts


@router.post("/feedback")
async def feedback(model: str, request: Request, who: FeedbackGiver) -> dict[str, Any]:
    settings = request.app.state.settings
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
    return out
