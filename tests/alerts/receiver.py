"""A webhook receiver on 127.0.0.1 (Starlette under uvicorn, in a thread) that records what it is sent, and an
SMTP server (aiosmtpd) that keeps the messages it receives."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from tests._fixtures import free_port, wait_for


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    port: int
    got: list[Received] = field(default_factory=list)


def _app(rec: Receiver) -> Starlette:
    async def hook(request: Request) -> Response:
        rec.got.append(Received(request.url.path, dict(request.headers), await request.body()))
        if request.url.path == "/fail":
            return JSONResponse({"error": "down"}, status_code=500)
        if request.url.path == "/redirect":
            return RedirectResponse(f"{rec.url}/elsewhere", status_code=307)
        if request.url.path == "/redirect-to-metadata":  # the cloud metadata address: never to be followed
            return RedirectResponse("http://169.254.169.254/latest/meta-data/", status_code=302)
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])


@contextmanager
def receiver(port: int | None = None) -> Iterator[Receiver]:
    port = port or free_port()
    rec = Receiver(f"http://127.0.0.1:{port}", port)
    srv = uvicorn.Server(uvicorn.Config(_app(rec), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_for(lambda: srv.started, "the webhook receiver to start", timeout=20)
    try:
        yield rec
    finally:
        srv.should_exit = True
        thread.join(10)


@contextmanager
def smtp_server() -> Iterator[tuple[int, list[Message]]]:
    from aiosmtpd.controller import Controller

    messages: list[Message] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            messages.append(message_from_bytes(envelope.content))
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, messages
    finally:
        controller.stop()
