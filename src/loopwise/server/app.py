"""create_app(settings): the FastAPI application, a thin layer over the services."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from loopwise._version import __version__
from loopwise.errors import LoopwiseError
from loopwise.server.deps import Public, no_nul
from loopwise.server.errors import handle
from loopwise.server.jobs import Compactor, MonitorLoop, ReviewLoop
from loopwise.server.routers import (
    auth,
    events,
    gate,
    models,
    monitoring,
    monitors,
    registry,
    review,
    serving,
    users,
)
from loopwise.server.sessions import LoginLimiter
from loopwise.server.settings import Settings
from loopwise.server.telemetry import (
    REGISTRY,
    CompactorCollector,
    ModelCollector,
    MonitorCollector,
    RequestMetrics,
)
from loopwise.server.writer import GroupWriter
from loopwise.store import ensure_schema, make_engine, session_factory
from loopwise.wire import Health, with_request_bodies


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    engine = make_engine(settings.database_url)
    try:
        ensure_schema(engine, migrate=settings.migrate)  # decision 0015
    except BaseException:
        engine.dispose()
        raise
    sessions, read_sessions = session_factory(engine), session_factory(engine, readonly=True)
    compactor = Compactor(sessions, read_sessions, settings.compact_seconds)
    writer = GroupWriter(sessions, read_sessions, max_rows=max(settings.max_rows, 10_000))
    scheduler = MonitorLoop(sessions, read_sessions, settings.alerts, settings.monitor_seconds)
    review_stream = ReviewLoop(sessions, settings.review_seconds)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # What importing the stack left (about 150,000 objects, scipy's mostly) is there for good: out of
        # the collector's sight, a full collection no longer stalls every request for ~100 ms about once a
        # second under load (measured with gc.callbacks during the single-event benchmark).
        gc.freeze()
        if settings.compact_seconds > 0:
            compactor.start()
        if settings.monitor_seconds > 0:
            scheduler.start()
        if settings.review_seconds > 0:
            review_stream.start()
        yield
        review_stream.stop()
        scheduler.stop()
        writer.stop()
        compactor.stop()
        engine.dispose()

    # The pages load Swagger UI and ReDoc from a CDN (FastAPI's defaults; no package loopwise depends on
    # ships their files), so offline they are blank; /openapi.json itself needs nothing from outside.
    docs = settings.api_docs
    app = FastAPI(
        title="loopwise",
        version=__version__,
        lifespan=lifespan,
        openapi_url="/openapi.json" if docs else None,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        dependencies=[Depends(no_nul)],  # a NUL in a parameter is a 422 on every route (decision 0046)
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.read_sessions = read_sessions
    app.state.compactor = compactor
    app.state.scheduler = scheduler
    app.state.review_stream = review_stream
    app.state.writer = writer
    for exc in (LoopwiseError, RequestValidationError, DBAPIError):
        app.add_exception_handler(exc, handle)

    async def not_found(request: Request, exc: Exception) -> Response:
        """No route: inside the workspace (/ui) a page that says so, elsewhere the API's JSON."""
        from loopwise.ui.pages import is_page, page_not_found

        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404 and is_page(request.url.path):
            return await page_not_found(request)
        return await http_exception_handler(request, exc)

    app.add_exception_handler(StarletteHTTPException, not_found)

    app.add_middleware(RequestMetrics)

    @app.get("/health", response_model=Health)
    def health(_: Public) -> Health:
        return Health(status="ok", version=__version__)

    per_model = CollectorRegistry()
    per_model.register(ModelCollector(app.state.read_sessions))
    per_model.register(CompactorCollector(compactor))
    per_model.register(MonitorCollector(app.state.read_sessions))

    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: {"description": "Prometheus' text format", "content": {CONTENT_TYPE_LATEST: {}}}},
    )
    def prometheus(_: Public) -> Response:
        return Response(
            generate_latest(REGISTRY) + generate_latest(per_model), media_type=CONTENT_TYPE_LATEST
        )

    app.state.login_limiter = LoginLimiter()
    routers = (models, events, monitoring, monitors, registry, gate, serving, review, auth, users)
    for r in (m.router for m in routers):
        app.include_router(r)
    from loopwise.ui import router as ui  # the reviewer workspace (pages, not API)

    app.include_router(ui)
    _document_bodies(app)
    return app


def _document_bodies(app: FastAPI) -> None:
    """/openapi.json with the request bodies the routes read themselves (``loopwise.wire.openapi``)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_request_bodies(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
