"""/v1/models/{model}/metrics, /series, /references and /checks/run: windows of stored profiles, measured.

The envelopes are typed; the results inside (a drift report, a metric's result, fairness by group) are
documented dicts: their fields are those of the library's ``to_dict`` (``DriftResult``, ``MetricResult``,
``FairnessResult``), which docs/metrics.md describes and which grow with the metrics.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

Time = Field(None, description='an ISO 8601 time, e.g. "2026-01-01T00:00:00Z" (no zone: UTC)')


class WindowInfo(BaseModel):
    start: str | None
    end: str | None
    version: str | None
    n: int = Field(description="predictions in the window")


class TaskInfo(BaseModel):
    task: str | None = Field(description="binary, multiclass or regression (None: no prediction and target)")
    positive: Any = None
    source: str | None = Field(None, description="declared, or where it was inferred from")


class Operations(BaseModel):
    predictions: int
    first: str | None
    last: str | None
    latency_ms: dict[str, float] | None = Field(description="p50, p90, p99 of the served model's latency")
    feedback: int


class Metrics(BaseModel):
    """GET /v1/models/{model}/metrics: a window measured, and compared with a reference when there is one.

    ``drift`` is the drift report (``Report.to_dict``: ``dataset`` and ``columns``); each entry of
    ``performance`` and ``estimated_performance`` is a ``MetricResult.to_dict`` (value, method, sample sizes,
    which direction is better); ``fairness`` holds a ``FairnessResult.to_dict`` per segment column. A part
    that could not be computed holds ``{"error": message}``.
    """

    model: str
    window: WindowInfo
    drift: dict[str, Any] | None = None
    warnings: list[str] | None = Field(None, description="comparisons that could not be made, and why")
    task: TaskInfo
    performance: dict[str, dict[str, Any]] | None = None
    estimated_performance: dict[str, Any] | None = None
    fairness: dict[str, dict[str, Any]] | None = None
    operations: Operations


class SeriesPoint(BaseModel):
    """One bucket: its rows, label coverage and headline metric (accuracy or MAE), and for each column
    asked for, ``{"mean": ..., "missing_rate": ...}`` under the column's name."""

    model_config = ConfigDict(extra="allow")

    bucket: str
    n: int
    label_coverage: float | None = None
    accuracy: float | None = None
    mae: float | None = None


class Series(BaseModel):
    """GET /v1/models/{model}/series: per-bucket values for charts."""

    model: str
    bucket: Literal["hour", "day"]
    points: list[SeriesPoint]


class ReferenceStored(BaseModel):
    """A reference stored: its name, rows, and its chunks (for calibrated thresholds) if it has them."""

    name: str
    rows: int
    chunk_size: int | None = None
    chunks: int | None = None


class PinReference(BaseModel):
    """POST /v1/models/{model}/references/pin: a window of the model's own traffic kept as a reference."""

    name: str = Field("default", min_length=1)
    start: str | None = Time
    end: str | None = Time
    version: str | None = None
    chunk_size: StrictInt | None = Field(None, ge=1, description="rows per chunk, for calibrated thresholds")


class RunChecks(BaseModel):
    """POST /v1/models/{model}/checks/run: a suite run on a window. The suite is YAML text or an object
    as docs/checks.md writes it (``suite``, ``checks``, ``presets``); never a file name: none is read."""

    suite: str | dict[str, Any]
    start: str | None = Time
    end: str | None = Time
    version: str | None = None
    reference: str | None = Field("default", description="the reference's name; null: run without one")


class CheckOutcome(BaseModel):
    """One check's result (``CheckResult.to_dict``): status pass, warn, fail or error (cannot be computed)."""

    model_config = ConfigDict(extra="allow")

    name: str
    metric: str
    status: Literal["pass", "warn", "fail", "error"]
    severity: str | None = None
    column: str | None = None
    segment: str | None = None
    params: dict[str, Any] | None = None
    actual: float | None = None
    #: ``actual`` as the tables show it: a gate's lower bound named, with the difference beside it.
    actual_text: str | None = None
    reference_value: float | None = None
    condition: str | None = None
    #: The condition as YAML writes it (``{"lt": 0.2}``), so a client can rebuild the check.
    rule: dict[str, Any] | None = None
    message: str | None = None
    reason: str | None = None
    evidence: dict[str, Any] | None = None


class DriftFound(BaseModel):
    """A drift check that found drifted columns (its title), and the columns it found."""

    check: str
    columns: list[str]


class SuiteOutcome(BaseModel):
    """A suite's result (``SuiteResult.to_dict``): the worst status, counts by status, every check."""

    suite: str
    status: Literal["pass", "warn", "fail", "error"]
    counts: dict[str, int]
    #: The columns the suite's drift checks found drifted (never one no check looked at), each once.
    drifted_columns: list[str] | None = None
    #: Which check found which of them.
    drift_found: list[DriftFound] | None = None
    seconds: float
    checks: list[CheckOutcome]


class Health(BaseModel):
    status: Literal["ok"]
    version: str
