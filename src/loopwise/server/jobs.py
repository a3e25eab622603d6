"""Server jobs: work the server runs beside its requests, on a thread of its own.

The compactor folds the bucket parts ingestion appends into their buckets every second (decision 0004);
folding one bucket is the ingestion service's (``loopwise.ingest.buckets.compact_pending``), running it
on a schedule, one server process at a time, with back-off for a bucket that fails, is this module's.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from loopwise.ingest import BucketKey, compact_pending
from loopwise.store.engine import checkpoint, exclusive

log = logging.getLogger("loopwise.compactor")


class Compactor:
    """A background thread that folds pending parts into buckets every ``interval`` seconds.

    Errors are logged and the loop goes on (a database outage only delays compaction: readers merge the
    parts meanwhile). ``stop`` finishes the pass under way and folds what is left once more.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        readers: sessionmaker[Session] | None = None,
        interval: float = 1.0,
    ) -> None:
        self.factory, self.readers, self.interval = factory, readers, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.folded = 0
        #: Buckets that failed to fold: (failures in a row, monotonic time of the next try, last error).
        #: Each is retried after a back-off that doubles (1 minute to 1 hour); the others go on meanwhile.
        self.failing: dict[BucketKey, tuple[int, float, str]] = {}
        self.failures = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="loopwise-compactor", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self.run_once()

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

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.run_once()
