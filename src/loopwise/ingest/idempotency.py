"""Idempotency keys: a request retried with its key is answered with the stored result and stores nothing.

A key is remembered with the digest of its request's body and the answer given; the same key with another
body is an ``IdempotencyMismatchError``. Event ids stored before are the other half of idempotency: they are
skipped by the write group itself (``writes``, ``store.bulk.existing_event_ids``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from loopwise.errors import IdempotencyMismatchError
from loopwise.store.tables import Idempotency
from loopwise.store.types import utcnow


def body_digest(body: bytes) -> str:
    """The digest a request body is remembered by with its idempotency key (SHA-256, hex)."""
    return hashlib.sha256(body).hexdigest()


def known_keys(s: Session, model_id: int, keys: Collection[str]) -> dict[str, Idempotency]:
    """The records of the keys among ``keys`` seen before for the model (one query for a group's keys)."""
    if not keys:
        return {}
    return {
        row.key: row
        for row in s.scalars(
            select(Idempotency).where(Idempotency.model_id == model_id, Idempotency.key.in_(keys))
        )
    }


def replay(
    key: str | None, body_hash: str | None, first_hash: str | None, first_answer: dict[str, Any] | Exception
) -> dict[str, Any] | Exception:
    """The answer to a request repeating ``key``: the first one's, marked replayed, if the body matches."""
    if first_hash != body_hash:
        return IdempotencyMismatchError(f"idempotency key {key!r} was used for a different request body")
    return dict(first_answer) | {"replayed": True} if isinstance(first_answer, dict) else first_answer


def remember(s: Session, model_id: int, answers: Iterable[tuple[str, str | None, dict[str, Any]]]) -> None:
    """Record each (key, body digest, answer) given, in the caller's transaction."""
    rows = [
        {
            "model_id": model_id,
            "key": key,
            "body_hash": body_hash or "",
            "response": answer,
            "created_at": utcnow(),
        }
        for key, body_hash, answer in answers
    ]
    if rows:
        s.execute(insert(Idempotency), rows)
