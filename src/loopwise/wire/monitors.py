"""Monitors over HTTP: declare one, list them, run the due windows, read the history, the incidents and the
delivery log (docs/monitors.md; decision 0035)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class MonitorBody(BaseModel):
    """A monitor: ``suite`` (a mapping, or its YAML text; never a file name) on each window of ``window``
    (seconds, or ``30s``, ``15m``, ``24h``, ``7d``), every ``step``, against ``reference`` (null: none), whole
    and per value of each ``segments`` column, alerting ``channels``. Channel secrets are only names of
    environment variables (``url_env``, ``secret_env``, ``password_env``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    suite: dict[str, Any] | str
    window: int | str
    step: int | str
    reference: str | None = "default"
    segments: list[str] = Field(default_factory=list)
    channels: list[dict[str, Any]] = Field(default_factory=list)
    renotify: int | str | None = None
    silences: list[dict[str, Any]] = Field(
        default_factory=list, description="[{until, check?, segment?, reason?}]: alerts logged, not sent"
    )
    detectors: list[dict[str, Any]] = Field(
        default_factory=list,
        description="change detectors: [{name, kind, params, and watch (a check's name) or stream (error, "
        "score, feature) with column (or columns, a group: one change reported once), every (a sub-window) "
        "and delay}] (docs/monitors.md)",
    )
    anchor: str | None = Field(None, description="the first window's end (ISO 8601); default: now, floored")
    enabled: bool = True


class MonitorOut(BaseModel):
    """A stored monitor: its declaration, the first window's end, and where its schedule stands."""

    id: int
    model: str
    name: str
    suite: dict[str, Any]
    window: str
    step: str
    reference: str | None
    segments: list[str]
    channels: list[dict[str, Any]]
    renotify: str | None
    silences: list[dict[str, Any]]
    detectors: list[dict[str, Any]]
    anchor: str
    enabled: bool
    created_by: str
    created_at: str
    updated_at: str
    runs: int
    last_window_end: str | None


class MonitorDeleted(BaseModel):
    """The monitor deleted, with its runs, incidents and delivery log."""

    model: str
    deleted: str


class MonitorList(BaseModel):
    monitors: list[MonitorOut]


class FailedCheck(BaseModel):
    check: str
    segment: str
    status: str
    actual: float | None = None
    condition: str = ""


class ErroredCheck(BaseModel):
    """A check that could not be computed in a run (status ``error``), and why."""

    check: str
    segment: str
    reason: str = ""


class Superseded(BaseModel):
    """What a run had found before late rows or labels set it back to pending (decision 0041)."""

    reason: str = Field(description="late rows, late labels, or both")
    marked_at: str
    attempt: int
    state: str
    status: str | None
    n: int | None
    labels: int | None
    finished_at: str | None
    failed: list[FailedCheck]


class RunOut(BaseModel):
    """One window's run: ``state`` pending, running, done, empty (no traffic) or failed; ``status`` the
    suite's worst status; ``attempts`` how many times it was claimed; ``failed`` its failing checks;
    ``errors`` the checks it could not compute; ``superseded`` the outcomes a re-run replaced (a late batch
    or late labels), oldest first."""

    id: int
    window_start: str
    window_end: str
    state: str
    status: str | None
    n: int | None
    attempts: int
    error: str | None
    finished_at: str | None
    counts: dict[str, int] | None = None
    failed: list[FailedCheck] | None = None
    errors: list[ErroredCheck] | None = Field(
        None, description="the checks that could not be computed (status error), and why"
    )
    labels: int | None = Field(None, description="the label changes its window had counted when it ran")
    superseded: list[Superseded] = Field(
        default_factory=list, description="what earlier runs of this window found, replaced by a re-run"
    )
    result: dict[str, Any] | None = Field(None, description='{"all": SuiteOutcome, "segments": {...}}')


class RunList(BaseModel):
    model: str
    monitor: str
    runs: list[RunOut]


class RunMonitors(BaseModel):
    """Run the due windows now (those not run yet), of this monitor or of all the model's."""

    model_config = ConfigDict(extra="forbid")

    deliver: bool = Field(True, description="also send the alerts that are due")


class RunReport(BaseModel):
    """The runs this request ran (a window another process holds is not among them)."""

    offered: int
    runs: list[RunOut]
    deliveries: dict[str, int]


class SeriesPoint(BaseModel):
    window_end: str
    value: float | None
    threshold: str
    status: str


class CheckSeries(BaseModel):
    check: str
    segment: str
    points: list[SeriesPoint]


class MonitorSeries(BaseModel):
    """Each check's value, threshold and status per window, in window order (for charts)."""

    model: str
    monitor: str
    checks: list[CheckSeries]


class IncidentOut(BaseModel):
    id: int
    check: str
    segment: str
    state: str
    severity: str
    failures: int
    last_value: float | None
    condition: str
    opened_run_id: int
    last_run_id: int
    opened_at: str
    updated_at: str
    notified_at: str | None
    resolved_at: str | None
    opened_window: dict[str, str] | None = Field(
        None, description="the window the incident opened in: its start and end (ISO 8601)"
    )
    resolved_window: dict[str, str] | None = Field(
        None, description="the window whose run resolved it (None while open)"
    )


class IncidentList(BaseModel):
    incidents: list[IncidentOut]


class DeliveryOut(BaseModel):
    """One alert message to one channel and its attempts: ``state`` pending, sending, sent or failed."""

    id: int
    incident_id: int
    check: str
    segment: str
    channel: str
    event: str
    state: str
    attempts: int
    last_error: str | None
    next_attempt_at: str
    created_at: str
    sent_at: str | None
    text: str


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]
