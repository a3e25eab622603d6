"""Signing in with a password (decision 0036): sessions in an HttpOnly, SameSite=Lax cookie (Secure over
TLS), a CSRF token per session that every state-changing request made with the cookie must carry, and
sign-in attempts limited per name and per client address.

The limiter counts attempts in the database (``loopwise.store.logins``; decision 0042), so several
processes and replicas share one allowance.
"""

from __future__ import annotations

import datetime as dt
import hmac

from fastapi import Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response

from loopwise.errors import ForbiddenError
from loopwise.server.auth import Principal
from loopwise.store import transaction
from loopwise.store.logins import release, reserve
from loopwise.store.users import SESSION_LIFETIME, StoredUser, find_session, open_session, verify_password

SESSION_COOKIE = "lw_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginLimiter:
    """At most ``per_name`` failed (or pending) sign-ins for one name and ``per_address`` from one address
    within ``window`` seconds; past that, sign-in answers 429 until the oldest leaves the window.

    The attempts are rows in the database (``loopwise.store.logins``), so the limits hold across every
    server process and replica on it (decision 0042).
    """

    def __init__(self, per_name: int = 5, per_address: int = 20, window: float = 300.0) -> None:
        self.per_name, self.per_address, self.window = per_name, per_address, window

    def reserve(self, factory: sessionmaker[Session], name: str, address: str) -> list[int]:
        """Count an attempt (committed before the password is checked), or raise ``RateLimitError``."""
        limits = [(f"name:{name}", self.per_name), (f"addr:{address}", self.per_address)]
        with transaction(factory) as s:
            return reserve(s, limits, dt.timedelta(seconds=self.window))


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def sign_in(request: Request, name: str, password: str) -> tuple[StoredUser, str, str] | None:
    """Check the password (within the limits); on success open a session: (user, token, csrf). A failed
    attempt stays counted; a successful one is forgotten."""
    limiter: LoginLimiter = request.app.state.login_limiter
    factory = request.app.state.sessions
    attempt = limiter.reserve(factory, name, _address(request))
    with transaction(factory) as s:
        user = verify_password(s, name, password)
        if user is None:
            return None
        token, csrf = open_session(s, user.id)
        release(s, attempt)
    return user, token, csrf


def set_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def principal_of(user: StoredUser, csrf: str) -> Principal:
    # A reviewer works only on the models granted; other roles are limited only when granted some.
    limited = user.role == "reviewer" or bool(user.model_ids)
    return Principal(
        0,
        user.role,
        None,
        user.name,
        user=user.name,
        model_ids=user.model_ids if limited else None,
        csrf=csrf,
    )


def session_principal(request: Request) -> Principal | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    with request.app.state.read_sessions() as s:
        found = find_session(s, token)
    return None if found is None else principal_of(*found)


def check_csrf(principal: Principal, given: str | None) -> None:
    """A state-changing request made with the session cookie must carry the session's CSRF token."""
    if principal.csrf is None or not given or not hmac.compare_digest(principal.csrf, given):
        raise ForbiddenError("a request signed in by cookie must carry the session's CSRF token")
