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

from loopwise.errors import AuthenticationError, ForbiddenError, NotFoundError, ParameterError
from loopwise.ingest import registered, remembered
from loopwise.server.auth import POLICIES, Principal, authenticate, needs_touch, touch
from loopwise.server.sessions import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE, check_csrf, session_principal
from loopwise.store import transaction

T = TypeVar("T")

#: A stored row's id in a path (a gate result, a promotion, a monitor run): a positive 64-bit integer, so a
#: larger number is a 422 here rather than an OverflowError in the database driver (schemathesis found it).
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]


async def no_nul(request: Request) -> None:
    """Every route's first dependency (decision 0046): a path or query parameter holding a NUL character
    (``%00``) is a 422 naming it, before authentication or any lookup. No name can hold one, and PostgreSQL
    refuses a NUL in a text parameter: the lookup failed in the driver, a 503, where SQLite said 404."""
    for name, value in (*request.path_params.items(), *request.query_params.multi_items()):
        if isinstance(value, str) and "\x00" in value:
            raise ParameterError(name, value, "free of NUL characters (%00): no name or value holds one")


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
            # One refusal for a key however it fails (malformed, unknown prefix, wrong secret, revoked):
            # the answer must not tell a guesser which prefixes exist.
            raise AuthenticationError(
                "API key refused: unknown or revoked"
                if token
                else "an API key is required (header X-API-Key or Authorization: Bearer lw_...; "
                "LOOPWISE_API_KEY for the SDK and CLI)"
            )
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


#: What each route does, in words, as a refusal names it (``role 'viewer' may not set the promotion policy
#: (PUT ...)``); keyed by method and path template. Every route with a policy other than ``public`` has
#: one (tests/server/test_auth.py); the route's function name stands in only for a route left out.
ACTIONS: dict[tuple[str, str], str] = {
    ("GET", "/v1/auth/me"): "read who is signed in",
    ("POST", "/v1/models"): "register a model",
    ("GET", "/v1/models"): "list the models",
    ("GET", "/v1/models/{model}"): "read the model",
    ("POST", "/v1/models/{model}/predictions"): "log predictions",
    ("POST", "/v1/models/{model}/feedback"): "log feedback",
    ("GET", "/v1/models/{model}/metrics"): "read the model's metrics",
    ("GET", "/v1/models/{model}/series"): "read the model's metric series",
    ("GET", "/v1/models/{model}/export"): "export the model's events",
    ("POST", "/v1/models/{model}/references"): "store a reference",
    ("POST", "/v1/models/{model}/references/pin"): "pin a reference",
    ("POST", "/v1/models/{model}/checks/run"): "run checks",
    ("POST", "/v1/models/{model}/monitors"): "add a monitor",
    ("GET", "/v1/models/{model}/monitors"): "list the monitors",
    ("PUT", "/v1/models/{model}/monitors/{name}"): "replace a monitor",
    ("DELETE", "/v1/models/{model}/monitors/{name}"): "delete a monitor",
    ("GET", "/v1/models/{model}/monitors/{name}"): "read a monitor",
    ("POST", "/v1/models/{model}/monitors/{name}/run"): "run a monitor",
    ("GET", "/v1/models/{model}/monitors/{name}/runs"): "list a monitor's runs",
    ("GET", "/v1/models/{model}/monitors/{name}/runs/{run_id}"): "read a monitor's run",
    ("GET", "/v1/models/{model}/monitors/{name}/series"): "read a monitor's series",
    ("GET", "/v1/models/{model}/monitors/{name}/incidents"): "read a monitor's incidents",
    ("GET", "/v1/models/{model}/monitors/{name}/deliveries"): "read a monitor's alert deliveries",
    ("POST", "/v1/models/{model}/versions"): "register a version",
    ("GET", "/v1/models/{model}/versions"): "list the versions",
    ("GET", "/v1/models/{model}/versions/{version}"): "read a version",
    ("GET", "/v1/models/{model}/versions/{version}/artifact"): "download a version's artifact",
    ("POST", "/v1/models/{model}/versions/{version}/evaluate"): "evaluate a version",
    ("POST", "/v1/models/{model}/versions/{version}/evaluations"): "start an evaluation",
    ("POST", "/v1/models/{model}/versions/{version}/shadow"): "log shadow outputs",
    ("POST", "/v1/models/{model}/versions/{version}/gate"): "run a gate",
    ("POST", "/v1/models/{model}/versions/{version}/promote"): "promote a version",
    ("POST", "/v1/models/{model}/versions/{version}/force"): "force a promotion",
    ("GET", "/v1/models/{model}/gates"): "list the gate results",
    ("GET", "/v1/models/{model}/gates/{gate_id}"): "read a gate result",
    ("GET", "/v1/models/{model}/promotions"): "list the promotions",
    ("POST", "/v1/models/{model}/promotions/{request_id}/approve"): "approve a promotion",
    ("POST", "/v1/models/{model}/rollback"): "roll back an alias",
    ("GET", "/v1/models/{model}/promotion-policy"): "read the promotion policy",
    ("PUT", "/v1/models/{model}/promotion-policy"): "set the promotion policy",
    ("GET", "/v1/models/{model}/history"): "read the model's history",
    ("GET", "/v1/models/{model}/audit"): "read the audit trail",
    ("GET", "/v1/models/{model}/audit/verify"): "verify the audit trail",
    ("GET", "/v1/models/{model}/aliases"): "list the aliases",
    ("GET", "/v1/models/{model}/aliases/history"): "read the alias history",
    ("GET", "/v1/models/{model}/aliases/{alias}"): "read an alias",
    ("PUT", "/v1/models/{model}/aliases/{alias}"): "move an alias",
    ("DELETE", "/v1/models/{model}/aliases/{alias}"): "unset an alias",
    ("GET", "/v1/models/{model}/aliases/{alias}/at"): "read what an alias held",
    ("GET", "/v1/models/{model}/served"): "count the served versions",
    ("GET", "/v1/models/{model}/compare"): "compare versions",
    ("POST", "/v1/models/{model}/predict"): "predict with the champion",
    ("GET", "/v1/models/{model}/jobs/{job}"): "read a job",
    ("GET", "/v1/models/{model}/review/policy"): "read the review policy",
    ("PUT", "/v1/models/{model}/review/policy"): "set the review policy",
    ("POST", "/v1/models/{model}/review/fill"): "fill the review queue",
    ("POST", "/v1/models/{model}/review/tasks/next"): "take a review task",
    ("POST", "/v1/models/{model}/review/tasks/{task}/submit"): "submit a review",
    ("POST", "/v1/models/{model}/review/tasks/{task}/skip"): "skip a review task",
    ("POST", "/v1/models/{model}/review/tasks/{task}/adjudicate"): "adjudicate a review task",
    ("GET", "/v1/models/{model}/review/tasks"): "list the review tasks",
    ("GET", "/v1/models/{model}/review/export"): "export the reviews",
    ("POST", "/v1/models/{model}/review/gold"): "add gold answers",
    ("POST", "/v1/models/{model}/review/reviewers/{reviewer}/resume"): "resume a reviewer",
    ("GET", "/v1/models/{model}/review/stats"): "read the review statistics",
    ("POST", "/v1/models/{model}/review/stream"): "fill the review stream's due increments",
    ("GET", "/v1/models/{model}/review/stream"): "read the streamed day",
    ("GET", "/v1/users"): "list the users",
    ("POST", "/v1/users"): "add a user",
    ("GET", "/v1/users/{name}"): "read a user",
    ("POST", "/v1/users/{name}/grant"): "grant a user models",
    ("POST", "/v1/users/{name}/revoke"): "revoke a user's models",
    ("PUT", "/v1/users/{name}/role"): "set a user's role",
    ("POST", "/v1/users/{name}/disable"): "disable a user",
    ("POST", "/v1/users/{name}/enable"): "enable a user",
}


def _action(request: Request) -> str:
    """What the request asks, as the refusal names it: the action in words and the method and path
    (``set the promotion policy (PUT /v1/models/credit/promotion-policy)``), not the policy's."""
    route = request.scope.get("route")
    words = ACTIONS.get((request.method, getattr(route, "path", "")))
    if words is None:
        name = getattr(route, "name", None) or "do this"
        words = name.replace("_", " ")
    return f"{words} ({request.method} {request.url.path})"


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
