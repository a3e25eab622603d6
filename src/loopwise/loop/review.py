"""The review stream's background thread: every ``interval`` seconds, each server process offers to fill
the streaming policies' due increments (``loopwise.review.stream``; one process at a time does)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from loopwise.review.stream import stream_pass

log = logging.getLogger("loopwise.review")


class ReviewLoop:
    """A background thread running ``stream_pass``; errors are logged and it goes on."""

    def __init__(self, sessions: sessionmaker[Session], interval: float = 10.0) -> None:
        self.sessions, self.interval = sessions, interval
        self.passes = 0
        self.failures = 0
        self.filled = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="loopwise-review", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def run_once(self) -> list[dict[str, Any]] | None:
        try:
            out = stream_pass(self.sessions)
        except DBAPIError as exc:
            self.failures += 1
            log.warning("review stream pass failed, will retry: %s", exc.__class__.__name__)
            return None
        except Exception:
            self.failures += 1
            log.exception("review stream pass failed, will retry")
            return None
        self.passes += 1
        self.filled += len(out)
        return out

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.run_once()
