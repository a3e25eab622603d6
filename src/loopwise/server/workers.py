"""Several server processes on one port, each with its own listening socket (SO_REUSEPORT).

uvicorn's ``--workers`` shares one listening socket between its processes, and whichever process wakes first
accepts every connection waiting: 32 keep-alive connections opened together all went to one of two workers
(measured in the single-event benchmark: 153 write groups in one process, 2 in the other), so the second core
sat idle for the connections' whole life. With a socket of its own per process, the kernel spreads new
connections over the processes by a hash of their addresses.

The parent only supervises: it starts the workers and one compactor process (which folds bucket parts for
all of them), starts a new one when one dies, and stops them all on SIGINT or SIGTERM. A child whose parent
is gone (even killed with SIGKILL) stops by itself.
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
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger("loopwise.server")

APP = "loopwise.server.asgi:app"
#: A worker that dies this soon after it started most likely cannot start at all (bad database URL, port
#: taken by someone else): the parent gives up instead of restarting it in a loop.
STARTUP_SECONDS = 10.0
#: How long the children get to stop after SIGTERM, all together, before they are killed.
GRACE_SECONDS = 15.0


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


def _orphan_watch(parent: int) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)  # the graceful way: a worker's writer drains its queue first

    threading.Thread(target=watch, name="loopwise-orphan-watch", daemon=True).start()


def _worker(host: str, port: int, access_log: bool, parent: int) -> None:
    import uvicorn

    # Folding parts is the compactor process's job (see _compactor), not a thread beside the requests.
    os.environ["LOOPWISE_COMPACT_SECONDS"] = "0"
    _orphan_watch(parent)
    sock = listening_socket(host, port, reuse_port=True)
    uvicorn.Server(uvicorn.Config(APP, log_level="info", access_log=access_log)).run(sockets=[sock])


def _compactor(parent: int, interval: float) -> None:
    """Fold bucket parts in a process of its own: in a worker, a pass held the GIL for 100-300 ms a second
    under single-event load, and the requests of that worker waited behind it."""
    from loopwise.server.jobs import Compactor
    from loopwise.server.settings import Settings
    from loopwise.store import make_engine, session_factory

    engine = make_engine(Settings(migrate=False).database_url)
    compactor = Compactor(session_factory(engine), session_factory(engine, readonly=True), interval)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    _orphan_watch(parent)
    compactor.start()
    done.wait()
    compactor.stop()  # one last pass
    engine.dispose()


def _accepts(host: str, port: int) -> bool:
    """Whether something accepts connections on ``host``:``port`` (a wildcard address: on loopback)."""
    target = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    try:
        with socket.create_connection((target, port), timeout=0.2):
            return True
    except OSError:
        return False


def serve_workers(
    host: str,
    port: int,
    workers: int,
    *,
    access_log: bool = False,
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Run ``workers`` server processes until SIGINT or SIGTERM; exit code 1 if they could not start.
    ``on_ready`` is called once, when the port first accepts connections (a worker's start-up, imports
    included, takes seconds: a message printed before it would send a user's first command to a closed
    port)."""
    check_port_free(host, port)
    ctx = multiprocessing.get_context("spawn")
    procs: dict[int, tuple[BaseProcess, float]] = {}
    stopping = threading.Event()
    from loopwise.server.settings import Settings

    interval = Settings(migrate=False).compact_seconds

    def start(slot: int) -> None:
        if slot == workers:
            p = ctx.Process(target=_compactor, args=(os.getpid(), interval), name="loopwise-compactor")
        else:
            p = ctx.Process(
                target=_worker, args=(host, port, access_log, os.getpid()), name=f"loopwise-worker-{slot}"
            )
        p.start()
        procs[slot] = (p, time.monotonic())

    def stop(*_: Any) -> None:
        stopping.set()

    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    # The compactor (slot ``workers``) starts once the port answers: on two cores its start-up competed
    # with the workers' for the CPU and delayed the first answer (decision 0059); nothing waits on it.
    compactor = interval > 0
    try:
        for slot in range(workers):
            start(slot)
        log.info("loopwise: %d workers on http://%s:%d (a socket each)", workers, host, port)
        while not stopping.wait(0.1 if compactor or on_ready is not None else 0.5):
            if (on_ready is not None or compactor) and _accepts(host, port):
                if on_ready is not None:
                    on_ready()
                    on_ready = None
                if compactor:
                    start(workers)
                    compactor = False
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
        # A worker drains its writer's queue and the compactor makes a last pass; past the grace period
        # what is still running is killed (nothing acknowledged is lost: answers follow commits).
        deadline = time.monotonic() + GRACE_SECONDS
        for p, _ in procs.values():
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                log.warning("process %s did not stop within %.0f s; killing it", p.pid, GRACE_SECONDS)
                p.kill()
                p.join()
        for s, handler in old.items():
            signal.signal(s, handler)
    return code
