"""``loopwise serve --workers N``: a listening socket per process, so connections spread over them.

Linux only, as the supervisor is (elsewhere ``serve`` is plain uvicorn), and so is this suite's CI."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select
from tests._fixtures import free_port, wait_for
from tests._fixtures.http import SCHEMA, records, traffic

from loopwise.server.auth import create_key
from loopwise.store import make_engine, session_factory, sqlite_url, transaction, upgrade
from loopwise.store.tables import BucketPart, BucketProfile


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"resource_tracker" not in _cmdline(entry):
                out.append(int(entry.name))
    return out


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def established(pid: int, port: int, state: str = "01") -> int:
    """TCP sockets on ``port`` held by process ``pid`` in ``state`` (01 established, 0A listening), read from
    /proc, not from the server."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if int(f[1].rsplit(":", 1)[1], 16) == port and f[3] == state and f[9] in inodes:
                n += 1
    return n


def start(tmp_path: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LOOPWISE_DATABASE_URL": sqlite_url(tmp_path / "w.db")}
    with (tmp_path / "serve.log").open("wb") as err:  # the child writes to its own copy of the descriptor
        return subprocess.Popen(
            [
                str(Path(sys.executable).parent / "loopwise"),
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )


def _folded(engine: Engine) -> tuple[int, int]:
    """(bucket parts not yet folded, rows in the folded hourly profiles)."""
    with session_factory(engine, readonly=True)() as s:
        parts = s.scalar(select(func.count()).select_from(BucketPart)) or 0
        folded = s.scalar(select(func.sum(BucketProfile.n))) or 0
    return int(parts), int(folded)


def post_and_wait_folded(
    url: str, key: str, engine: Engine, batches: int, seed: int, model: str = "credit"
) -> None:
    """Register ``model``, log ``batches`` batches of 100 predictions, and wait until the compactor has folded
    every part into the hourly profiles (30 s at most)."""
    df = traffic(100 * batches, seed=seed)
    before = _folded(engine)[1]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
        assert c.post("/v1/models", json={"name": model, "schema": SCHEMA}).status_code == 201
        for i in range(batches):
            r = c.post(f"/v1/models/{model}/predictions", json=records(df.iloc[i * 100 : (i + 1) * 100]))
            assert r.status_code == 200, r.text
    wait_for(
        lambda: _folded(engine) == (0, before + 100 * batches),
        f"the compactor to fold the {batches} batches of {model!r}",
        timeout=30,
        every=0.2,
    )


def wait_healthy(url: str, seconds: float = 60) -> None:
    wait_for(
        lambda: httpx.get(url + "/health", timeout=1).status_code == 200,
        f"{url} to answer /health",
        timeout=seconds,
        every=0.1,
    )


def test_connections_spread_over_the_workers_and_orphans_stop(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    engine = make_engine(sqlite_url(tmp_path / "w.db"))
    upgrade(engine)
    with transaction(session_factory(engine)) as s:
        key = create_key(s, "admin", name="workers")
    proc = start(tmp_path, port, 2)
    try:
        wait_healthy(url)
        # "serving on" once the port answers, not before (it used to come seconds before a worker listened).
        log = (tmp_path / "serve.log").read_text()
        assert log.index(f"loopwise starting on {url}") < log.index("Application startup complete")
        wait_for(
            lambda: f"loopwise serving on {url} (2 workers" in (tmp_path / "serve.log").read_text(),
            "the supervisor to say it serves",
            timeout=10,
            every=0.1,
        )
        log = (tmp_path / "serve.log").read_text()
        assert log.index("Application startup complete") < log.index("loopwise serving on")
        # The workers do not fold bucket parts; the compactor process does, for all of them.
        post_and_wait_folded(url, key, engine, batches=3, seed=5)

        # Two workers, each listening on a socket of its own, and the compactor, listening on none.
        def listening() -> tuple[list[int], list[int]] | None:
            kids = children(proc.pid)
            workers = [k for k in kids if established(k, port, state="0A") == 1]
            return (kids, workers) if len(kids) == 3 and len(workers) == 2 else None

        kids, workers = wait_for(
            listening, "three children: two workers listening, one compactor", timeout=30, every=0.1
        )
        # Sixteen keep-alive connections opened together: with one shared socket they all went to whichever
        # worker woke first; here the kernel hashes each to a worker's own socket (all on one worker: 2^-15).
        clients = [httpx.Client(base_url=url, timeout=30) for _ in range(16)]
        try:
            for c in clients:
                assert c.get("/health").status_code == 200

            def spread() -> list[int] | None:
                counts = [established(w, port) for w in workers]
                return counts if sum(counts) == 16 else None

            per_worker = wait_for(spread, "the 16 connections to show as established in /proc", timeout=10)
            assert min(per_worker) >= 1, per_worker
        finally:
            for c in clients:
                c.close()
        # The supervisor killed outright: its workers notice and stop by themselves.
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        wait_for(
            lambda: not any(Path(f"/proc/{k}").exists() and "zombie" not in _state(k) for k in kids),
            "the workers to stop after their supervisor was killed",
            timeout=20,
            every=0.2,
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0].lower()
    except (OSError, IndexError):
        return "zombie"


def test_a_port_already_taken_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = start(tmp_path, port, 2)
        assert proc.wait(60) == 2
    # One line, before anything else happened (the trial waited 13 s for a boxed message): no database made.
    log = (tmp_path / "serve.log").read_text()
    assert log == (
        "error: parameter '--host/--port' must be an address this server can listen on (Address already in "
        f"use); got '127.0.0.1:{port}'\n"
    ), log[-2000:]
    assert not (tmp_path / "w.db").exists()


def test_settings_read_the_environment_when_made(monkeypatch: pytest.MonkeyPatch) -> None:
    # A worker turns its own compactor off by setting the variable after loopwise.server is imported; a
    # default fixed at import time had every worker compacting beside the compactor process.
    from loopwise.server.settings import Settings

    monkeypatch.setenv("LOOPWISE_COMPACT_SECONDS", "0")
    monkeypatch.setenv("LOOPWISE_MAX_ROWS", "7")
    monkeypatch.setenv("LOOPWISE_MAX_BODY_BYTES", "1234")
    monkeypatch.setenv("LOOPWISE_SWITCH_INTERVAL", "0.002")
    s = Settings()
    assert (s.compact_seconds, s.max_rows, s.max_body_bytes, s.switch_interval) == (0.0, 7, 1234, 0.002)
    monkeypatch.setenv("LOOPWISE_COMPACT_SECONDS", "2.5")
    assert Settings().compact_seconds == 2.5
