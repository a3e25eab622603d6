"""Each error class maps to one HTTP status; the body says what and where, never a traceback."""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError

from loopwise.errors import (
    ConflictError,
    DataError,
    IdempotencyMismatchError,
    LimitError,
    NotFoundError,
    ParameterError,
    ProfileFormatError,
    SchemaError,
    SchemaValidationError,
    UnknownNameError,
)


class HTTPError(Exception):
    """Raised by routes for a plain HTTP error (bad body, unauthenticated, forbidden)."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


STATUS: list[tuple[type[Exception], int]] = [
    (SchemaValidationError, 422),
    (IdempotencyMismatchError, 422),
    (LimitError, 413),
    (NotFoundError, 404),
    (ConflictError, 409),
    (SchemaError, 422),
    (UnknownNameError, 422),
    (ParameterError, 422),
    (ProfileFormatError, 422),
    (DataError, 422),
]


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


def _tree_name(cls: type[Exception]) -> str:
    """The name of the nearest class of loopwise.errors (a subclass defined elsewhere names its parent)."""
    import loopwise.errors as tree

    for c in cls.__mro__:
        if getattr(tree, c.__name__, None) is c:
            return str(c.__name__)
    return "LoopwiseError"


async def handle(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, HTTPError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        resp = problem(exc.status, exc.message, **exc.extra)
        if headers:
            resp.headers.update(headers)
        return resp
    if isinstance(exc, SchemaValidationError):
        return problem(
            422,
            f"{len(exc.issues)} problem(s) in the batch; nothing was stored",
            type="SchemaValidationError",
            issues=[i.to_dict() for i in exc.issues[:100]],
        )
    if isinstance(exc, (OperationalError, DBAPIError)) and getattr(exc, "connection_invalidated", True):
        return problem(503, "the database is unavailable; retry later (nothing was stored)")
    for cls, status in STATUS:
        if isinstance(exc, cls):
            # The first argument is the message as written (str() of a LookupError would add quotes).
            message = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
            # ``type`` lets the HTTP client raise the same class as the local one (loopwise.errors.from_http).
            return problem(status, message, type=_tree_name(type(exc)))
    if isinstance(exc, DBAPIError):
        return problem(503, "the database refused the request; retry later (nothing was stored)")
    raise exc
