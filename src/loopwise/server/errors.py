"""Error answers: each class of loopwise.errors answers with its one status (its ``http_status``), and the
body says what and where (``error``, ``type``, and ``issues``, ``column`` or ``row`` when known), never a
traceback."""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError

from loopwise.errors import (
    ISO_TIME,
    LoopwiseError,
    ParameterError,
    SchemaValidationError,
    ServerError,
    error_class,
    tree_name,
    violations_headline,
)


def HTTPError(status: int, message: str, **detail: Any) -> LoopwiseError:  # noqa: N802 (was a class)
    """The tree's class for a 4xx ``status``, with ``message`` and ``detail``: what ``HTTPError`` raised
    before it joined loopwise.errors. New code raises the class itself (``LimitError(...)``)."""
    cls = error_class(status, None)
    if not 400 <= status < 500 or cls is ServerError:
        raise ValueError(f"no class of loopwise.errors answers {status}")
    return cls(message).with_detail(**detail)


def _safe(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_safe(v) for v in x]
    return x


def problem(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **_safe(extra)}, status_code=status)


def answer(exc: LoopwiseError) -> JSONResponse:
    """The answer to ``exc``: its class's status, its message, the class's name (so that the HTTP client
    raises the same class as the local one: loopwise.errors.from_http) and its detail."""
    if isinstance(exc, SchemaValidationError):
        return problem(
            exc.http_status,
            f"{violations_headline(len(exc.issues))} in the batch; nothing was stored",
            type="SchemaValidationError",
            violations=len(exc.issues),
            issues=[i.to_dict() for i in exc.issues[:100]],
        )
    # The first argument is the message as written (str() of a LookupError would add quotes).
    message = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    resp = problem(exc.http_status, message, type=tree_name(type(exc)), **exc.detail)
    if exc.http_status == 401:
        resp.headers["WWW-Authenticate"] = "Bearer"
    return resp


async def handle(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, LoopwiseError):
        return answer(exc)
    if isinstance(exc, RequestValidationError):
        return answer(_parameters(exc))
    if isinstance(exc, (OperationalError, DBAPIError)) and getattr(exc, "connection_invalidated", True):
        return problem(
            503, "the database is unavailable; retry later (nothing was stored)", type="DatabaseError"
        )
    if isinstance(exc, DBAPIError):
        return problem(
            503, "the database refused the request; retry later (nothing was stored)", type="DatabaseError"
        )
    raise exc


def _parameters(exc: RequestValidationError) -> LoopwiseError:
    """FastAPI's account of a path or query parameter that does not fit its type, as a ParameterError."""
    errors = list(exc.errors())
    first = errors[0] if errors else {}
    where = [str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body")]
    name = ".".join(where) or "request"
    value = first.get("input")
    if str(first.get("type", "")).startswith(("datetime_", "date_")):
        # pydantic's "input is too short" says nothing of what a time looks like: the CLI's wording.
        return ParameterError(name, value, ISO_TIME).with_detail(parameter=name)
    err = ParameterError.__new__(ParameterError)
    LoopwiseError.__init__(err, f"parameter {name!r}: {first.get('msg', 'invalid')}; got {value!r}")
    err.name, err.value = name, value
    return err.with_detail(parameter=name)
