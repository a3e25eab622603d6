"""The logged batches' blobs read back for a replay and a comparison (decisions 0053 and 0065): on PostgreSQL
through ``COPY TO STDOUT`` in binary, each blob a view of its row's message; on SQLite by a ``SELECT``.

``whole_blobs`` and ``narrow_blobs`` return a group of blobs at once; ``each_blob`` hands them over one at a
time, as they arrive, so that a reader which copies what it needs out of each (``registry.feature_rows``)
holds one blob at a time: the allocator then reuses one blob's memory for the next, where a group held
together is mapped afresh and faulted in page by page (0.2-0.3 s of system time per 352 MB on this machine).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from loopwise.errors import DataError
from loopwise.store.batch_outputs import serves
from loopwise.store.bulk import dialect_of
from loopwise.store.tables import Batch, BatchOutputs

Blob = bytes | memoryview
#: Called with a batch's id and its blob, which is valid for the call only (PostgreSQL's message buffer).
OnBlob = Callable[[int, Blob], None]

#: ``COPY ... (FORMAT binary)``'s header: its signature, flags and an empty extension (PostgreSQL's docs,
#: "Binary Format").
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
#: The id's field: its eight bytes and six of padding, so that in a row's message (a field count of two
#: bytes, then each field's length in four and its bytes) the blob starts 24 bytes in, where Arrow's
#: buffers in it keep the 8-byte alignment they were written with.
COPY_BLOBS = (
    "COPY (SELECT int8send(id) || '\\x000000000000'::bytea, arrow FROM batches WHERE id = ANY(%s)) "
    "TO STDOUT (FORMAT binary)"
)
#: The same, of the batches' narrow blobs.
COPY_OUTPUTS = (
    "COPY (SELECT int8send(batch_id) || '\\x000000000000'::bytea, arrow FROM batch_outputs "
    "WHERE batch_id = ANY(%s)) TO STDOUT (FORMAT binary)"
)


def not_stored(batch: int) -> DataError:
    """A batch asked for and not found (its model deleted meanwhile)."""
    return DataError(f"logged batch {batch} is no longer stored: its events cannot be read")


def whole_blobs(s: Session, batch_ids: list[int]) -> dict[int, Blob]:
    """The stored blobs of these batches, by id."""
    found: dict[int, Blob] = {}
    each_blob(s, batch_ids, found.__setitem__)
    return found


def each_blob(s: Session, batch_ids: Sequence[int], on_blob: OnBlob) -> None:
    """``on_blob(id, blob)`` for each of these batches' stored blobs, as they arrive (in no set order);
    a batch not stored is left out."""
    if not batch_ids:
        return
    conn = s.connection()
    if dialect_of(conn) == "postgresql":
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        copy_rows(dbapi, list(batch_ids), on_blob)
        return
    for i, blob in conn.execute(select(Batch.id, Batch.arrow).where(Batch.id.in_(batch_ids))):
        on_blob(int(i), blob)
        del blob  # before the next row's fetch: one blob's memory at a time


def narrow_blobs(s: Session, batch_ids: list[int], columns: Sequence[str]) -> dict[int, Blob]:
    """The narrow blobs of these batches that answer for ``columns`` (``batch_outputs.serves``), by id:
    batches stored before migration 0020 have none."""
    conn = s.connection()
    found: dict[int, Blob] = {}
    if dialect_of(conn) == "postgresql":
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        copy_rows(dbapi, batch_ids, found.__setitem__, COPY_OUTPUTS)
    else:
        got = conn.execute(
            select(BatchOutputs.batch_id, BatchOutputs.arrow).where(BatchOutputs.batch_id.in_(batch_ids))
        )
        found = {int(i): blob for i, blob in got}
    return {
        i: blob for i, blob in found.items() if serves(pa.ipc.open_stream(pa.py_buffer(blob)).schema, columns)
    }


def copy_rows(dbapi: Any, batch_ids: list[int], on_blob: OnBlob, query: str = COPY_BLOBS) -> None:
    """The blobs through ``COPY TO STDOUT`` in binary (decision 0053): each row arrives as one message in a
    buffer of libpq's own, and a blob is a view of it, where a ``SELECT`` copied each blob from the
    result into Python bytes (352 MB for 1,000,000 events of 40 features: 0.15 s of CPU more, and 0.1-0.5
    s of waiting). A view that is not 8-byte aligned (the first row's, behind the header) is copied."""
    reader = CopyReader(on_blob)
    with dbapi.cursor() as cur, cur.copy(query, (list(batch_ids),)) as copy:
        for chunk in copy:
            reader.feed(chunk)
            del chunk  # libpq's buffer freed before the next message's: one at a time


class CopyReader:
    """Rows of (id, blob) out of ``COPY ... (FORMAT binary)``'s data, fed as it arrives. PostgreSQL sends
    a message per row (the header with the first); a field across two messages is read joined.

    ``on_row(id, blob)`` is called for each row read; without it, the rows are kept in ``rows``."""

    def __init__(self, on_row: OnBlob | None = None) -> None:
        self.rows: dict[int, Blob] = {}
        self._on_row = on_row if on_row is not None else self.rows.__setitem__
        self._pending = b""
        self._header = True
        self._done = False

    def feed(self, chunk: memoryview | bytes) -> None:
        view = memoryview(chunk)
        if self._pending:
            view = memoryview(self._pending + bytes(view))
            self._pending = b""
        at = 0
        if self._header:
            if len(view) < 19:
                self._pending = bytes(view)
                return
            if bytes(view[:11]) != COPY_SIGNATURE:
                raise DataError("PostgreSQL's COPY sent data that is not in its binary format")
            at = 19 + int.from_bytes(view[15:19], "big")  # the header's extension, skipped
            self._header = False
        while at < len(view) and not self._done:
            row = self._row(view, at)
            if row is None:
                self._pending = bytes(view[at:])
                return
            at = row

    def _row(self, view: memoryview, at: int) -> int | None:
        """Read the row at ``at``; its end, or None when the view ends before it does."""
        if len(view) - at < 2:
            return None
        fields = int.from_bytes(view[at : at + 2], "big", signed=True)
        if fields == -1:  # the trailer
            self._done = True
            return at + 2
        if fields != 2:
            raise DataError(f"PostgreSQL's COPY sent a row of {fields} fields, where two were asked for")
        at += 2
        values: list[memoryview] = []
        for _ in range(2):
            if len(view) - at < 4:
                return None
            n = int.from_bytes(view[at : at + 4], "big", signed=True)
            if n < 0:
                raise DataError("PostgreSQL's COPY sent a NULL where a batch's id and blob were asked for")
            if len(view) - at - 4 < n:
                return None
            values.append(view[at + 4 : at + 4 + n])
            at += 4 + n
        blob: Blob = values[1]
        if pa.py_buffer(blob).address % 8:
            blob = bytes(blob)
        self._on_row(int.from_bytes(values[0][:8], "big", signed=True), blob)
        return at
