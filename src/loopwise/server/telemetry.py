"""Prometheus metrics: the server's requests, and what it ingests. Labels stay low-cardinality
(a route template, never a model name or a path with ids in it)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

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
