"""The whole exception tree of loopwise, and the one HTTP status of each class.

Every error loopwise raises on purpose is a ``LoopwiseError`` and also the
built-in exception it behaves like, so ``except ValueError`` keeps working::

    LoopwiseError                                                                                    (500)
    ├── DataError (ValueError)             input data that cannot be read or used                     (422)
    │   ├── EmptyDataError                 a dataset with no rows (or no usable values)               (422)
    │   ├── SchemaValidationError          a batch that breaks its Schema; carries every issue found  (422)
    │   ├── UntrustedArtifactError         a model artifact that could run code when loaded           (422)
    │   ├── StaleStateError                a detector state an older loopwise wrote, not resumable    (422)
    │   └── RequestFormatError             a request body that is not JSON, Arrow or Parquet as sent  (400)
    │       └── UnsupportedMediaTypeError  a body of a media type the route does not take             (415)
    ├── ParameterError (ValueError)        a bad argument: names it, what is allowed, what was given  (422)
    │   ├── MissingSettingError            an environment variable a channel names, unset where read  (422)
    │   └── RefusedTargetError             an alert target at an internal address the operator refuses (422)
    ├── SchemaError (ValueError)           a Schema (or schema file) that is itself malformed         (422)
    ├── ProfileFormatError (ValueError)    profile bytes that are corrupt, truncated, or newer        (422)
    ├── NotComputableError (LookupError)   a metric the inputs given cannot answer (a check "error")  (422)
    ├── UnknownNameError (LookupError)     a registry lookup with an unknown name; lists valid names  (422)
    ├── NotFoundError (LookupError)        a model, reference, key or event that does not exist       (404)
    ├── ConflictError (ValueError)         a request that conflicts with stored state                 (409)
    ├── LimitError (ValueError)            a request over a configured limit                          (413)
    │   └── RateLimitError                 too many attempts (sign-ins) in a short time; retry later  (429)
    ├── IdempotencyMismatchError (ValueError)  an idempotency key sent again with another body        (422)
    ├── DatabaseError (RuntimeError)       the database cannot be reached or opened                   (503)
    │   └── DatabaseVersionError           a database at another schema revision than this one needs  (503)
    └── ServerError (RuntimeError)         a server's answer no other class describes                 (500)
        ├── AuthenticationError (PermissionError)  no API key came with the request, or it was refused  (401)
        ├── ForbiddenError (PermissionError)       the key's role may not do this                     (403)
        └── UnreachableError (ConnectionError)     no answer from the server at all                   (500)

Each class's status is its ``http_status`` (a subclass inherits its parent's); the server answers with it
(``loopwise.server.errors``) and a test holds this drawing to the classes. The HTTP client raises the class
the server named (every error body carries ``type``), so ``Client(url)`` and ``Client.local(path)`` raise the
same classes; ``status`` and ``body`` say what the server answered. ``error_class`` is that one mapping from
names (or, when an answer names none, statuses) back to classes, derived from the tree.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from loopwise.schema.validate import ValidationIssue


class LoopwiseError(Exception):
    """Raised by loopwise for any error it detects itself.

    ``detail`` holds fields an HTTP error body carries beside the message (``column``, ``row``).
    """

    http_status: ClassVar[int] = 500
    detail: dict[str, Any] = {}  # noqa: RUF012 (never mutated: ``with_detail`` gives an instance its own)

    def with_detail(self, **detail: Any) -> LoopwiseError:
        """This error, carrying ``detail`` into its HTTP body (say which column and row)."""
        self.detail = {**self.detail, **detail}
        return self


class DataError(LoopwiseError, ValueError):
    """Raised when input data cannot be read, converted or used."""

    http_status = 422


class EmptyDataError(DataError):
    """Raised when a dataset has no rows, or a column has no usable values where some are needed."""


class SchemaValidationError(DataError):
    """Raised when a batch breaks its Schema; ``issues`` holds every problem, not just the first.

    The message is the same from the local client and over HTTP (the server answers the issues, the HTTP
    client words them here again): ``refused`` says that a batch was refused whole (nothing was stored);
    ``total`` is how many issues there were when fewer were sent."""

    def __init__(
        self, issues: Sequence[ValidationIssue], total: int | None = None, *, refused: bool = False
    ) -> None:
        self.issues = list(issues)
        super().__init__(violations_text(self.issues, total, refused=refused))


def violations_headline(n: int) -> str:
    """``1 schema violation``, ``2 schema violations``: how every path counts a batch's problems."""
    return f"{n} schema violation{'' if n == 1 else 's'}"


def violations_text(
    issues: Sequence[ValidationIssue], total: int | None = None, *, refused: bool = False
) -> str:
    """A SchemaValidationError's message: one problem on one line (as the CLI prints it), more as a count
    and a line each (the first 20); a refused batch says that nothing was stored.

    Example:
        >>> from loopwise.schema.validate import ValidationIssue
        >>> issue = ValidationIssue("incom", "unknown_column", "not in the schema")
        >>> print(violations_text([issue], refused=True))
        schema violation (nothing was stored): column 'incom': not in the schema
    """
    n = max(len(issues), total or 0)
    note = " (nothing was stored)" if refused else ""
    if n == 1 and issues:
        return f"schema violation{note}: {issues[0]}"
    lines = [str(i) for i in issues[:20]]
    more = n - len(lines)
    if more > 0:
        lines.append(f"... and {more} more")
    return f"{violations_headline(n)}{note}:\n  " + "\n  ".join(lines)


class UntrustedArtifactError(DataError):
    """Raised when a model artifact could run code on load: a pickle or joblib file the operator has not
    trusted, or an skops file naming a type outside the operator's allow-list (the message names it)."""


class StaleStateError(DataError):
    """Raised when a stored detector state was written by an older loopwise whose model this one cannot
    resume (a BOCPD state from before decision 0040); the detector has to start afresh."""


class RequestFormatError(DataError):
    """Raised when a request's body cannot be read as what it says it is (JSON, Arrow IPC, Parquet), or its
    envelope has the wrong shape."""

    http_status = 400


class UnsupportedMediaTypeError(RequestFormatError):
    """Raised when a request's body is of a media type the route does not take; names those it does."""

    http_status = 415


#: What a time given as text must be, in every message that refuses one (the CLI, the clients, the HTTP
#: API's query parameters): one wording wherever a time is read.
ISO_TIME = "an ISO 8601 time such as 2026-03-03 or 2026-03-03T10:00:00Z"


class ParameterError(LoopwiseError, ValueError):
    """Raised when an argument has a value outside what the function accepts."""

    http_status = 422

    def __init__(self, name: str, value: Any, allowed: str | Iterable[Any]) -> None:
        if not isinstance(allowed, str):
            allowed = ", ".join(repr(a) for a in allowed)
        # None is a value not given (an option left out): "got None" would only repeat that.
        got = "" if value is None else f"; got {shown(value)}"
        super().__init__(f"parameter {name!r} must be {allowed}{got}")
        self.name = name
        self.value = value
        #: What the parameter must be, as the message says it.
        self.allowed = allowed


class MissingSettingError(ParameterError):
    """Raised when an environment variable a setting names (an alert channel's ``url_env``, ``secret_env``,
    ``username_env``, ``password_env``) is not set in the process that reads it: nothing but a restart with
    the variable set can change that, so a delivery is not retried."""


class RefusedTargetError(ParameterError):
    """Raised when an alert target (a webhook's host, an SMTP host) resolves to an internal address that
    ``LOOPWISE_ALERT_ALLOW`` does not allow: a policy, not an outage, so a delivery is not retried."""


class SchemaError(LoopwiseError, ValueError):
    """Raised when a Schema, or a schema file, is itself malformed."""

    http_status = 422


class ProfileFormatError(LoopwiseError, ValueError):
    """Raised when profile bytes are corrupt, truncated, or of an unknown format version."""

    http_status = 422


class NotComputableError(LoopwiseError, LookupError):
    """Raised when a metric cannot be computed from the inputs given (a check's status is then "error")."""

    http_status = 422

    def __str__(self) -> str:  # KeyError-style quoting would hide the message
        return str(self.args[0]) if self.args else ""


class UnknownNameError(LoopwiseError, LookupError):
    """Raised when a registry is asked for a name it does not have; lists the valid names."""

    http_status = 422

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        valid_list = sorted(valid)
        super().__init__(f"unknown {kind} {name!r}; valid names: {', '.join(valid_list)}")
        self.name = name
        self.valid = valid_list

    def __str__(self) -> str:  # KeyError-style quoting would hide the message
        return str(self.args[0])


class NotFoundError(LoopwiseError, LookupError):
    """Raised when a model, reference, key or event does not exist."""

    http_status = 404

    def __str__(self) -> str:  # KeyError-style quoting would hide the message
        return str(self.args[0]) if self.args else ""


class ConflictError(LoopwiseError, ValueError):
    """Raised when a request conflicts with stored state (a model registered again with another schema)."""

    http_status = 409


class LimitError(LoopwiseError, ValueError):
    """Raised when a request exceeds a configured limit (rows per batch, body size)."""

    http_status = 413


class RateLimitError(LimitError):
    """Raised when a client tries too often in a short time (failed sign-ins); ``retry_after`` seconds."""

    http_status = 429


class IdempotencyMismatchError(LoopwiseError, ValueError):
    """Raised when an idempotency key is sent again with a different body."""

    http_status = 422


class DatabaseError(LoopwiseError, RuntimeError):
    """Raised when the database cannot be reached or opened (a wrong URL, a missing file, a server down)."""

    http_status = 503


class DatabaseVersionError(DatabaseError):
    """Raised when a server started without migrating finds its database at another schema revision."""

    def __init__(self, url: str, current: str | None, head: str) -> None:
        at = f"at schema revision {current}" if current else "empty (no loopwise tables)"
        super().__init__(
            f"the database {url} is {at}, this loopwise needs {head}: run `loopwise db upgrade` "
            "(or start with LOOPWISE_MIGRATE=1)"
        )
        self.current, self.head = current, head


class ServerError(LoopwiseError, RuntimeError):
    """Raised when a server answers with an error no other class describes; ``status`` and ``body`` say
    which (5xx: the server; its subclasses: the key)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {describe_body(body)}")
        self.status, self.body = status, body


class AuthenticationError(ServerError, PermissionError):
    """Raised when a request carries no API key, or one that is unknown or revoked."""

    http_status = 401

    def __init__(self, message: str) -> None:
        LoopwiseError.__init__(self, message)
        self.status, self.body = self.http_status, None


class ForbiddenError(ServerError, PermissionError):
    """Raised when the key's role may not do what the request asks (a viewer registering a model)."""

    http_status = 403

    def __init__(self, message: str) -> None:
        LoopwiseError.__init__(self, message)
        self.status, self.body = self.http_status, None


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


def tree() -> Iterator[type[LoopwiseError]]:
    """Every class of the tree, depth first in the order the module defines them (the docstring's order)."""
    stack: list[type[LoopwiseError]] = [LoopwiseError]
    seen: set[type[LoopwiseError]] = set()
    while stack:
        cls = stack.pop()
        if cls in seen or cls.__module__ != __name__:
            continue
        seen.add(cls)
        yield cls
        stack.extend(reversed(cls.__subclasses__()))


def http_status(exc: BaseException) -> int:
    """The status an HTTP answer to ``exc`` has: its class's, inherited from the nearest class of the tree."""
    return exc.http_status if isinstance(exc, LoopwiseError) else 500


def tree_name(cls: type[BaseException]) -> str:
    """The name of ``cls``'s nearest class in the tree (a subclass defined elsewhere names its parent)."""
    for c in cls.__mro__:
        if c.__module__ == __name__ and issubclass(c, LoopwiseError):
            return c.__name__
    return "LoopwiseError"


def error_class(status: int, name: str | None) -> type[LoopwiseError]:
    """The class for an HTTP error answer: the one its body names, else the first of the tree with its
    status (its most general), else ``ServerError``.

    Example:
        >>> error_class(404, None).__name__, error_class(422, "SchemaError").__name__
        ('NotFoundError', 'SchemaError')
        >>> error_class(422, None).__name__, error_class(503, None).__name__
        ('DataError', 'ServerError')
    """
    by_name = {c.__name__: c for c in tree() if c is not LoopwiseError}
    cls = by_name.get(name or "")
    if cls is not None:
        return cls
    # A name this version does not know (a newer server), or none: the status decides.
    if 400 <= status < 500:
        for c in tree():
            if c.http_status == status and c is not LoopwiseError:
                return c
    return ServerError


def from_http(status: int, body: Any) -> LoopwiseError:
    """The exception a server's error answer stands for, with ``status`` and ``body`` attached.

    Example:
        >>> e = from_http(422, {"error": "2 problems", "type": "SchemaValidationError",
        ...     "issues": [{"column": "repaid", "message": "targets go to /feedback"}]})
        >>> type(e).__name__, str(e).splitlines()[1]
        ('SchemaValidationError', "  column 'repaid': targets go to /feedback")
    """
    cls = error_class(status, body.get("type") if isinstance(body, dict) else None)
    if cls is ServerError:
        return ServerError(status, body)
    exc = _blank(cls)
    # Built from the message, not the class's own arguments: the server already wrote it.
    LoopwiseError.__init__(exc, describe_body(body))
    if isinstance(exc, SchemaValidationError):
        exc.issues = []
    exc.status, exc.body = status, body  # type: ignore[attr-defined]
    return exc


def _blank(cls: type[LoopwiseError]) -> LoopwiseError:
    """An instance of ``cls`` without its ``__init__``: made by the built-in base that lays it out (for a
    PermissionError, OSError's; Python refuses any other)."""
    for base in cls.__mro__:
        if base.__module__ == "builtins":
            try:
                return base.__new__(cls)  # type: ignore[no-any-return,call-overload]
            except TypeError:
                continue
    raise TypeError(f"cannot make a {cls.__name__}")


def shown(value: Any) -> str:
    """A value as a message shows it: times and dates as ISO 8601 text (a time without a zone says so),
    a time span in seconds, anything else as its repr (text quoted: an empty or padded value shows).

    Example:
        >>> import datetime as dt
        >>> shown(dt.datetime(2026, 3, 3, 10, tzinfo=dt.timezone.utc)), shown(dt.datetime(2026, 3, 3))
        ('2026-03-03T10:00:00+00:00', '2026-03-03T00:00:00 (no time zone)')
        >>> shown("v 2"), shown(dt.date(2026, 3, 3)), shown(dt.timedelta(hours=-1))
        ("'v 2'", '2026-03-03', '-3600 seconds')
        >>> shown((dt.date(2026, 3, 3), None))
        '(2026-03-03, None)'

    """
    import datetime as dt

    if isinstance(value, dt.datetime):
        return value.isoformat() + (" (no time zone)" if value.tzinfo is None else "")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return f"{value.total_seconds():g} seconds"
    if isinstance(value, tuple | list) and len(value) <= 20:
        inner = ", ".join(shown(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    return repr(value)


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when one of ``choices`` is close to ``name`` (a typo), else ``""``: for
    messages that name a column or value the user probably misspelt.

    Close is difflib's similarity (at least 0.6) and a typo's few edits: one, or one per five characters of
    ``name`` (letters swapped count one, case none). Similarity alone offered ``'defaulted'`` for
    ``default_pred`` (0.86, three letters away): another word, not a slip.

    Example:
        >>> did_you_mean("regoin", ["region", "income"]), did_you_mean("default_pred", ["defaulted"])
        (" (did you mean 'region'?)", '')
    """
    limit = max(1, len(name) // 5)
    texts = [str(c) for c in choices]
    typos = [c for c in texts if _edits(name.lower(), c.lower()) <= limit]
    close = difflib.get_close_matches(name, typos, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _edits(a: str, b: str) -> int:
    """The fewest insertions, deletions, substitutions and swaps of neighbours that turn ``a`` into ``b``
    (the optimal string alignment distance)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[-1]
