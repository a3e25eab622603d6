"""Waiting for a condition instead of sleeping for a guessed time: a loaded machine makes any fixed sleep
either too short (a flaky test) or too long (a slow one)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], what: str, *, timeout: float = 30.0, every: float = 0.02) -> T:
    """Call ``predicate`` until it returns something truthy, and return that; fail naming ``what`` otherwise.

    ``what`` reads as the end of "timed out after 30 s waiting for ...", e.g. "the server to accept
    connections". An exception raised by ``predicate`` counts as "not yet" (a server not listening yet
    refuses connections) and is shown in the failure if it is the last thing seen.
    """
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = predicate()
        except Exception as exc:  # "not yet": the thing waited for is not there to ask
            last, value = exc, None
        else:
            last = None
        if value:
            return value
        if time.monotonic() > deadline:
            seen = f" (last seen: {type(last).__name__}: {last})" if last is not None else ""
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}{seen}")
        time.sleep(every)
