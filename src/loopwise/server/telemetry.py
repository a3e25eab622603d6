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


class MonitorCollector:
    """Each monitor's checks in its latest window that ran (decision 0035): status as a number (0 pass, 1
    warn, 2 fail, 3 error), value, the window's end; and alert deliveries by state (``failed`` ones gave
    up). Labels are model, monitor, check and segment, all declared by operators."""

    def __init__(self, sessions: Any) -> None:
        self.sessions = sessions

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        from loopwise.alerts.deliver import delivery_counts
        from loopwise.monitors import STATUS_CODES, latest_statuses

        labels = ["model", "monitor", "check", "segment"]
        status = GaugeMetricFamily(
            "loopwise_monitor_check_status",
            "A monitor's check in its latest window: 0 pass, 1 warn, 2 fail, 3 error",
            labels=labels,
        )
        value = GaugeMetricFamily(
            "loopwise_monitor_check_value", "The check's value in that window", labels=labels
        )
        end = GaugeMetricFamily(
            "loopwise_monitor_window_end_seconds",
            "Unix time of the end of the monitor's latest window that ran",
            labels=["model", "monitor"],
        )
        deliveries = GaugeMetricFamily(
            "loopwise_alert_deliveries", "Alert deliveries by state", labels=["state"]
        )
        try:
            with self.sessions() as s:
                found = latest_statuses(s)
                counts = delivery_counts(s)
        except Exception:  # a scrape must not fail because the database is away
            return
        ends: dict[tuple[str, str], float] = {}
        for r in found:
            key = [r["model"], r["monitor"], r["check"], r["segment"]]
            status.add_metric(key, STATUS_CODES[r["status"]])
            if r["value"] is not None:
                value.add_metric(key, float(r["value"]))
            ends[(r["model"], r["monitor"])] = r["window_end"].timestamp()
        for (model, monitor), t in ends.items():
            end.add_metric([model, monitor], t)
        for state, n in counts.items():
            deliveries.add_metric([state], n)
        yield from (status, value, end, deliveries)
