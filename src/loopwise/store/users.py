"""The users repository: people who sign in with a password (reviewers, adjudicators), the models each may
work on, and their browser sessions (decision 0036).

Passwords are hashed with argon2id (argon2-cffi's defaults: memory-hard, salted per hash) and never
stored; a session cookie's token is stored as its SHA-256 only, beside the session's CSRF token. There is
no default user: the first is made with ``loopwise users add``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from loopwise.errors import ConflictError, NotFoundError, ParameterError
from loopwise.store.audit import append
from loopwise.store.keys import ROLES
from loopwise.store.tables import Model, User, UserModel, UserSession
from loopwise.store.types import utcnow

#: Roles a user may have (``ingest`` is for services, which use API keys).
USER_ROLES = tuple(r for r in ROLES if r != "ingest")
#: The least length of a password.
MIN_PASSWORD = 10
#: How long a session lasts.
SESSION_LIFETIME = dt.timedelta(hours=12)

_hasher = PasswordHasher()


@functools.cache
def _dummy() -> str:
    """Verifying against this when the user does not exist costs the same time as against a real hash, so
    the answer's timing does not tell which names exist. Made at the first sign-in, whoever signs in (a hash
    costs a tenth of a second or more of a server's start-up otherwise: decision 0059)."""
    return _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class StoredUser:
    """A user's row, without the hash, with the names and ids of the models granted."""

    id: int
    name: str
    role: str
    disabled: bool
    model_ids: frozenset[int]
    models: tuple[str, ...]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _load(s: Session, row: User) -> StoredUser:
    granted = s.execute(
        select(Model.id, Model.name)
        .join(UserModel, UserModel.model_id == Model.id)
        .where(UserModel.user_id == row.id)
        .order_by(Model.name)
    ).all()
    return StoredUser(
        row.id,
        row.name,
        row.role,
        bool(row.disabled),
        frozenset(i for i, _ in granted),
        tuple(n for _, n in granted),
    )


def _model_ids(s: Session, models: list[str]) -> list[int]:
    ids = []
    for name in models:
        mid = s.scalar(select(Model.id).where(Model.name == name)) if "\x00" not in name else None
        if mid is None:
            raise NotFoundError(f"no model named {name!r}")
        ids.append(mid)
    return ids


def create_user(
    s: Session, name: str, password: str, role: str, models: list[str], *, actor: str = "cli"
) -> StoredUser:
    """Create a user; a reviewer must be granted at least one model."""
    if role not in USER_ROLES:
        raise ParameterError("role", role, USER_ROLES)
    # No ':' (the actor is "user:NAME") and no '/' (a name is a path segment of /v1/users/{name}: one with a
    # '/' could be created but never shown, granted or disabled over HTTP).
    if not name or len(name) > 200 or not name.isprintable() or ":" in name or "/" in name:
        raise ParameterError("name", name, "1 to 200 printable characters, without ':' or '/'")
    if len(password) < MIN_PASSWORD:
        raise ParameterError("password", "***", f"at least {MIN_PASSWORD} characters")
    if role == "reviewer" and not models:
        raise ParameterError("models", [], "at least one model a reviewer may review (--model)")
    if s.scalar(select(User.id).where(User.name == name)) is not None:
        raise ConflictError(f"a user named {name!r} already exists")
    ids = _model_ids(s, models)
    row = User(name=name, password_hash=_hasher.hash(password), role=role, disabled=False)
    s.add(row)
    s.flush()
    for mid in dict.fromkeys(ids):
        s.add(UserModel(user_id=row.id, model_id=mid))
    append(s, None, actor, "user.create", {"name": name, "role": role, "models": models})
    s.flush()
    return _load(s, row)


def grant(s: Session, name: str, models: list[str], *, actor: str = "cli") -> StoredUser:
    """Let the user work on more models."""
    row = _row(s, name)
    have = {m for (m,) in s.execute(select(UserModel.model_id).where(UserModel.user_id == row.id))}
    for mid in dict.fromkeys(_model_ids(s, models)):
        if mid not in have:
            s.add(UserModel(user_id=row.id, model_id=mid))
    append(s, None, actor, "user.grant", {"name": name, "models": models})
    s.flush()
    return _load(s, row)


def _row(s: Session, name: str) -> User:
    # A name no user can have is not looked up (PostgreSQL refuses a NUL in a text parameter).
    row = s.scalar(select(User).where(User.name == name)) if name.isprintable() else None
    if row is None:
        raise NotFoundError(f"no user named {name!r}")
    return row


def revoke(s: Session, name: str, models: list[str], *, actor: str = "cli") -> StoredUser:
    """Take models back from the user; a reviewer keeps at least one."""
    row = _row(s, name)
    ids = _model_ids(s, models)
    left = {m for (m,) in s.execute(select(UserModel.model_id).where(UserModel.user_id == row.id))} - set(ids)
    if row.role == "reviewer" and not left:
        raise ParameterError(
            "models", models, "models that leave the reviewer at least one (disable the user instead)"
        )
    s.execute(delete(UserModel).where(UserModel.user_id == row.id, UserModel.model_id.in_(ids)))
    append(s, None, actor, "user.revoke", {"name": name, "models": models})
    s.flush()
    return _load(s, row)


def set_role(s: Session, name: str, role: str, *, actor: str = "cli") -> StoredUser:
    """Change the user's role; it applies to their sessions from their next request."""
    if role not in USER_ROLES:
        raise ParameterError("role", role, USER_ROLES)
    row = _row(s, name)
    if role == "reviewer" and s.scalar(select(UserModel.model_id).where(UserModel.user_id == row.id)) is None:
        raise ParameterError("role", role, "a role the user may have: a reviewer needs a model granted first")
    before, row.role = row.role, role
    append(s, None, actor, "user.role", {"name": name, "role": role, "was": before})
    s.flush()
    return _load(s, row)


def get_user(s: Session, name: str) -> StoredUser:
    return _load(s, _row(s, name))


def set_disabled(s: Session, name: str, disabled: bool, *, actor: str = "cli") -> StoredUser:
    """Disable (or enable again) a user; disabling ends their sessions."""
    row = _row(s, name)
    row.disabled = disabled
    if disabled:
        s.execute(delete(UserSession).where(UserSession.user_id == row.id))
    append(s, None, actor, "user.disable" if disabled else "user.enable", {"name": name})
    return _load(s, row)


def list_users(s: Session) -> list[StoredUser]:
    return [_load(s, u) for u in s.scalars(select(User).order_by(User.name))]


def verify_password(s: Session, name: str, password: str) -> StoredUser | None:
    """The user, when the name and password match and the user is not disabled; else None."""
    dummy = _dummy()  # before the look-up: the first sign-in pays for it whether the name exists or not
    row = s.scalar(select(User).where(User.name == name))
    try:
        _hasher.verify(row.password_hash if row is not None else dummy, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row.disabled:
        return None
    return _load(s, row)


def open_session(s: Session, user_id: int, now: dt.datetime | None = None) -> tuple[str, str]:
    """A new session for the user: (the cookie's token, the session's CSRF token)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    start = now or utcnow()
    s.add(
        UserSession(
            digest=_digest(token),
            user_id=user_id,
            csrf=csrf,
            created_at=start,
            expires_at=start + SESSION_LIFETIME,
        )
    )
    return token, csrf


def find_session(s: Session, token: str, now: dt.datetime | None = None) -> tuple[StoredUser, str] | None:
    """The signed-in user and the session's CSRF token, for a live session of an enabled user."""
    found = s.execute(
        select(User, UserSession.csrf, UserSession.expires_at)
        .join(UserSession, UserSession.user_id == User.id)
        .where(UserSession.digest == _digest(token))
    ).first()
    if found is None:
        return None
    user, csrf, expires = found
    if user.disabled or expires <= (now or utcnow()):
        return None
    return _load(s, user), csrf


def close_session(s: Session, token: str) -> None:
    s.execute(delete(UserSession).where(UserSession.digest == _digest(token)))
