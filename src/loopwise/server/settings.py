"""The one Settings object given to ``create_app``; every field can come from a LOOPWISE_* variable."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from loopwise.store import sqlite_url


def _default_db() -> str:
    return os.environ.get("LOOPWISE_DATABASE_URL") or sqlite_url(
        Path(os.environ.get("LOOPWISE_HOME", ".")) / "loopwise.db"
    )


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=_default_db)
    #: Largest request body accepted, checked before the body is read or parsed.
    max_body_bytes: int = int(os.environ.get("LOOPWISE_MAX_BODY_BYTES", 64 * 2**20))
    #: Most rows (predictions or feedback records) in one batch.
    max_rows: int = int(os.environ.get("LOOPWISE_MAX_ROWS", 100_000))
    #: Create the schema at start-up (Alembic upgrade to head).
    migrate: bool = True
    #: Seconds between passes of the job that folds bucket parts into buckets (0: no background job).
    compact_seconds: float = float(os.environ.get("LOOPWISE_COMPACT_SECONDS", 1.0))
