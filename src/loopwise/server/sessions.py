"""Signing in with a password (decision 0036): sessions in an HttpOnly, SameSite=Lax cookie (Secure over
TLS), a CSRF token per session that every state-changing request made with the cookie must carry, and
sign-in attempts limited per name and per client address.

The limiter is per process (a window of recent failures in memory): with several replicas, a client can
try each replica's allowance, which multiplies it by the number of replicas but keeps it small.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import deque

from fastapi import Request
from starlette.responses import Response

from loopwise.errors import ForbiddenError, RateLimitError
from loopwise.server.auth import Principal
from loopwise.store import transaction
from loopwise.store.users import SESSION_LIFETIME, StoredUser, find_session, open_session, verify_password

SESSION_COOKIE = "lw_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginLimiter:
    """At most ``per_name`` failed sign-ins for one name and ``per_address`` from one address within
    ``window`` seconds; past that, sign-in answers 429 until the oldest failure leaves the window."""

    def __init__(self, per_name: int = 5, per_address: int = 20, window: float = 300.0) -> None:
        self.per_name, self.per_address, self.window = per_name, per_address, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def check(self, name: str, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key, limit in ((f"name:{name}", self.per_name), (f"addr:{address}", self.per_address)):
                q = self._recent(key, now)
                if len(q) >= limit:
                    wait = int(q[0] + self.window - now) + 1
                    raise RateLimitError(f"too many failed sign-ins; try again in {wait} s").with_detail(
                        retry_after=wait
                    )

    def failed(self, name: str, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > 100_000:  # bounded: forget everything rather than grow
                self._failures.clear()
            for key in (f"name:{name}", f"addr:{address}"):
                self._recent(key, now).append(now)


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def sign_in(request: Request, name: str, password: str) -> tuple[StoredUser, str, str] | None:
    """Check the password (within the limits); on success open a session: (user, token, csrf)."""
    limiter: LoginLimiter = request.app.state.login_limiter
    limiter.check(name, _address(request))
    with transaction(request.app.state.sessions) as s:
        user = verify_password(s, name, password)
        if user is None:
            limiter.failed(name, _address(request))
            return None
        token, csrf = open_session(s, user.id)
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
