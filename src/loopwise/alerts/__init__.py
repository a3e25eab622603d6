"""Alerts: channels (webhook, Slack, e-mail), the guard on where they may connect, incidents (one alert per
incident) and the delivery log. A service: it knows nothing of monitors (``loopwise.loop`` joins them)."""

from loopwise.alerts.channels import SIGNATURE_HEADER, TIMESTAMP_HEADER, send, sign
from loopwise.alerts.deliver import backoff, deliver_pending, deliveries
from loopwise.alerts.guard import checked_addresses, internal
from loopwise.alerts.incidents import CheckState, apply_run, incidents
from loopwise.alerts.messages import RunContext
from loopwise.alerts.settings import AlertSettings
from loopwise.alerts.targets import check_targets

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AlertSettings",
    "CheckState",
    "RunContext",
    "apply_run",
    "backoff",
    "check_targets",
    "checked_addresses",
    "deliver_pending",
    "deliveries",
    "incidents",
    "internal",
    "send",
    "sign",
]
