"""Prometheus metrics: the server's requests, and what it ingests. Labels stay low-cardinality
(a route template, never a model name or a path with ids in it)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "loopwise_http_requests_total", "HTTP requests", ["route", "method", "status"], registry=REGISTRY
)
LATENCY = Histogram(
    "loopwise_http_request_seconds",
    "HTTP request latency",
    ["route"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
INGESTED = Counter("loopwise_ingested_total", "Rows stored", ["kind"], registry=REGISTRY)
INGEST_ERRORS = Counter(
    "loopwise_ingest_errors_total", "Rejected ingestion requests", ["kind"], registry=REGISTRY
)


class RequestMetrics:
    """Counts requests and times them by route template: a plain ASGI middleware.

    Starlette's ``BaseHTTPMiddleware`` (``@app.middleware("http")``) runs each request in a task group with
    a streamed response, which cost a fifth of a single-event request's time.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # The router records the matched route in the scope it was given.
            route = scope.get("route")
            template = route.path if isinstance(route, Route) else "other"
            REQUESTS.labels(template, scope["method"], str(status)).inc()
            LATENCY.labels(template).observe(time.perf_counter() - start)


class ModelCollector:
    """Per model and version, read from the database at scrape time: predictions, feedback, label delay,
    and the served model's latency quantiles over the last hour of traffic. Labels are model and version,
    both registered by operators, so their number stays bounded."""

    def __init__(self, sessions: Any) -> None:
        self.sessions = sessions

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        from sqlalchemy import func, select

        from loopwise.store.tables import Event, Feedback, Model

        preds = CounterMetricFamily(
            "loopwise_model_predictions", "Predictions stored", labels=["model", "version"]
        )
        fb = CounterMetricFamily("loopwise_model_feedback", "Feedback records stored", labels=["model"])
        delay = GaugeMetricFamily(
            "loopwise_model_label_delay_seconds", "Mean time from prediction to its label", labels=["model"]
        )
        lat = GaugeMetricFamily(
            "loopwise_model_latency_ms",
            "Served model latency, last hour of traffic",
            labels=["model", "version", "quantile"],
        )
        try:
            with self.sessions() as s:
                names = dict(s.execute(select(Model.id, Model.name)).all())
                for mid, version, n in s.execute(
                    select(Event.model_id, Event.version, func.count()).group_by(
                        Event.model_id, Event.version
                    )
                ):
                    preds.add_metric([names[mid], version], n)
                for mid, n in s.execute(select(Feedback.model_id, func.count()).group_by(Feedback.model_id)):
                    fb.add_metric([names[mid]], n)
                pairs = s.execute(
                    select(Feedback.model_id, Feedback.created_at, Event.ts)
                    .join(
                        Event, (Event.model_id == Feedback.model_id) & (Event.event_id == Feedback.event_id)
                    )
                    .where(Feedback.kind.in_(("label", "correction")))
                    .limit(100_000)
                ).all()
                by_model: dict[int, list[float]] = {}
                for mid, got, ts in pairs:
                    by_model.setdefault(mid, []).append((got - ts).total_seconds())
                for mid, values in by_model.items():
                    delay.add_metric([names[mid]], sum(values) / len(values))
                newest = s.scalar(select(func.max(Event.ts)))
                if newest is not None:
                    rows = s.execute(
                        select(Event.model_id, Event.version, Event.latency_ms)
                        .where(Event.ts >= newest - dt.timedelta(hours=1), Event.latency_ms.is_not(None))
                        .limit(200_000)
                    )
                    groups: dict[tuple[int, str], list[float]] = {}
                    for mid, version, v in rows:
                        groups.setdefault((mid, version), []).append(float(v))
                    for (mid, version), values in groups.items():
                        values.sort()
                        for q in (0.5, 0.9, 0.99):
                            lat.add_metric(
                                [names[mid], version, str(q)],
                                values[min(len(values) - 1, int(q * len(values)))],
                            )
        except (
            Exception
        ):  # a scrape must not fail because the database is away; the request metrics still go out
            return
        yield from (preds, fb, delay, lat)


class CompactorCollector:
    """The compactor's health: buckets it cannot fold (set aside and retried with a back-off while the
    others go on), and failures counted since start. Alert on the first being above zero."""

    def __init__(self, compactor: Any) -> None:
        self.compactor = compactor

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        failing = GaugeMetricFamily(
            "loopwise_compaction_failing_buckets", "Buckets that could not be folded and wait for a retry"
        )
        failing.add_metric([], len(self.compactor.failing))
        failures = CounterMetricFamily("loopwise_compaction_failures", "Bucket folds that failed")
        failures.add_metric([], self.compactor.failures)
        yield from (failing, failures)
