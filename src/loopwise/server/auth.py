"""API keys (stored hashed) and roles, checked per route and per model.

A key is ``lw_<prefix>_<secret>``; the database keeps the prefix (to find the row) and the SHA-256
of the secret. Roles: admin, maintainer, reviewer, viewer, and ingest (log predictions and feedback
only). A key may be limited to one model; for any other model the answer is 404, not 403, so a key
does not learn which models exist.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from loopwise.errors import NotFoundError, ParameterError
from loopwise.store.tables import ApiKey, AuditEntry, Model
from loopwise.store.types import utcnow

#: A key's last use is written when the stored one is older than this: a write a minute per key at most.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)

ROLES = ("admin", "maintainer", "reviewer", "viewer", "ingest")
#: Which roles each policy admits.
POLICIES: dict[str, frozenset[str]] = {
    "read": frozenset({"admin", "maintainer", "reviewer", "viewer"}),
    "ingest": frozenset({"admin", "maintainer", "ingest"}),
    "feedback": frozenset({"admin", "maintainer", "reviewer", "ingest"}),
    "manage": frozenset({"admin", "maintainer"}),
    "admin": frozenset({"admin"}),
}


@dataclass(frozen=True)
class Principal:
    key_id: int
    role: str
    model_id: int | None
    name: str
    last_used_at: dt.datetime | None = None

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}:{self.name}" if self.name else f"key:{self.key_id}"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    s: Session, role: str, *, model_id: int | None = None, name: str = "", actor: str = "cli"
) -> str:
    """Create a key and return it; only its hash is stored, so this is the one time it is shown."""
    if role not in ROLES:
        raise ParameterError("role", role, ROLES)
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    s.add(ApiKey(prefix=prefix, digest=_digest(secret), role=role, model_id=model_id, name=name))
    s.add(
        AuditEntry(
            actor=actor, action="key.create", model_id=model_id, detail={"prefix": prefix, "role": role}
        )
    )
    return f"lw_{prefix}_{secret}"


def authenticate(s: Session, token: str | None) -> Principal | None:
    if not token or not token.startswith("lw_") or token.count("_") < 2:
        return None
    _, prefix, secret = token.split("_", 2)
    row = s.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None or row.revoked or not hmac.compare_digest(row.digest, _digest(secret)):
        return None
    return Principal(row.id, row.role, row.model_id, row.name, row.last_used_at)


def needs_touch(p: Principal, now: dt.datetime | None = None) -> bool:
    """Whether the key's recorded last use is stale enough to write again."""
    return p.last_used_at is None or (now or utcnow()) - p.last_used_at >= LAST_USED_RESOLUTION


def touch(s: Session, key_id: int, now: dt.datetime | None = None) -> None:
    """Record a use of the key, unless another process recorded one less than a minute ago."""
    now = now or utcnow()
    s.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - LAST_USED_RESOLUTION),
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
    """Revoke a key, named by its prefix or given whole (``lw_<prefix>_<secret>``); returns what it was.

    A server stops accepting it within ``AUTH_CACHE_SECONDS`` (each process remembers a key that long).
    """
    prefix = key_or_prefix.split("_")[1] if key_or_prefix.startswith("lw_") else key_or_prefix
    row = s.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None:
        raise NotFoundError(f"no API key with prefix {prefix!r} (`loopwise admin list-keys` lists them)")
    row.revoked = True
    s.add(
        AuditEntry(
            actor=actor,
            action="key.revoke",
            model_id=row.model_id,
            detail={"prefix": prefix, "role": row.role},
        )
    )
    return {"prefix": prefix, "role": row.role, "name": row.name}


def has_keys(s: Session) -> bool:
    return s.scalar(select(ApiKey.id).limit(1)) is not None
