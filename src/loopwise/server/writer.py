"""Group commit: one writer thread per server process stores concurrent ingestion requests together.

Requests validate and profile large batches in parallel (``prepare_predictions``), then queue them here;
small ones are queued raw and validated and profiled here with the rest of their group (small JSON ones not
even converted to Arrow yet: the writer converts those of one shape together). The writer takes
whatever has queued while it was busy (up to ``max_rows``), stores it in one transaction with one commit, and
only then answers each request. Under load many requests share one validation, one fsync, one blob, one
insert of index rows and one part per bucket; alone, a request waits for nothing but its own write.

On PostgreSQL, where writers run side by side, a large batch gains nothing from a group: its request stores
it in a transaction of its own (``write_here``), beside the writer, instead of queueing behind it.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections import defaultdict
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeAlias

import pyarrow as pa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from loopwise.errors import ConflictError, LoopwiseError
from loopwise.ingest import (
    ROW_PARTS_BELOW,
    Duplicates,
    Prepared,
    UnvalidatedBatch,
    Write,
    body_digest,
    prepare_predictions,
    prepare_writes,
    write_group,
)
from loopwise.server.bodies import Decoded, Shape, tables_of
from loopwise.store import transaction


@dataclass(eq=False)
class JsonBatch:
    """A small JSON batch queued as parsed records, with its shape (see ``bodies.shape_of``).

    Converting one request's single record to Arrow cost 0.3 ms of CPU in a loaded server process (0.2 ms
    in a quiet one) and held up the event loop; the writer converts all the batches of a group that share a
    shape in one call.
    """

    model: str
    rows: list[Any]
    shape: Shape
    version: str | None
    max_rows: int
    idempotency_key: str | None = None
    body_hash: str | None = None


Item: TypeAlias = Write | JsonBatch

_STOP = object()
#: Attempts at storing a batch whose event ids (or key) another request stored meanwhile.
RETRIES = 3


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
        #: Whether a request may store a large batch itself (``write_here``): on PostgreSQL. With one writer
        #: thread a process stored its large batches one after another, the thread mostly waiting for the
        #: server's COPY; on SQLite a writer waits for the one write lock anyway, and a group shares a commit.
        self.side_by_side = not self.prepare_apart
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

    async def write(self, w: Item) -> dict[str, Any]:
        """Queue a batch; its answer once the transaction that stored it has committed (or its error)."""
        self.start()
        fut: Future[dict[str, Any]] = Future()
        self._queue.put((w, fut))
        return await asyncio.wrap_future(fut)

    async def submit(
        self,
        model: str,
        batch: Decoded,
        version: str | None,
        max_rows: int,
        idempotency_key: str | None = None,
        body: bytes = b"",
    ) -> dict[str, Any]:
        """Store a decoded batch of predictions; its answer once committed.

        A small batch is validated and profiled by the writer together with the others queued with it:
        per-column overhead dominates a one-event request, and thirty cost about what one does. A large one
        is prepared by its request (beside the writer) and stored in the group, or alone on PostgreSQL.
        """
        digest = body_digest(body) if idempotency_key else None
        queued: Prepared | UnvalidatedBatch | JsonBatch
        if batch.shape is not None:
            assert batch.rows is not None
            queued = JsonBatch(model, batch.rows, batch.shape, version, max_rows, idempotency_key, digest)
        elif (table := batch.as_table()).num_rows < ROW_PARTS_BELOW:
            queued = UnvalidatedBatch(model, table, version, max_rows)
        else:
            queued = await run_in_threadpool(self._prepare, model, table, version, max_rows)
        for attempt in range(RETRIES):
            try:
                # A fresh Write each attempt: the writer stages what it would store on it.
                item = queued if isinstance(queued, JsonBatch) else Write(queued, idempotency_key, digest)
                if isinstance(item, Write) and isinstance(queued, Prepared) and self.side_by_side:
                    return await run_in_threadpool(self.write_here, item)
                return await self.write(item)
            except IntegrityError:
                # Another process stored some of these ids (or this key) first; the retry sees them.
                if attempt == RETRIES - 1:
                    raise ConflictError("the batch conflicted with a concurrent one; retry it") from None
        raise AssertionError("unreachable")

    def _prepare(self, model: str, table: pa.Table, version: str | None, max_rows: int) -> Prepared:
        # Validation and profiling only read, so they run beside the writer (one at a time: ``preparing``).
        with self.preparing, self.readers() as s:
            return prepare_predictions(s, model, table, version=version, max_rows=max_rows)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            group = [first]
            rows = _rows(first[0])
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
                rows += _rows(nxt[0])
            self._commit(group)
            if stop:
                return

    def write_here(self, w: Write) -> dict[str, Any]:
        """Store one batch in the calling thread, in a transaction of its own (see ``side_by_side``)."""
        (answer,) = self._store([w])
        if isinstance(answer, Exception):
            raise answer
        return answer

    def _store(self, group: list[Write]) -> list[dict[str, Any] | Exception]:
        try:
            return self._store_once(group, "raise")
        except IntegrityError:
            # An event id stored before (a retried request) or by another process meanwhile: the group
            # runs again in a new transaction, looking its ids up first. Without a savepoint around the
            # optimistic insert, the usual group makes two round trips fewer.
            return self._store_once(group, "lookup")

    def _store_once(self, group: list[Write], duplicates: Duplicates) -> list[dict[str, Any] | Exception]:
        if self.prepare_apart:
            # Validation and profiling of the small batches only read: done before the write transaction,
            # so the other processes' writers store their groups meanwhile.
            with self.readers() as rs:
                writes = prepare_writes(rs, group)
            with transaction(self.factory) as s:
                return write_group(s, writes, duplicates=duplicates)
        with transaction(self.factory) as s:
            writes = prepare_writes(s, group)
            return write_group(s, writes, duplicates=duplicates)

    def _commit(self, queued: list[tuple[Item, Future[dict[str, Any]]]]) -> None:
        try:
            group = _convert(queued)
        except BaseException as exc:  # a bug, not bad input (that is one batch's error): answer, never hang
            for _, fut in queued:
                if not fut.done():
                    fut.set_exception(exc)
            return
        try:
            answers = self._store([w for w, _ in group])
        except BaseException as exc:  # nothing of the group is stored: every request gets the error
            for _, fut in group:
                fut.set_exception(exc)
            return
        for (_, fut), answer in zip(group, answers, strict=True):
            if isinstance(answer, Exception):
                fut.set_exception(answer)
            else:
                fut.set_result(answer)


def _rows(item: Item) -> int:
    return len(item.rows) if isinstance(item, JsonBatch) else item.prep.table.num_rows


def _convert(queued: list[tuple[Item, Future[dict[str, Any]]]]) -> list[tuple[Write, Future[dict[str, Any]]]]:
    """The group's JSON batches as Arrow (those of one model, version and shape converted together), in
    queue order; a batch that does not convert gets its error now and leaves the group."""
    shapes: dict[tuple[str, str | None, Shape], list[JsonBatch]] = defaultdict(list)
    for item, _ in queued:
        if isinstance(item, JsonBatch):
            shapes[(item.model, item.version, item.shape)].append(item)
    tables: dict[int, pa.Table | LoopwiseError] = {}  # by id() of the batch
    for batches in shapes.values():
        for b, table in zip(batches, tables_of([b.rows for b in batches]), strict=True):
            tables[id(b)] = table
    out = []
    for item, fut in queued:
        if isinstance(item, Write):
            out.append((item, fut))
            continue
        table = tables[id(item)]
        if isinstance(table, LoopwiseError):
            fut.set_exception(table)
        else:
            raw = UnvalidatedBatch(item.model, table, item.version, item.max_rows)
            out.append((Write(raw, item.idempotency_key, item.body_hash), fut))
    return out
