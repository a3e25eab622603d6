"""Several server processes on one port, each with its own listening socket (SO_REUSEPORT).

uvicorn's ``--workers`` shares one listening socket between its processes, and whichever process wakes first
accepts every connection waiting: 32 keep-alive connections opened together all went to one of two workers
(measured in the single-event benchmark: 153 write groups in one process, 2 in the other), so the second core
sat idle for the connections' whole life. With a socket of its own per process, the kernel spreads new
connections over the processes by a hash of their addresses.

The parent only supervises: it starts the workers, starts a new one when one dies, and stops them all on
SIGINT or SIGTERM. A worker whose parent is gone (even killed with SIGKILL) stops by itself.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger("loopwise.server")

APP = "loopwise.server.asgi:app"
#: A worker that dies this soon after it started most likely cannot start at all (bad database URL, port
#: taken by someone else): the parent gives up instead of restarting it in a loop.
STARTUP_SECONDS = 10.0


def reuse_port_supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux")


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(addr)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def check_port_free(host: str, port: int) -> None:
    """Raise OSError if something already listens there: SO_REUSEPORT alone would let a second ``serve`` of
    the same user share the port silently."""
    listening_socket(host, port, reuse_port=False).close()


def _worker(host: str, port: int, access_log: bool, parent: int) -> None:
    import uvicorn

    def orphan_watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's graceful shutdown: the writer drains its queue

    threading.Thread(target=orphan_watch, name="loopwise-orphan-watch", daemon=True).start()
    sock = listening_socket(host, port, reuse_port=True)
    uvicorn.Server(uvicorn.Config(APP, log_level="info", access_log=access_log)).run(sockets=[sock])


def serve_workers(host: str, port: int, workers: int, *, access_log: bool = False) -> int:
    """Run ``workers`` server processes until SIGINT or SIGTERM; exit code 1 if they could not start."""
    check_port_free(host, port)
    ctx = multiprocessing.get_context("spawn")
    procs: dict[int, tuple[BaseProcess, float]] = {}
    stopping = threading.Event()

    def start(slot: int) -> None:
        p = ctx.Process(
            target=_worker, args=(host, port, access_log, os.getpid()), name=f"loopwise-worker-{slot}"
        )
        p.start()
        procs[slot] = (p, time.monotonic())

    def stop(*_: Any) -> None:
        stopping.set()

    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        for slot in range(workers):
            start(slot)
        log.info("loopwise: %d workers on http://%s:%d (a socket each)", workers, host, port)
        while not stopping.wait(0.5):
            for slot, (p, started) in list(procs.items()):
                if p.is_alive():
                    continue
                if time.monotonic() - started < STARTUP_SECONDS:
                    log.error("worker %s exited with %s right after it started; stopping", p.pid, p.exitcode)
                    code = 1
                    stopping.set()
                    break
                log.warning("worker %s exited with %s; starting another", p.pid, p.exitcode)
                start(slot)
    finally:
        for p, _ in procs.values():
            if p.is_alive() and p.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGTERM)
        for p, _ in procs.values():
            p.join(30)
            if p.is_alive():
                p.kill()
                p.join()
        for s, handler in old.items():
            signal.signal(s, handler)
    return code
