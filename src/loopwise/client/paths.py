"""Path segments of the HTTP API: every name a user gives (a model, version, alias, monitor, user) is
percent-encoded whole before it goes into a URL, so ``v1?x``, ``#3``, a space or a NUL reach the server as
one segment (and its answer, a loopwise error naming it) instead of another route or httpx's InvalidURL."""

from __future__ import annotations

from urllib.parse import quote

from loopwise.errors import ParameterError


def seg(value: object, what: str) -> str:
    """``value`` (the parameter ``what``) as one path segment: everything but unreserved characters
    percent-encoded, and ``.`` or ``..`` encoded too (httpx would resolve them as "this folder" and "the
    parent"). A ``/`` is refused here: the server decodes ``%2F`` before routing, so no route could take it
    (and no model, version, alias or monitor name holds one)."""
    text = str(value)
    if "/" in text:
        raise ParameterError(what, value, "a name without '/' (a URL path cannot carry one to the server)")
    encoded = quote(text, safe="")
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


def model_url(model: str) -> str:
    """``/v1/models/{model}``, the model's name as one segment: the start of every per-model route."""
    return f"/v1/models/{seg(model, 'model')}"
