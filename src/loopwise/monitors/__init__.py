"""Monitors: a Suite run on each window of a model's traffic on a schedule (decision 0035). The spec, the
catalog, the schedule (due windows, claims with leases), running a window, the history. A service: it knows
nothing of alerts (``loopwise.loop`` joins them)."""

from loopwise.monitors.catalog import (
    MonitorInfo,
    delete_monitor,
    get_monitor,
    list_monitors,
    monitor_row,
    put_monitor,
)
from loopwise.monitors.execute import Outcome, run_window
from loopwise.monitors.history import (
    STATUS_CODES,
    check_series,
    failed_checks,
    get_run,
    latest_statuses,
    run_dict,
    runs,
)
from loopwise.monitors.late import LATE_HORIZON, mark_late
from loopwise.monitors.schedule import (
    LEASE,
    Claim,
    claim,
    due_ends,
    enqueue_due,
    finish,
    monitors_to_alert,
    ready_to_alert,
)
from loopwise.monitors.spec import MonitorSpec, seconds

__all__ = [
    "LATE_HORIZON",
    "LEASE",
    "STATUS_CODES",
    "Claim",
    "MonitorInfo",
    "MonitorSpec",
    "Outcome",
    "check_series",
    "claim",
    "delete_monitor",
    "due_ends",
    "enqueue_due",
    "failed_checks",
    "finish",
    "get_monitor",
    "get_run",
    "latest_statuses",
    "list_monitors",
    "mark_late",
    "monitor_row",
    "monitors_to_alert",
    "put_monitor",
    "ready_to_alert",
    "run_dict",
    "run_window",
    "runs",
    "seconds",
]
