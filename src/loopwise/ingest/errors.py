"""Service errors (the server maps each to one HTTP status); they live in the one tree, loopwise.errors."""

from __future__ import annotations

from loopwise.errors import ConflictError, IdempotencyMismatchError, LimitError, NotFoundError

__all__ = ["ConflictError", "IdempotencyMismatchError", "LimitError", "NotFoundError"]
