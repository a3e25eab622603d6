"""What every route shares: the error body, the statuses each policy may answer, and how a request body
read by the server itself (size-limited, strict JSON) is validated against its model."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loopwise.errors import DataError, tree


class Issue(BaseModel):
    """One problem of a batch: the column (None: the batch as a whole), the rows, what is wrong."""

    column: str | None = None
    problem: str = Field(description="a short code: unknown_column, wrong_type, missing, ...")
    message: str
    rows: list[int] = Field(default_factory=list, description="the first rows with the problem (0-based)")
    count: int = Field(0, description="how many rows have it")


class Problem(BaseModel):
    """Every error answer: one line saying what is wrong, the loopwise.errors class it stands for (the HTTP
    client raises that class), and where, when known."""

    model_config = ConfigDict(extra="allow")

    error: str
    type: str = Field(description="the class of loopwise.errors: " + ", ".join(c.__name__ for c in tree()))
    issues: list[Issue] | None = Field(None, description="every problem of a batch (SchemaValidationError)")
    column: str | None = None
    row: int | None = None
    parameter: str | None = None


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` entries of error answers a route may give, each with the Problem body."""
    codes = sorted({401, 422, 503, *statuses})
    return {s: {"model": Problem, "description": _REASONS.get(s, "error")} for s in codes}


_REASONS = {
    400: "the body cannot be read as JSON, Arrow or Parquet",
    401: "no API key, or a key refused (unknown or revoked)",
    403: "the key's role may not do this",
    404: "no such model (or one the key may not see), reference or column",
    409: "conflicts with stored state",
    413: "over a limit (body size, rows, columns, versions, suite size)",
    415: "a media type the route does not take",
    422: "the body or a parameter is not valid; nothing was changed",
    503: "the database is unavailable; retry later",
}

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], doc: Any) -> M:
    """``doc`` (parsed JSON) as ``model``; a body of the wrong shape is a 422 naming each field at fault."""
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors(include_url=False)
        ]
        shown = "; ".join(problems[:10]) + (f" and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise DataError(f"the body is not a {model.__name__} (see /openapi.json): {shown}") from None


def json_body(model: type[BaseModel], required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` declaring a JSON request body of ``model`` (the server reads and checks the body
    itself, under its size limit, so FastAPI does not see the parameter)."""
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
        }
    }


def binary_body(media_types: tuple[str, ...], description: str) -> dict[str, Any]:
    """``openapi_extra`` declaring a binary request body in each of ``media_types``."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {m: {"schema": {"type": "string", "format": "binary"}} for m in media_types},
        }
    }
