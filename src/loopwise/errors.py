"""The whole exception tree of loopwise.

Every error loopwise raises on purpose is a ``LoopwiseError`` and also the
built-in exception it behaves like, so ``except ValueError`` keeps working::

    LoopwiseError
    ├── ParameterError (ValueError)        a bad argument: names it, what is allowed, what was given
    ├── DataError (ValueError)             input data that cannot be read or used
    │   ├── EmptyDataError                 a dataset with no rows (or no usable values)
    │   └── SchemaValidationError          a batch that breaks its Schema; carries every issue found
    ├── SchemaError (ValueError)           a Schema (or schema file) that is itself malformed
    ├── ProfileFormatError (ValueError)    profile bytes that are corrupt, truncated, or of a newer format
    ├── UnknownNameError (LookupError)     a registry lookup with an unknown name; lists the valid names
    ├── NotFoundError (LookupError)        a model, reference, key or event that does not exist      (404)
    ├── ConflictError (ValueError)         a request that conflicts with stored state                 (409)
    ├── LimitError (ValueError)            a request over a configured limit                          (413)
    ├── IdempotencyMismatchError (ValueError)  an idempotency key sent again with another body         (422)
    ├── DatabaseError (RuntimeError)       the database cannot be reached or opened
    │   └── DatabaseVersionError           a database at another schema revision than this loopwise needs
    └── ServerError (RuntimeError)         a server's answer no other class describes (401, 403, 5xx)
        └── UnreachableError (ConnectionError)  no answer from the server at all

The HTTP client raises the class the server named (every error body carries ``type``), so
``Client(url)`` and ``Client.local(path)`` raise the same classes; ``status`` and ``body`` say what the
server answered. ``error_class`` is that one mapping from names back to classes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopwise.schema.validate import ValidationIssue


class LoopwiseError(Exception):
    """Raised by loopwise for any error it detects itself."""


class ParameterError(LoopwiseError, ValueError):
    """Raised when an argument has a value outside what the function accepts."""

    def __init__(self, name: str, value: Any, allowed: str | Iterable[Any]) -> None:
        if not isinstance(allowed, str):
            allowed = ", ".join(repr(a) for a in allowed)
        super().__init__(f"parameter {name!r} must be {allowed}; got {value!r}")
        self.name = name
        self.value = value


class DataError(LoopwiseError, ValueError):
    """Raised when input data cannot be read, converted or used."""


class EmptyDataError(DataError):
    """Raised when a dataset has no rows, or a column has no usable values where some are needed."""


class SchemaValidationError(DataError):
    """Raised when a batch breaks its Schema; ``issues`` holds every problem, not just the first."""

    def __init__(self, issues: Sequence[ValidationIssue]) -> None:
        self.issues = list(issues)
        lines = [str(i) for i in self.issues[:20]]
        more = len(self.issues) - len(lines)
        if more > 0:
            lines.append(f"... and {more} more")
        super().__init__(f"{len(self.issues)} schema violation(s):\n  " + "\n  ".join(lines))


class SchemaError(LoopwiseError, ValueError):
    """Raised when a Schema, or a schema file, is itself malformed."""


class ProfileFormatError(LoopwiseError, ValueError):
    """Raised when profile bytes are corrupt, truncated, or of an unknown format version."""


class UnknownNameError(LoopwiseError, LookupError):
    """Raised when a registry is asked for a name it does not have; lists the valid names."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        valid_list = sorted(valid)
        super().__init__(f"unknown {kind} {name!r}; valid names: {', '.join(valid_list)}")
        self.name = name
        self.valid = valid_list

    def __str__(self) -> str:  # KeyError-style quoting would hide the message
        return str(self.args[0])


class NotFoundError(LoopwiseError, LookupError):
    """Raised when a model, reference, key or event does not exist."""

    def __str__(self) -> str:  # KeyError-style quoting would hide the message
        return str(self.args[0]) if self.args else ""


class ConflictError(LoopwiseError, ValueError):
    """Raised when a request conflicts with stored state (a model registered again with another schema)."""


class LimitError(LoopwiseError, ValueError):
    """Raised when a request exceeds a configured limit (rows per batch, body size)."""


class IdempotencyMismatchError(LoopwiseError, ValueError):
    """Raised when an idempotency key is sent again with a different body."""


class DatabaseError(LoopwiseError, RuntimeError):
    """Raised when the database cannot be reached or opened (a wrong URL, a missing file, a server down)."""


class ServerError(LoopwiseError, RuntimeError):
    """Raised when a server answers with an error no other class describes; ``status`` and ``body`` say
    which (401 and 403: the key; 5xx: the server)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {describe_body(body)}")
        self.status, self.body = status, body


class UnreachableError(ServerError, ConnectionError):
    """Raised when the server does not answer at all (refused, unknown host, timed out), after retries."""

    def __init__(self, url: str, reason: str, attempts: int) -> None:
        LoopwiseError.__init__(self, f"cannot reach the server at {url}: {reason} ({attempts} attempts)")
        self.status, self.body = 0, None


def describe_body(body: Any) -> str:
    """An error body as one message: its ``error``, then each of its ``issues`` on a line of its own."""
    if not isinstance(body, dict):
        return str(body)
    msg = str(body.get("error", body))
    issues = body.get("issues")
    if isinstance(issues, list) and issues:
        msg += "".join(f"\n  {_issue_text(i)}" for i in issues)
    return msg


def _issue_text(issue: Any) -> str:
    if not isinstance(issue, dict):
        return str(issue)
    where = f"column {issue['column']!r}" if issue.get("column") is not None else "batch"
    rows = issue.get("rows") or []
    if rows:
        where += f", row{'s' if len(rows) > 1 else ''} {', '.join(map(str, rows))}"
    return f"{where}: {issue.get('message', '')}"


#: The classes an error body's ``type`` may name, and the class for a status when it names none.
_BY_NAME: dict[str, type[LoopwiseError]] = {}
_BY_STATUS: dict[int, type[LoopwiseError]] = {}


def error_class(status: int, name: str | None) -> type[LoopwiseError]:
    """The class for an HTTP error answer: the one its body names, else the one for its status.

    Example:
        >>> error_class(404, None).__name__, error_class(422, "SchemaError").__name__
        ('NotFoundError', 'SchemaError')
        >>> error_class(503, None).__name__
        'ServerError'
    """
    if not _BY_NAME:
        _BY_NAME.update(
            (c.__name__, c)
            for c in (
                ParameterError,
                DataError,
                EmptyDataError,
                SchemaValidationError,
                SchemaError,
                ProfileFormatError,
                UnknownNameError,
                NotFoundError,
                ConflictError,
                LimitError,
                IdempotencyMismatchError,
                UntrustedArtifactError,
            )
        )
        _BY_STATUS.update({404: NotFoundError, 409: ConflictError, 413: LimitError, 422: DataError})
    return _BY_NAME.get(name or "") or _BY_STATUS.get(status) or ServerError


def from_http(status: int, body: Any) -> LoopwiseError:
    """The exception a server's error answer stands for, with ``status`` and ``body`` attached.

    Example:
        >>> e = from_http(422, {"error": "2 problem(s)", "type": "SchemaValidationError",
        ...     "issues": [{"column": "repaid", "message": "targets go to /feedback"}]})
        >>> type(e).__name__, str(e).splitlines()[1]
        ('SchemaValidationError', "  column 'repaid': targets go to /feedback")
    """
    cls = error_class(status, body.get("type") if isinstance(body, dict) else None)
    if cls is ServerError:
        return ServerError(status, body)
    exc = cls.__new__(cls)
    # Built from the message, not the class's own arguments: the server already wrote it.
    LoopwiseError.__init__(exc, describe_body(body))
    if isinstance(exc, SchemaValidationError):
        exc.issues = []
    exc.status, exc.body = status, body  # type: ignore[attr-defined]
    return exc


class DatabaseVersionError(DatabaseError):
    """Raised when a server started without migrating finds its database at another schema revision."""

    def __init__(self, url: str, current: str | None, head: str) -> None:
        at = f"at schema revision {current}" if current else "empty (no loopwise tables)"
        super().__init__(
            f"the database {url} is {at}, this loopwise needs {head}: run `loopwise db upgrade` "
            "(or start with LOOPWISE_MIGRATE=1)"
        )
        self.current, self.head = current, head


class UntrustedArtifactError(DataError):
    """Raised when a model artifact could run code on load: a pickle or joblib file the operator has not
    trusted, or an skops file naming a type outside the operator's allow-list (the message names it)."""
