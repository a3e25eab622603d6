"""A model with traffic and a monitor, straight through the services (no server)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from tests._fixtures.http import SCHEMA

from loopwise.ingest import register_model
from loopwise.monitors import MonitorSpec, put_monitor
from loopwise.store import open_database, session_factory, transaction

SUITE = {"suite": "watch", "checks": [{"metric": "row_count", "condition": {"ge": 1}}]}


def database(url: str) -> tuple[Engine, sessionmaker[Session], sessionmaker[Session]]:
    engine = open_database(url, create=True)
    return engine, session_factory(engine), session_factory(engine, readonly=True)


def monitored(sessions: sessionmaker[Session], *, step: int = 3600, anchor: dt.datetime, **spec: Any) -> int:
    """Register the credit model (once) and a monitor on it; the monitor's id."""
    with transaction(sessions) as s:
        register_model(s, "credit", SCHEMA, "test")
    doc = {"name": "m", "suite": SUITE, "window": step, "step": step, "reference": None, **spec}
    with transaction(sessions) as s:
        return put_monitor(
            s, "credit", MonitorSpec.from_dict({**doc, "anchor": anchor.isoformat()}), actor="test"
        ).id
