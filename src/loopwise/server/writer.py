"""Group commit: one writer thread per server process stores concurrent ingestion requests together.

Requests validate and profile large batches in parallel (``prepare_predictions``), then queue them here;
small ones are queued raw and validated and profiled here with the rest of their group. The writer takes
whatever has queued while it was busy (up to ``max_rows``), stores it in one transaction with one commit, and
only then answers each request. Under load many requests share one validation, one fsync, one blob, one
insert of index rows and one part per bucket; alone, a request waits for nothing but its own write.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from concurrent.futures import Future
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from loopwise.ingest.predictions import Write, prepare_writes, write_group
from loopwise.store import transaction

_STOP = object()


class GroupWriter:
    def __init__(
        self,
        factory: sessionmaker[Session],
        readers: sessionmaker[Session] | None = None,
        max_rows: int = 100_000,
    ) -> None:
        self.factory, self.readers, self.max_rows = factory, readers or factory, max_rows
        #: SQLite has one writer at a time, so a group is prepared before its write transaction; PostgreSQL
        #: writers run side by side and preparing inside the transaction saves a session's round trips
        #: (checkout, BEGIN, ROLLBACK), each a wait for the GIL while requests are being parsed.
        bind = factory.kw.get("bind")
        self.prepare_apart = bind is None or bind.dialect.name == "sqlite"
        self._queue: queue.Queue[Any] = queue.Queue()
        #: Requests prepare large batches one at a time: preparing holds the GIL, and with three at it the
        #: writer (the one serial step) got a quarter of it and took 40 ms to store a batch it stores in
        #: 10 alone; batches' p99 latency fell from 309 to 192 ms (bench/RESULTS.md, session 3).
        self.preparing = threading.Lock()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="loopwise-writer", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        with self._lock:
            if self._thread is not None:
                self._queue.put(_STOP)
                self._thread.join()
                self._thread = None

    async def write(self, w: Write) -> dict[str, Any]:
        """Queue a prepared batch; its answer once the transaction that stored it has committed."""
        self.start()
        fut: Future[dict[str, Any]] = Future()
        self._queue.put((w, fut))
        return await asyncio.wrap_future(fut)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            group = [first]
            rows = first[0].prep.table.num_rows
            stop = False
            while rows < self.max_rows:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                group.append(nxt)
                rows += nxt[0].prep.table.num_rows
            self._commit(group)
            if stop:
                return

    def _commit(self, group: list[tuple[Write, Future[dict[str, Any]]]]) -> None:
        try:
            if self.prepare_apart:
                # Validation and profiling of the small batches only read: done before the write
                # transaction, so the other processes' writers store their groups meanwhile.
                with self.readers() as rs:
                    writes = prepare_writes(rs, [w for w, _ in group])
                with transaction(self.factory) as s:
                    answers = write_group(s, writes)
            else:
                with transaction(self.factory) as s:
                    answers = write_group(s, prepare_writes(s, [w for w, _ in group]))
        except BaseException as exc:  # nothing of the group is stored: every request gets the error
            for _, fut in group:
                fut.set_exception(exc)
            return
        for (_, fut), answer in zip(group, answers, strict=True):
            if isinstance(answer, Exception):
                fut.set_exception(answer)
            else:
                fut.set_result(answer)
