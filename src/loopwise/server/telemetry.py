"""Prometheus metrics: the server's requests, and what it ingests. Labels stay low-cardinality
(a route template, never a model name or a path with ids in it)."""

from __future__ import annotations

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

        from loopwise.store.catalog import traffic

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
                seen = traffic(s)
        except (
            Exception
        ):  # a scrape must not fail because the database is away; the request metrics still go out
            return
        for (model, version), n in seen.predictions.items():
            preds.add_metric([model, version], n)
        for model, n in seen.feedback.items():
            fb.add_metric([model], n)
        for model, seconds in seen.label_delay_seconds.items():
            delay.add_metric([model], seconds)
        for (model, version), values in seen.latencies_ms.items():
            for q in (0.5, 0.9, 0.99):
                lat.add_metric([model, version, str(q)], values[min(len(values) - 1, int(q * len(values)))])
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
