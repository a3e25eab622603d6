"""``loopwise serve --workers N``: a listening socket per process, so connections spread over them.

Linux only, as the supervisor is (elsewhere ``serve`` is plain uvicorn), and so is this suite's CI."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select
from tests._fixtures import free_port
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
        stderr=(tmp_path / "serve.log").open("wb"),
        start_new_session=True,
    )


def post_and_wait_folded(url: str, key: str, engine: Engine, batches: int, seed: int) -> None:
    """Register "credit", log ``batches`` batches of 100 predictions, and wait until the compactor has folded
    every part into the hourly profiles (30 s at most)."""
    df = traffic(100 * batches, seed=seed)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
        assert c.post("/v1/models", json={"name": "credit", "schema": SCHEMA}).status_code == 201
        for i in range(batches):
            r = c.post("/v1/models/credit/predictions", json=records(df.iloc[i * 100 : (i + 1) * 100]))
            assert r.status_code == 200, r.text
    deadline = time.time() + 30
    while True:
        with session_factory(engine, readonly=True)() as s:
            parts = s.scalar(select(func.count()).select_from(BucketPart))
            folded = s.scalar(select(func.sum(BucketProfile.n)))
        if parts == 0 and folded == 100 * batches:
            return
        assert time.time() < deadline, (parts, folded)
        time.sleep(0.2)


def wait_healthy(url: str, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the server did not start")


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
        # The workers do not fold bucket parts; the compactor process does, for all of them.
        post_and_wait_folded(url, key, engine, batches=3, seed=5)
        deadline = time.time() + 30
        while len(kids := children(proc.pid)) < 3 and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        # Two workers, each listening on a socket of its own, and the compactor, listening on none.
        workers = [k for k in kids if established(k, port, state="0A") == 1]
        assert len(kids) == 3 and len(workers) == 2, (kids, workers)
        # Sixteen keep-alive connections opened together: with one shared socket they all went to whichever
        # worker woke first; here the kernel hashes each to a worker's own socket (all on one worker: 2^-15).
        clients = [httpx.Client(base_url=url, timeout=30) for _ in range(16)]
        try:
            for c in clients:
                assert c.get("/health").status_code == 200
            time.sleep(0.5)
            per_worker = [established(w, port) for w in workers]
            assert sum(per_worker) == 16 and min(per_worker) >= 1, per_worker
        finally:
            for c in clients:
                c.close()
        # The supervisor killed outright: its workers notice and stop by themselves.
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.time() + 20
        while any(Path(f"/proc/{k}").exists() and "zombie" not in _state(k) for k in kids):
            assert time.time() < deadline, "workers outlived their supervisor"
            time.sleep(0.2)
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
        assert proc.wait(60) != 0
    log = (tmp_path / "serve.log").read_text()
    assert f"cannot listen on 127.0.0.1:{port}" in log, log[-2000:]


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
