"""API keys (stored hashed) and roles, checked per route and per model.

A key is ``lw_<prefix>_<secret>``; the database keeps the prefix (to find the row) and the SHA-256
of the secret. Roles: admin, maintainer, reviewer, viewer, and ingest (log predictions and feedback
only). A key may be limited to one model; for any other model the answer is 404, not 403, so a key
does not learn which models exist.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass

from sqlalchemy.orm import Session

from loopwise.store.keys import ROLES, create_key, find_key, has_keys, list_keys, revoke_key
from loopwise.store.keys import digest as _digest
from loopwise.store.keys import now as _now
from loopwise.store.keys import touch as _touch

__all__ = [
    "LAST_USED_RESOLUTION",
    "POLICIES",
    "ROLES",
    "Principal",
    "authenticate",
    "create_key",
    "has_keys",
    "list_keys",
    "needs_touch",
    "revoke_key",
    "touch",
]

#: A key's last use is written when the stored one is older than this: a write a minute per key at most.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)

#: Which roles each policy admits.
POLICIES: dict[str, frozenset[str]] = {
    "read": frozenset({"admin", "maintainer", "reviewer", "viewer"}),
    "ingest": frozenset({"admin", "maintainer", "ingest"}),
    "feedback": frozenset({"admin", "maintainer", "reviewer", "ingest"}),
    # Taking and answering review tasks (decision 0036).
    "review": frozenset({"admin", "maintainer", "reviewer"}),
    "manage": frozenset({"admin", "maintainer"}),
    "admin": frozenset({"admin"}),
}


@dataclass(frozen=True)
class Principal:
    """Who made a request: an API key, or a user signed in with a session cookie (``user`` set; their
    granted models in ``model_ids``, None for a user not limited to some; ``csrf`` the session's token)."""

    key_id: int
    role: str
    model_id: int | None
    name: str
    last_used_at: dt.datetime | None = None
    user: str | None = None
    model_ids: frozenset[int] | None = None
    csrf: str | None = None

    @property
    def actor(self) -> str:
        if self.user is not None:
            return f"user:{self.user}"
        return f"key:{self.key_id}:{self.name}" if self.name else f"key:{self.key_id}"

    def may_see(self, model_id: int | None) -> bool:
        """Whether the principal may work on the model (None: a model that does not exist)."""
        if self.model_id is not None and model_id != self.model_id:
            return False
        return self.model_ids is None or model_id in self.model_ids


def authenticate(s: Session, token: str | None) -> Principal | None:
    if not token or not token.startswith("lw_") or token.count("_") < 2:
        return None
    _, prefix, secret = token.split("_", 2)
    row = find_key(s, prefix)
    if row is None or row.revoked or not hmac.compare_digest(row.digest, _digest(secret)):
        return None
    return Principal(row.id, row.role, row.model_id, row.name, row.last_used_at)


def needs_touch(p: Principal, now: dt.datetime | None = None) -> bool:
    """Whether the key's recorded last use is stale enough to write again."""
    return p.last_used_at is None or (now or _now()) - p.last_used_at >= LAST_USED_RESOLUTION


def touch(s: Session, key_id: int, now: dt.datetime | None = None) -> None:
    """Record a use of the key, unless another process recorded one less than a minute ago."""
    _touch(s, key_id, now or _now(), LAST_USED_RESOLUTION)
