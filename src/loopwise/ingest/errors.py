"""Service errors (the server maps each to one HTTP status)."""

from __future__ import annotations

from loopwise.errors import LoopwiseError


class NotFoundError(LoopwiseError, LookupError):
    """Raised when a model, reference or event does not exist."""


class ConflictError(LoopwiseError, ValueError):
    """Raised when a request conflicts with stored state (an idempotency key reused with another body)."""


class LimitError(LoopwiseError, ValueError):
    """Raised when a batch exceeds a configured limit (rows per batch)."""


class IdempotencyMismatchError(LoopwiseError, ValueError):
    """Raised when an idempotency key is sent again with a different body."""
