"""The client interface shared by the HTTP and the local (embedded) clients."""

from __future__ import annotations

import datetime as dt
import queue
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from loopwise.errors import ParameterError
from loopwise.schema import DataLike, to_table

#: Rows per request when logging a large frame.
BATCH_ROWS = 5000

#: A progress callback: called with (rows acknowledged so far, rows in all), once with 0 before the first
#: request and then after each acknowledged request; its return value is ignored.
Progress = Callable[[int, int], object]


class Transport(Protocol):
    def register(self, name: str, schema: dict[str, Any]) -> dict[str, Any]: ...
    def models(self) -> list[dict[str, Any]]: ...
    def log(self, model: str, table: pa.Table, version: str | None, key: str) -> dict[str, Any]: ...
    def feedback(self, model: str, records: list[dict[str, Any]]) -> dict[str, Any]: ...
    def metrics(self, model: str, params: dict[str, Any]) -> dict[str, Any]: ...
    def check(self, model: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def reference(self, model: str, profile_bytes: bytes, name: str) -> dict[str, Any]: ...
    def describe(self, name: str) -> dict[str, Any]: ...


def _iso(t: dt.datetime | str | None) -> str | None:
    if t is None or isinstance(t, str):
        return t
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).isoformat()


@dataclass
class ModelHandle:
    """One model, through either client: ``log``, ``log_feedback``, ``metrics``, ``check``."""

    name: str
    transport: Transport
    id_column: str | None = None

    def log(
        self, data: DataLike, *, version: str | None = None, progress: Progress | None = None
    ) -> dict[str, int]:
        """Log predictions in batches of ``BATCH_ROWS``; each carries an idempotency key, so a retry never
        counts twice. ``progress(done_rows, total_rows)`` is called before the first batch and after each.

        Rows without an event id get a generated one (a UUID) when the schema names the id column.
        """
        table = to_table(data)
        if self.id_column and self.id_column not in table.column_names:
            ids = pa.array([str(uuid.uuid4()) for _ in range(table.num_rows)])
            table = table.append_column(self.id_column, ids)
        total = {"accepted": 0, "duplicates": 0}
        if progress is not None:
            progress(0, table.num_rows)
        for start in range(0, table.num_rows, BATCH_ROWS):
            out = self.transport.log(self.name, table.slice(start, BATCH_ROWS), version, str(uuid.uuid4()))
            total["accepted"] += int(out["accepted"])
            total["duplicates"] += int(out["duplicates"])
            if progress is not None:
                progress(min(start + BATCH_ROWS, table.num_rows), table.num_rows)
        return total

    def log_feedback(
        self,
        event_ids: Iterable[Any],
        labels: Iterable[Any],
        *,
        source: str = "ground_truth",
        kind: str = "label",
        progress: Progress | None = None,
    ) -> dict[str, int]:
        """Log feedback in batches of ``BATCH_ROWS`` records; ``progress`` as for ``log``."""
        field_name = {"label": "label", "correction": "label", "rating": "rating", "comment": "comment"}.get(
            kind, "label"
        )
        recs = [
            {"event_id": str(e), "kind": kind, "source": source, field_name: _plain(v)}
            for e, v in zip(event_ids, labels, strict=True)
        ]
        total = {"stored": 0, "replaced": 0, "joined": 0}
        if progress is not None:
            progress(0, len(recs))
        for start in range(0, len(recs), BATCH_ROWS):
            out = self.transport.feedback(self.name, recs[start : start + BATCH_ROWS])
            for k in total:
                total[k] += int(out[k])
            if progress is not None:
                progress(min(start + BATCH_ROWS, len(recs)), len(recs))
        return total

    def metrics(
        self,
        start: dt.datetime | str | None = None,
        end: dt.datetime | str | None = None,
        *,
        version: str | None = None,
        reference: str | None = "default",
        segment: str | None = None,
    ) -> dict[str, Any]:
        params = {
            "start": _iso(start),
            "end": _iso(end),
            "version": version,
            "reference": reference,
            "segment": segment,
        }
        return self.transport.metrics(self.name, {k: v for k, v in params.items() if v is not None})

    def check(
        self,
        suite: Any,
        start: dt.datetime | str | None = None,
        end: dt.datetime | str | None = None,
        reference: str | None = "default",
    ) -> dict[str, Any]:
        from loopwise.checks import Suite

        spec = suite.to_dict() if isinstance(suite, Suite) else suite
        if isinstance(spec, Path) or (
            isinstance(spec, str) and "\n" not in spec and spec.endswith((".yaml", ".yml"))
        ):
            # A suite file is read here, by the caller; the server reads no file a request names.
            spec = Path(spec).read_text(encoding="utf-8")
        return self.transport.check(
            self.name, {"suite": spec, "start": _iso(start), "end": _iso(end), "reference": reference}
        )

    def set_reference(
        self, reference: Any, name: str = "default", *, chunk_size: int | None = None
    ) -> dict[str, Any]:
        """Store a reference: a Profile, or data (a frame, table or path) profiled here with the model's
        registered schema (and, with ``chunk_size``, its chunks, for calibrated drift thresholds)."""
        from loopwise.profiles import Profile, profile
        from loopwise.schema import Schema

        if not isinstance(reference, Profile):
            schema = Schema.from_dict(self.transport.describe(self.name)["schema"])
            reference = profile(reference, schema=schema, chunk_size=chunk_size)
        elif chunk_size is not None:
            raise ParameterError("chunk_size", chunk_size, "None for a Profile (it carries its own chunks)")
        return self.transport.reference(self.name, reference.to_bytes(), name)

    def background(self, max_queue: int = 100, version: str | None = None) -> BackgroundLogger:
        """A logger that never blocks the caller: a bounded queue, a thread, a flush at close."""
        return BackgroundLogger(self, max_queue=max_queue, version=version)


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


@dataclass
class BackgroundLogger:
    """Queues frames and logs them from a thread. When the queue is full a frame is dropped and counted,
    never silently: ``dropped`` and ``errors`` say how many, and ``close()`` flushes what is queued."""

    handle: ModelHandle
    max_queue: int = 100
    version: str | None = None
    dropped: int = 0
    sent: int = 0
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(self.max_queue)
        self._thread = threading.Thread(
            target=self._run, daemon=True, name=f"loopwise-log-{self.handle.name}"
        )
        self._thread.start()

    def log(self, data: DataLike) -> bool:
        try:
            self._queue.put_nowait(data)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self.sent += self.handle.log(item, version=self.version)["accepted"]
            except Exception as exc:  # the caller's prediction path must not see our failures; keep them
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def close(self, timeout: float = 30.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def __enter__(self) -> BackgroundLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
