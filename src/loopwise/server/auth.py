"""API keys (stored hashed) and roles, checked per route and per model.

A key is ``lw_<prefix>_<secret>``; the database keeps the prefix (to find the row) and the SHA-256
of the secret. Roles: admin, maintainer, reviewer, viewer, and ingest (log predictions and feedback
only). A key may be limited to one model; for any other model the answer is 404, not 403, so a key
does not learn which models exist.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from loopwise.errors import ParameterError
from loopwise.store.tables import ApiKey, AuditEntry

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
    return Principal(row.id, row.role, row.model_id, row.name)


def has_keys(s: Session) -> bool:
    return s.scalar(select(ApiKey.id).limit(1)) is not None
