"""The cyclic garbage collector paused while a batch is profiled, packed and folded (decision 0021, round 4).

A batch spread over a year makes a profile per hourly bucket and segment, tens of thousands of container
objects that live until the batch is stored and are then freed by reference counting. Alive across two young
collections, they are promoted to the oldest generation, and every 50,000 or so promoted objects Python runs a
full collection over the whole heap (about 0.1 s in a process with pandas, SciPy and SQLAlchemy loaded): 36
full collections, 5.2 s of a 68 s backfill of a million events, against none for the same events within one
hour. Reference counting frees what a batch makes (its profiles hold no cycles), so the collector has nothing
to find there.

``paused()`` turns the collector off for a block and back on when the last block of any thread ends, if it
was on before the first began (a caller who turned it off keeps it off). Blocks overlap across threads (the
server's writer, its preparing threads and the compactor), so a block that ends while others run collects the
young generations itself once more than ``YOUNG_LIMIT`` tracked objects were made meanwhile: cycles made
elsewhere in the process are still found while the collector is off.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

#: Tracked objects made since the last collection above which a block that ends collects the young
#: generations (the collector's own first threshold is 700; a batch of 5,000 rows over a year makes ~30,000).
YOUNG_LIMIT = 200_000

_lock = threading.Lock()
_depth = 0
_turned_off = False  # whether the first block of the current pause turned the collector off


@contextmanager
def paused() -> Iterator[None]:
    """The cyclic garbage collector off for the block (nested and concurrent blocks: off until the last ends).

    Example:
        >>> import gc
        >>> with paused():
        ...     gc.isenabled()
        False
        >>> gc.isenabled()
        True
    """
    global _depth, _turned_off
    with _lock:
        if _depth == 0:
            _turned_off = gc.isenabled()
            if _turned_off:
                gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            last = _depth == 0
            if last and _turned_off:
                gc.enable()
                _turned_off = False
        if not last and gc.get_count()[0] > YOUNG_LIMIT:
            gc.collect(1)


P = ParamSpec("P")
R = TypeVar("R")


def gc_paused(f: Callable[P, R]) -> Callable[P, R]:
    """``f`` run inside ``paused()``."""

    @wraps(f)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with paused():
            return f(*args, **kwargs)

    return run
