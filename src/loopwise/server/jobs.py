"""Server jobs: work the server runs beside its requests, each on a thread of its own (``BackgroundJob``).

The compactor folds the bucket parts ingestion appends into their buckets every second (decision 0004);
folding one bucket is the ingestion service's (``loopwise.ingest.buckets.compact_pending``), running it
on a schedule, one server process at a time, with back-off for a bucket that fails, is this module's.
The monitors' scheduler runs a pass of ``loopwise.loop.run_pass`` every few seconds (decision 0035): due
windows, claimed with leases, so every server process may run it. The review stream fills the streaming
review policies' due increments (``loopwise.review.stream``, decision 0042; one process at a time does).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, ClassVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from loopwise.alerts import AlertSettings
from loopwise.ingest import BucketKey, compact_pending
from loopwise.loop import PassResult, new_owner, run_pass
from loopwise.review.stream import stream_pass
from loopwise.store.engine import checkpoint, exclusive

log = logging.getLogger("loopwise.compactor")
monitor_log = logging.getLogger("loopwise.monitors")
review_log = logging.getLogger("loopwise.review")
log_jobs = logging.getLogger("loopwise.jobs")


class BackgroundJob:
    """A daemon thread that calls ``run_once`` every ``interval`` seconds until ``stop``.

    ``run_once`` handles (logs and counts) its own errors; one that escapes it is logged here and the loop
    goes on, so a job never dies of one bad pass. With ``final_pass``, ``stop`` runs one more pass after the
    thread has ended (the compactor folds what is left).
    """

    #: The thread's name (``loopwise-...``), as ``ps``, ``py-spy`` and the logs show it.
    thread_name: ClassVar[str] = "loopwise-job"
    final_pass: ClassVar[bool] = False

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """End the loop (the pass under way finishes first); a job with ``final_pass`` then runs once more."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            if self.final_pass:
                self.run_once()

    @property
    def running(self) -> bool:
        return self._thread is not None

    def run_once(self) -> Any:  # pragma: no cover (each job defines its pass)
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:
                log_jobs.exception("%s: a pass failed; going on", self.thread_name)


class Compactor(BackgroundJob):
    """A background thread that folds pending parts into buckets every ``interval`` seconds.

    Errors are logged and the loop goes on (a database outage only delays compaction: readers merge the
    parts meanwhile). ``stop`` finishes the pass under way and folds what is left once more.
    """

    thread_name = "loopwise-compactor"
    final_pass = True

    def __init__(
        self,
        factory: sessionmaker[Session],
        readers: sessionmaker[Session] | None = None,
        interval: float = 1.0,
    ) -> None:
        super().__init__(interval)
        self.factory, self.readers = factory, readers
        self.folded = 0
        #: Buckets that failed to fold: (failures in a row, monotonic time of the next try, last error).
        #: Each is retried after a back-off that doubles (1 minute to 1 hour); the others go on meanwhile.
        self.failing: dict[BucketKey, tuple[int, float, str]] = {}
        self.failures = 0

    def run_once(self) -> int:
        now = time.monotonic()
        skip = {k for k, (_, retry_at, _) in self.failing.items() if retry_at > now}
        failed: dict[BucketKey, Exception] = {}
        try:
            # One server process compacts at a time: two would merge the same parts and one would drop
            # its merge (see _compact_merged), or, on SQLite, wait for the other's write lock.
            with exclusive(self.factory, "compactor") as mine:
                if not mine:
                    return 0
                n = compact_pending(self.factory, self.readers, failed, skip)
                bind = self.factory.kw.get("bind")
                if bind is not None:
                    checkpoint(bind)
            self.folded += n
            # A bucket that was failing and was folded now (or has nothing pending) is well again.
            for k in [k for k in self.failing if k not in skip and k not in failed]:
                del self.failing[k]
            return n
        except DBAPIError as exc:
            log.warning("compaction failed, will retry: %s", exc.__class__.__name__)
        except Exception:
            log.exception("compaction failed, will retry")
        finally:
            for key, error in failed.items():
                count = self.failing.get(key, (0, 0.0, ""))[0] + 1
                delay = min(60.0 * 2 ** (count - 1), 3600.0)
                self.failing[key] = (
                    count,
                    time.monotonic() + delay,
                    f"{type(error).__name__}: {error}"[:500],
                )
                self.failures += 1
                log.error(
                    "bucket (model %s, version %r, %s) cannot be folded (%s: %s); the others go on, "
                    "it is retried in %.0f s",
                    key[0],
                    key[1],
                    key[2].isoformat(),
                    type(error).__name__,
                    error,
                    delay,
                )
        return 0


class MonitorLoop(BackgroundJob):
    """The monitors' scheduler in a server process: a pass (``loopwise.loop.run_pass``) every ``interval``
    seconds, under this process's claimer id; a failed pass is logged and counted, the next one tries
    again."""

    thread_name = "loopwise-monitors"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        read_sessions: sessionmaker[Session],
        settings: AlertSettings,
        interval: float = 10.0,
    ) -> None:
        super().__init__(interval)
        self.sessions, self.read_sessions, self.settings = sessions, read_sessions, settings
        self.owner = new_owner()
        self.passes = 0
        self.failures = 0
        self.ran = 0

    def run_once(self) -> PassResult | None:
        try:
            out = run_pass(self.sessions, self.read_sessions, self.settings, owner=self.owner)
        except DBAPIError as exc:
            self.failures += 1
            monitor_log.warning("monitor pass failed, will retry: %s", exc.__class__.__name__)
            return None
        except Exception:
            self.failures += 1
            monitor_log.exception("monitor pass failed, will retry")
            return None
        self.passes += 1
        self.ran += len(out.runs)
        return out


class ReviewLoop(BackgroundJob):
    """The review stream in a server process: ``stream_pass`` every ``interval`` seconds; a failed pass is
    logged and counted, the next one tries again."""

    thread_name = "loopwise-review"

    def __init__(self, sessions: sessionmaker[Session], interval: float = 10.0) -> None:
        super().__init__(interval)
        self.sessions = sessions
        self.passes = 0
        self.failures = 0
        self.filled = 0

    def run_once(self) -> list[dict[str, Any]] | None:
        try:
            out = stream_pass(self.sessions)
        except DBAPIError as exc:
            self.failures += 1
            review_log.warning("review stream pass failed, will retry: %s", exc.__class__.__name__)
            return None
        except Exception:
            self.failures += 1
            review_log.exception("review stream pass failed, will retry")
            return None
        self.passes += 1
        self.filled += len(out)
        return out
