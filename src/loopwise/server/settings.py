"""The one Settings object given to ``create_app``; every field can come from a LOOPWISE_* variable."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from loopwise.alerts import AlertSettings
from loopwise.errors import ParameterError
from loopwise.registry import RegistrySettings
from loopwise.store import sqlite_url


def _default_db() -> str:
    return os.environ.get("LOOPWISE_DATABASE_URL") or sqlite_url(
        Path(os.environ.get("LOOPWISE_HOME", ".")) / "loopwise.db"
    )


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ParameterError(name, value, "1 or 0 (true/false, yes/no, on/off)")


# Each default reads the environment when a Settings is made, not when this module is imported: a server
# worker sets LOOPWISE_COMPACT_SECONDS=0 after the package is imported, and a default fixed at import time
# left every worker running a compactor of its own beside the compactor process.
@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=_default_db)
    #: Largest request body accepted, checked before the body is read or parsed.
    max_body_bytes: int = field(default_factory=lambda: _env_int("LOOPWISE_MAX_BODY_BYTES", 64 * 2**20))
    #: Most rows (predictions or feedback records) in one batch.
    max_rows: int = field(default_factory=lambda: _env_int("LOOPWISE_MAX_ROWS", 100_000))
    #: Bring the database to the newest schema at start-up (Alembic upgrade to head; decision 0015). Off
    #: (``LOOPWISE_MIGRATE=0``), a database at another revision stops the start with a one-line message.
    migrate: bool = field(default_factory=lambda: _env_flag("LOOPWISE_MIGRATE", True))
    #: Serve the OpenAPI description (``/openapi.json``) and its pages (``/docs``, ``/redoc``), which answer
    #: without a key; ``LOOPWISE_API_DOCS=0`` turns all three off (404).
    api_docs: bool = field(default_factory=lambda: _env_flag("LOOPWISE_API_DOCS", True))
    # What a request may cost once decoded, checked before the work (decision 0016): a body's size alone
    # does not bound it (compressed Arrow buffers, Parquet pages and profiles inflate a thousandfold).
    #: Most columns in one batch (JSON keys, Arrow or Parquet fields).
    max_columns: int = field(default_factory=lambda: _env_int("LOOPWISE_MAX_COLUMNS", 1_000))
    #: Most values (rows x columns) an Arrow or Parquet body may decode to.
    max_cells: int = field(default_factory=lambda: _env_int("LOOPWISE_MAX_CELLS", 20_000_000))
    #: Most bytes an Arrow, Parquet or profile body may decode to (dictionaries counted as plain values).
    max_decoded_bytes: int = field(
        default_factory=lambda: _env_int("LOOPWISE_MAX_DECODED_BYTES", 512 * 2**20)
    )
    #: Most distinct model versions in one batch of predictions (each costs a profile per hour it touches).
    max_versions_per_batch: int = field(
        default_factory=lambda: _env_int("LOOPWISE_MAX_VERSIONS_PER_BATCH", 100)
    )
    #: Most distinct model versions one model may have (new versions beyond are refused).
    max_versions_per_model: int = field(
        default_factory=lambda: _env_int("LOOPWISE_MAX_VERSIONS_PER_MODEL", 1_000)
    )
    #: Largest suite sent to /checks/run (YAML text or JSON), and most checks in it.
    max_suite_bytes: int = field(default_factory=lambda: _env_int("LOOPWISE_MAX_SUITE_BYTES", 256 * 2**10))
    max_suite_checks: int = field(default_factory=lambda: _env_int("LOOPWISE_MAX_SUITE_CHECKS", 500))
    #: Seconds between passes of the job that folds bucket parts into buckets (0: no background job).
    compact_seconds: float = field(
        default_factory=lambda: float(os.environ.get("LOOPWISE_COMPACT_SECONDS", 1.0))
    )
    #: Seconds a thread of a server process may hold the GIL while another waits for it (Python's default
    #: is 0.005). A server process has two busy threads: the event loop parsing requests, and the writer,
    #: whose every database round trip gives the GIL up and then waits to take it back; at 5 ms, a
    #: PostgreSQL write group of fifteen round trips waited up to 75 ms behind request parsing (see
    #: decision 0008).
    switch_interval: float = field(
        default_factory=lambda: float(os.environ.get("LOOPWISE_SWITCH_INTERVAL", 0.001))
    )
    #: The registry's artifacts: where, how large, what is trusted (LOOPWISE_ARTIFACT_DIR,
    #: LOOPWISE_MAX_ARTIFACT_BYTES, LOOPWISE_TRUSTED_TYPES, LOOPWISE_TRUST_PICKLE; decision 0025).
    registry: RegistrySettings = field(default_factory=RegistrySettings.from_env)
    #: Seconds between passes of the monitors' scheduler in each server process (0: none; decision 0035).
    monitor_seconds: float = field(
        default_factory=lambda: float(os.environ.get("LOOPWISE_MONITOR_SECONDS", 10.0))
    )
    #: Seconds between passes filling streaming review policies' due increments in each server process (0:
    #: none; decision 0042).
    review_seconds: float = field(
        default_factory=lambda: float(os.environ.get("LOOPWISE_REVIEW_SECONDS", 10.0))
    )
    #: Where alerts may connect, links in messages, timeouts (LOOPWISE_ALERT_ALLOW, LOOPWISE_PUBLIC_URL,
    #: LOOPWISE_ALERT_TIMEOUT).
    alerts: AlertSettings = field(default_factory=AlertSettings.from_env)
