"""An artifact uploaded as the raw request body (``application/octet-stream``), streamed into the artifact
store: the store reads it in chunks straight off the connection, hashing each and refusing the upload at the
first chunk past its size limit, before anything is kept (decisions 0025 and 0029)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import anyio.from_thread
from fastapi import Request

from loopwise.errors import LimitError, RequestFormatError


class RequestStream(io.RawIOBase):
    """The request body as a blocking, readable stream, for code running in a worker thread of the event
    loop (``run_in_threadpool``): each read pulls the next chunks from the connection."""

    def __init__(self, request: Request) -> None:
        self._chunks: AsyncIterator[bytes] = request.stream().__aiter__()
        self._buffer = b""
        self._ended = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while not self._ended and (size < 0 or len(self._buffer) < size):
            try:
                self._buffer += anyio.from_thread.run(self._next)
            except StopAsyncIteration:
                self._ended = True
        if size < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    async def _next(self) -> bytes:
        return await self._chunks.__anext__()


def declared_within(request: Request, limit: int) -> None:
    """Refuse at once a body declared longer than ``limit`` (a streamed one is refused as it is read)."""
    declared = request.headers.get("content-length")
    if declared is None:
        return
    try:
        size = int(declared)
    except ValueError:
        raise RequestFormatError("Content-Length is not a number") from None
    if size > limit:
        raise LimitError(
            f"the artifact is {size} bytes; the limit is {limit} (the registry's max_artifact_bytes)"
        )
