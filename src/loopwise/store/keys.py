"""The API keys repository: keys are stored hashed (a prefix to find the row, the SHA-256 of the secret).

A key is ``lw_<prefix>_<secret>``. The server's roles and policies (``loopwise.server.auth``) decide what
a key may do; this module only keeps keys, so that no layer above the store touches their table.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from loopwise.errors import NotFoundError, ParameterError
from loopwise.store.audit import append
from loopwise.store.tables import ApiKey, Model
from loopwise.store.types import utcnow

ROLES = ("admin", "maintainer", "reviewer", "viewer", "ingest")


@dataclass(frozen=True)
class StoredKey:
    """A key's row, without its secret (only the secret's digest is stored)."""

    id: int
    digest: str
    role: str
    model_id: int | None
    name: str
    last_used_at: dt.datetime | None
    revoked: bool


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    s: Session, role: str, *, model_id: int | None = None, name: str = "", actor: str = "cli"
) -> str:
    """Create a key and return it; only its hash is stored, so this is the one time it is shown."""
    if role not in ROLES:
        raise ParameterError("role", role, ROLES)
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    s.add(ApiKey(prefix=prefix, digest=digest(secret), role=role, model_id=model_id, name=name))
    s.flush()
    append(s, model_id, actor, "key.create", {"prefix": prefix, "role": role})
    return f"lw_{prefix}_{secret}"


def find_key(s: Session, prefix: str) -> StoredKey | None:
    row = s.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None:
        return None
    return StoredKey(
        row.id, row.digest, row.role, row.model_id, row.name, row.last_used_at, bool(row.revoked)
    )


def touch(s: Session, key_id: int, now: dt.datetime, resolution: dt.timedelta) -> None:
    """Record a use of the key, unless another process recorded one less than ``resolution`` ago."""
    s.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - resolution),
        )
        .values(last_used_at=now)
    )


def list_keys(s: Session) -> list[dict[str, Any]]:
    """Every key, newest first: its prefix (the part of the key that names it), role, model limit, name,
    when it was created and last used, and whether it is revoked. Never the secret: only its hash is kept."""
    q = select(ApiKey, Model.name).outerjoin(Model, Model.id == ApiKey.model_id).order_by(ApiKey.id.desc())
    return [
        {
            "prefix": k.prefix,
            "role": k.role,
            "model": model,
            "name": k.name,
            "created_at": k.created_at,
            "last_used_at": k.last_used_at,
            "revoked": bool(k.revoked),
        }
        for k, model in s.execute(q)
    ]


def revoke_key(s: Session, key_or_prefix: str, *, actor: str = "cli") -> dict[str, Any]:
    """Revoke a key, named by its prefix or given whole (``lw_<prefix>_<secret>``); returns what it was."""
    prefix = key_or_prefix.split("_")[1] if key_or_prefix.startswith("lw_") else key_or_prefix
    row = s.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None:
        raise NotFoundError(f"no API key with prefix {prefix!r} (`loopwise admin list-keys` lists them)")
    row.revoked = True
    append(s, row.model_id, actor, "key.revoke", {"prefix": prefix, "role": row.role})
    return {"prefix": prefix, "role": row.role, "name": row.name}


def has_keys(s: Session) -> bool:
    return s.scalar(select(ApiKey.id).limit(1)) is not None


def now() -> dt.datetime:
    return utcnow()
