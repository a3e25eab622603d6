"""Dependencies: the database session factory, the authenticated principal, and route policies."""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Path, Request
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from loopwise.errors import AuthenticationError, ForbiddenError, NotFoundError
from loopwise.ingest import registered, remembered
from loopwise.server.auth import POLICIES, Principal, authenticate, needs_touch, touch
from loopwise.server.sessions import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE, check_csrf, session_principal
from loopwise.store import transaction

T = TypeVar("T")

#: A stored row's id in a path (a gate result, a promotion, a monitor run): a positive 64-bit integer, so a
#: larger number is a 422 here rather than an OverflowError in the database driver (schemathesis found it).
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def factory(request: Request) -> sessionmaker[Session]:
    """Sessions for requests that write."""
    f: sessionmaker[Session] = request.app.state.sessions
    return f


async def in_write(request: Request, work: Callable[[Session], T]) -> T:
    """``work(session)`` in one write transaction, in a worker thread (the event loop never waits on the
    database): what a route that changes something does after reading its body."""

    def run() -> T:
        with transaction(factory(request)) as s:
            return work(s)

    return await run_in_threadpool(run)


def read_factory(request: Request) -> sessionmaker[Session]:
    """Sessions for requests that only read (on SQLite they do not take the write lock)."""
    f: sessionmaker[Session] = request.app.state.read_sessions
    return f


def _token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


#: Seconds a key's principal is remembered; a revoked key stops working within this time.
AUTH_CACHE_SECONDS = 5.0
# By database and token: one process may serve apps on several databases (the tests do).
_cache: dict[tuple[Any, str], tuple[float, Principal]] = {}
_cache_lock = threading.Lock()


def _engine(request: Request) -> Engine:
    bind: Engine = read_factory(request).kw["bind"]
    return bind.engine


def _cached(request: Request, token: str) -> Principal | None:
    with _cache_lock:
        hit = _cache.get((_engine(request).url, token))
    if hit is not None and time.monotonic() - hit[0] < AUTH_CACHE_SECONDS:
        return hit[1]
    return None


def _principal(request: Request, token: str) -> Principal | None:
    with read_factory(request)() as s:
        principal = authenticate(s, token)
    if principal is not None and needs_touch(principal):
        # Here only when this process has not seen the key for AUTH_CACHE_SECONDS, and written only when
        # the stored last use is a minute old: a write per key per minute at most, never per request.
        try:
            with transaction(factory(request)) as s:
                touch(s, principal.key_id)
        except SQLAlchemyError:
            pass  # a busy database must not refuse a valid key for the sake of a statistic
    if principal is not None:
        with _cache_lock:
            if len(_cache) > 10_000:  # bounded: forget everything rather than grow
                _cache.clear()
            _cache[(_engine(request).url, token)] = (time.monotonic(), principal)
    return principal


def _model_id(request: Request, name: str) -> int | None:
    with read_factory(request)() as s:
        try:
            return registered(s, name)[0]
        except NotFoundError:
            return None


def require(policy: str) -> Callable[..., Awaitable[Principal | None]]:
    """A dependency admitting the roles of ``policy``; ``public`` admits anyone.

    It runs on the event loop (a synchronous dependency would cost every request a thread hop) and goes
    to the database in a worker thread only when the key (or the model's id) is not in the cache.
    """
    if policy != "public" and policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}")

    async def dep(request: Request) -> Principal | None:
        if policy == "public":
            return None
        token = _token(request)
        principal: Principal | None = None
        if token:
            principal = _cached(request, token) or await run_in_threadpool(_principal, request, token)
        elif request.cookies.get(SESSION_COOKIE):
            principal = await run_in_threadpool(session_principal, request)
            if principal is not None and request.method not in SAFE_METHODS:
                check_csrf(principal, request.headers.get(CSRF_HEADER))
        if principal is None:
            raise AuthenticationError("a valid API key is required (Authorization: Bearer lw_...)")
        if principal.role not in POLICIES[policy]:
            raise ForbiddenError(
                f"role {principal.role!r} may not {_action(request)}: it needs the role "
                f"{' or '.join(sorted(POLICIES[policy]))}"
            )
        model = request.path_params.get("model")
        if (
            model is not None
            and (principal.model_id is not None or principal.model_ids is not None)
            and not principal.may_see(
                known[0]
                if (known := remembered(_engine(request), model)) is not None
                else await run_in_threadpool(_model_id, request, model)
            )
        ):
            raise NotFoundError(f"no model named {model!r}")
        return principal

    dep.policy = policy  # type: ignore[attr-defined]
    return dep


def _action(request: Request) -> str:
    """What the request asks, as the refusal names it: the route's name and its method and path
    (``promote (POST /v1/models/credit/versions/v2/promote)``), not the policy's."""
    route = request.scope.get("route")
    name = getattr(route, "name", None) or "do this"
    return f"{name.replace('_', ' ')} ({request.method} {request.url.path})"


def policy_of(dependant_calls: list[Any]) -> str | None:
    for call in dependant_calls:
        p = getattr(call, "policy", None)
        if p is not None:
            return str(p)
    return None


# The policy of each route, as an annotated parameter: ``who: Reader``.
Public = Annotated[None, Depends(require("public"))]
Reader = Annotated[Principal, Depends(require("read"))]
Ingester = Annotated[Principal, Depends(require("ingest"))]
FeedbackGiver = Annotated[Principal, Depends(require("feedback"))]
Manager = Annotated[Principal, Depends(require("manage"))]
Reviewer = Annotated[Principal, Depends(require("review"))]
Admin = Annotated[Principal, Depends(require("admin"))]
