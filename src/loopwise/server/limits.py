"""What a request may cost once decoded, checked before the work (decision 0016).

A body's size says little about what decoding it costs: zstd-compressed Arrow buffers, Parquet's run-length
and dictionary pages and a profile's compressed body each inflate a few kilobytes into gigabytes, and a
JSON batch of 100,000 keys or 10,000 model versions costs far more than its bytes. Each check here reads
only headers and metadata, so a request over a limit is refused (413) before anything is allocated.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from loopwise.errors import DataError, LimitError, RequestFormatError, SchemaValidationError
from loopwise.schema.validate import ValidationIssue
from loopwise.server.settings import Settings


def check_names(names: Iterable[str], settings: Settings) -> None:
    """Refuse more than ``max_columns`` columns, or a name given twice (422)."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataError(f"column {name!r} appears twice in the body").with_detail(column=name)
        seen.add(name)
        if len(seen) > settings.max_columns:
            raise LimitError(f"the body has more than {settings.max_columns} columns; that is the limit")


def json_columns(rows: list[Any], settings: Settings) -> list[str]:
    """The keys of JSON records, in order of appearance; refused past ``max_columns``."""
    keys: dict[str, None] = {}
    for r in rows:
        if isinstance(r, dict):
            keys.update(dict.fromkeys(r))
            if len(keys) > settings.max_columns:
                raise LimitError(f"the batch has more than {settings.max_columns} columns; that is the limit")
    return list(keys)


def check_cells(rows: int, columns: int, decoded: int, settings: Settings) -> None:
    if rows * columns > settings.max_cells:
        raise LimitError(
            f"the body decodes to {rows} rows x {columns} columns = {rows * columns} values; "
            f"the limit is {settings.max_cells}",
        )
    if decoded > settings.max_decoded_bytes:
        raise LimitError(
            f"the body decodes to {decoded} bytes; the limit is {settings.max_decoded_bytes}",
        )


def check_versions(distinct: int, settings: Settings) -> None:
    if distinct > settings.max_versions_per_batch:
        raise LimitError(
            f"the batch names {distinct} model versions; the limit is {settings.max_versions_per_batch} "
            "per batch",
        )


def check_parquet(body: bytes, settings: Settings) -> pq.ParquetFile:
    """The Parquet file, once its metadata shows it fits: rows x columns and its size before decoding."""
    try:
        f = pq.ParquetFile(pa.BufferReader(body))
    except (pa.ArrowInvalid, OSError) as exc:
        raise RequestFormatError(f"the body is not valid Parquet: {exc}") from None
    md = f.metadata
    check_names(f.schema_arrow.names, settings)
    size = sum(md.row_group(i).total_byte_size for i in range(md.num_row_groups))
    check_cells(md.num_rows, md.num_columns, size, settings)
    return f


def read_parquet(body: bytes, settings: Settings) -> pa.Table:
    """Parquet into Arrow, strings kept as dictionaries until ``check_dense`` has seen what they decode to."""
    f = check_parquet(body, settings)
    strings = [
        field.name
        for field in f.schema_arrow
        if pa.types.is_string(field.type)
        or pa.types.is_large_string(field.type)
        or pa.types.is_binary(field.type)
    ]
    try:
        table = pq.ParquetFile(pa.BufferReader(body), read_dictionary=strings).read()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise RequestFormatError(f"the body is not valid Parquet: {exc}") from None
    return check_times(decode_dictionaries(table, settings, only=strings))


def decode_dictionaries(table: pa.Table, settings: Settings, only: list[str] | None = None) -> pa.Table:
    """Dictionary columns made plain, once the bytes they decode to are known to fit.

    A dictionary of one long string taken a million times is a few bytes on the wire and a gigabyte plain.
    """
    total = 0
    for name, col in zip(table.column_names, table.columns, strict=True):
        if not pa.types.is_dictionary(col.type) or (only is not None and name not in only):
            continue
        for chunk in col.chunks:
            values = chunk.dictionary
            if pa.types.is_string(values.type) or pa.types.is_binary(values.type):
                lengths = pc.fill_null(pc.binary_length(values), 0)
                total += int(pc.sum(pc.take(lengths, chunk.indices)).as_py() or 0)
            else:
                # Not fixed-width (nested): refused by validation later.
                with contextlib.suppress(ValueError):
                    total += len(chunk) * max(values.type.bit_width // 8, 1)
        if total > settings.max_decoded_bytes:
            raise LimitError(
                f"column {name!r} decodes to more than {settings.max_decoded_bytes} bytes; that is the limit",
            ).with_detail(column=name)
    if only is None:
        return table
    for name in only:
        i = table.column_names.index(name)
        col = table.column(i)
        if pa.types.is_dictionary(col.type):
            table = table.set_column(i, name, col.cast(col.type.value_type))
    return table


# --- Arrow IPC: the sizes each message's flatbuffer header declares, read before any buffer is decoded ---

_SCHEMA, _DICTIONARY, _RECORD_BATCH = 1, 2, 3


class _Table:
    """A flatbuffer table: just enough of the format to read Arrow's Message headers."""

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf, self.pos = buf, pos
        (soffset,) = struct.unpack_from("<i", buf, pos)
        self.vtable = pos - soffset
        self.vsize = struct.unpack_from("<H", buf, self.vtable)[0]

    def _field(self, i: int) -> int | None:
        o = 4 + 2 * i
        if o >= self.vsize:
            return None
        (off,) = struct.unpack_from("<H", self.buf, self.vtable + o)
        return self.pos + off if off else None

    def scalar(self, i: int, fmt: str, default: int = 0) -> int:
        p = self._field(i)
        return default if p is None else int(struct.unpack_from(fmt, self.buf, p)[0])

    def table(self, i: int) -> _Table | None:
        p = self._field(i)
        return None if p is None else _Table(self.buf, p + struct.unpack_from("<I", self.buf, p)[0])

    def structs(self, i: int, fmt: str) -> Iterator[tuple[int, ...]]:
        p = self._field(i)
        if p is None:
            return
        v = p + struct.unpack_from("<I", self.buf, p)[0]
        (n,) = struct.unpack_from("<I", self.buf, v)
        size = struct.calcsize(fmt)
        for k in range(n):
            yield struct.unpack_from(fmt, self.buf, v + 4 + k * size)


def _messages(body: bytes) -> Iterator[tuple[int, _Table | None, int, int]]:
    """(header type, header, body start, body length) of each message of an IPC stream or file."""
    pos = 8 if body[:6] == b"ARROW1" else 0
    while pos + 4 <= len(body):
        (n,) = struct.unpack_from("<i", body, pos)
        if n == -1:  # the continuation marker before each length since Arrow 0.15
            pos += 4
            (n,) = struct.unpack_from("<i", body, pos)
        pos += 4
        if n <= 0:
            return
        meta = body[pos : pos + n]
        pos += n
        message = _Table(meta, struct.unpack_from("<I", meta, 0)[0])
        kind = message.scalar(1, "<B")
        length = message.scalar(3, "<q")
        yield kind, message.table(2), pos, length
        pos += length


def arrow_cost(body: bytes) -> tuple[int, int]:
    """Rows and decoded bytes of an Arrow IPC body, from its headers (compressed buffers declare their
    decoded length in their first eight bytes)."""
    rows = decoded = 0
    try:
        for kind, header, start, length in _messages(body):
            if header is None or kind not in (_DICTIONARY, _RECORD_BATCH):
                continue
            batch = header.table(1) if kind == _DICTIONARY else header
            if batch is None:
                continue
            if kind == _RECORD_BATCH:
                rows += batch.scalar(0, "<q")
            compressed = batch.table(3) is not None
            for offset, size in batch.structs(2, "<qq"):
                if compressed and size >= 8 and start + offset + 8 <= start + length <= len(body):
                    (declared,) = struct.unpack_from("<q", body, start + offset)
                    decoded += size - 8 if declared == -1 else max(declared, 0)
                else:
                    decoded += max(size, 0)
    except (struct.error, IndexError):
        raise RequestFormatError("the body is not valid Arrow IPC: its message headers are damaged") from None
    return rows, decoded


def read_arrow(body: bytes, stream: bool, settings: Settings) -> pa.Table:
    rows, decoded = arrow_cost(body)
    try:
        reader = pa.ipc.open_stream(pa.py_buffer(body)) if stream else pa.ipc.open_file(pa.py_buffer(body))
        check_names(reader.schema.names, settings)
        check_cells(rows, len(reader.schema), decoded, settings)
        table = reader.read_all()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise RequestFormatError(f"the body is not valid Arrow IPC: {exc}") from None
    check_cells(table.num_rows, table.num_columns, 0, settings)  # what the headers said, now for sure
    return check_times(decode_dictionaries(table, settings))


def check_profile(body: bytes, settings: Settings) -> None:
    """Refuse a profile whose body would decompress past ``max_decoded_bytes`` (its header declares it)."""
    from loopwise.profiles.serialize import decompressed_size

    size = decompressed_size(body, settings.max_decoded_bytes)
    if size > settings.max_decoded_bytes:
        raise LimitError(
            f"the profile decompresses to more than {settings.max_decoded_bytes} bytes; that is the limit",
        )


#: Seconds from 1970 to the first and past the last instant Python's datetime holds (years 1 to 9999).
_FIRST, _PAST = -62_135_596_800, 253_402_300_800
_PER_SECOND = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}


def check_times(table: pa.Table) -> pa.Table:
    """Refuse (422, naming the column) times and dates outside years 1-9999, in any column: every later
    step that reads them as Python values (ids, categories, export) would fail on them, long after the
    batch was accepted. The timestamp column's own range (2000 to a day ahead) is validation's."""
    issues = []
    for name, col in zip(table.column_names, table.columns, strict=True):
        t = col.type
        if pa.types.is_timestamp(t):
            per_second = _PER_SECOND[t.unit]
            ints = col.cast(pa.int64())
        elif pa.types.is_date32(t):
            per_second, ints = 1, pc.multiply(col.cast(pa.int32()).cast(pa.int64()), 86_400)
        elif pa.types.is_date64(t):
            per_second, ints = 1000, col.cast(pa.int64())
        else:
            continue
        low, high = (v.as_py() for v in pc.min_max(ints).values())
        if low is None or (low >= _FIRST * per_second and high < _PAST * per_second):
            continue
        issues.append(
            ValidationIssue(name, "out_of_range", "holds a time outside the years 1 to 9999 (wrong unit?)")
        )
    if issues:
        raise SchemaValidationError(issues)
    return table
