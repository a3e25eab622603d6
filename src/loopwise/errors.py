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
    └── DatabaseVersionError (RuntimeError) a database whose schema is not the one this loopwise needs
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


class DatabaseVersionError(LoopwiseError, RuntimeError):
    """Raised when a server started without migrating finds its database at another schema revision."""

    def __init__(self, url: str, current: str | None, head: str) -> None:
        at = f"at schema revision {current}" if current else "empty (no loopwise tables)"
        super().__init__(
            f"the database {url} is {at}, this loopwise needs {head}: run `loopwise db upgrade` "
            "(or start with LOOPWISE_MIGRATE=1)"
        )
        self.current, self.head = current, head
