"""Sign-in attempts, counted in the database so that every server process (and replica) limits them together
(decision 0042; decision 0036 kept them per process).

An attempt is **reserved** before its password is checked: in one write transaction the keys it counts
against (its name, its address) are locked, their attempts within the window counted, and, when no limit is
reached, a row per key is added and committed. So an attempt under way already counts: a burst of parallel
guesses, on one process or many, gets no more than the limit through to the password check. A failed attempt
keeps its rows; a successful one deletes them (``release``). Rows older than the window are deleted as
attempts come. Keys are stored as their SHA-256: a name typed into the sign-in form is sometimes a password.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from loopwise.errors import RateLimitError
from loopwise.store.tables import LoginAttempt
from loopwise.store.types import utcnow


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _lock(s: Session, digests: Sequence[str]) -> None:
    """Serialise attempts on the same keys: a transaction-scoped advisory lock per key on PostgreSQL, in
    one order (no deadlock); SQLite's writers are serialised already (BEGIN IMMEDIATE)."""
    if s.get_bind().dialect.name != "postgresql":
        return
    for d in sorted(set(digests)):
        key = int.from_bytes(bytes.fromhex(d)[:8], "big", signed=True)
        s.execute(select(func.pg_advisory_xact_lock(key)))


def reserve(
    s: Session, limits: Sequence[tuple[str, int]], window: dt.timedelta, now: dt.datetime | None = None
) -> list[int]:
    """Count an attempt against each ``(key, limit)``; the ids of its rows, or a ``RateLimitError`` (with
    ``retry_after`` in seconds) when a key already has ``limit`` attempts within ``window``."""
    now = now or utcnow()
    digests = [_digest(k) for k, _ in limits]
    _lock(s, digests)
    s.execute(delete(LoginAttempt).where(LoginAttempt.at <= now - window))
    for d, (_, limit) in zip(digests, limits, strict=True):
        count, oldest = s.execute(
            select(func.count(), func.min(LoginAttempt.at)).where(
                LoginAttempt.key == d, LoginAttempt.at > now - window
            )
        ).one()
        if count >= limit:
            wait = max(1, int((oldest + window - now).total_seconds()) + 1)
            raise RateLimitError(f"too many failed sign-ins; try again in {wait} s").with_detail(
                retry_after=wait
            )
    ids = s.scalars(insert(LoginAttempt).returning(LoginAttempt.id), [{"key": d, "at": now} for d in digests])
    return [int(i) for i in ids]


def release(s: Session, ids: Sequence[int]) -> None:
    """Forget a successful attempt's rows."""
    if ids:
        s.execute(delete(LoginAttempt).where(LoginAttempt.id.in_(list(ids))))


def recent(s: Session, key: str, window: dt.timedelta, now: dt.datetime | None = None) -> int:
    """Attempts counted against ``key`` within the window (for tests and operators)."""
    now = now or utcnow()
    n = s.scalar(select(func.count()).where(LoginAttempt.key == _digest(key), LoginAttempt.at > now - window))
    return int(n or 0)
