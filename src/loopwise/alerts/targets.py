"""Checking a channel's target when a monitor is declared, so a refused address is the declarer's error now
rather than a failed delivery later (each delivery checks again: DNS answers change)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from loopwise.alerts.guard import checked_addresses
from loopwise.alerts.settings import AlertSettings


def check_targets(channels: list[dict[str, Any]], settings: AlertSettings) -> None:
    """Refuse (ParameterError) a channel whose literal URL or SMTP host reaches a refused address."""
    for i, ch in enumerate(channels):
        if ch.get("url"):
            parts = urlsplit(str(ch["url"]))
            port = parts.port or (443 if parts.scheme == "https" else 80)
            checked_addresses(parts.hostname or "", port, settings, f"channels[{i}].url")
        elif ch.get("type") == "email":
            checked_addresses(str(ch["host"]), int(ch["port"]), settings, f"channels[{i}].host")
