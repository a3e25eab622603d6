"""A real PostgreSQL (a throwaway cluster the tests start themselves) and a real server on loopback."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from loopwise.client import Client
from loopwise.server import Settings, create_app
from loopwise.server.auth import create_key
from loopwise.store import make_engine, session_factory, sqlite_url, transaction
from tests._fixtures.waits import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class Cluster:
    """A throwaway PostgreSQL cluster on 127.0.0.1, which a test may stop and start again."""

    def __init__(self, bindir: Path, data: Path, log: Path, port: int) -> None:
        self.bindir, self.data, self.log, self.port = bindir, data, log, port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self.data), *args]),
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self._ctl("-o", opts, "-l", str(self.log), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "-w", "stop")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """A fresh PostgreSQL cluster for the session (initdb in a temporary folder, run as postgres)."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        raise RuntimeError("PostgreSQL is not installed: run `make test`, which installs it")
    bindir = Path(bins[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="lw-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(root, pg.pw_uid, pg.pw_gid)
    subprocess.run(
        _as_postgres([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]),
        check=True,
        capture_output=True,
    )
    cluster = Cluster(bindir, data, root / "log", free_port())
    cluster.start()
    try:
        yield cluster
    finally:
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "loopwise.db")
    import psycopg

    base = request.getfixturevalue("postgres").url
    name = f"lw_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return base.rsplit("/", 1)[0] + "/" + name


class Running:
    def __init__(self, url: str, admin_key: str, db_url: str) -> None:
        self.url, self.admin_key, self.db_url = url, admin_key, db_url
        #: Clients opened on this server (``tests._fixtures.http.client`` and ``sdk``), closed with it.
        self.clients: list[httpx.Client | Client] = []

    def key(self, role: str, model: str | None = None) -> str:
        from loopwise.ingest import get_model

        engine = make_engine(self.db_url)
        with transaction(session_factory(engine)) as s:
            mid = get_model(s, model).id if model else None
            k = create_key(s, role, model_id=mid, name=f"test-{role}")
        engine.dispose()
        return k


@contextmanager
def serving(app: Any, db_url: str, *, lifespan: str = "off") -> Iterator[Running]:
    """``app`` served on a free loopback port in a thread, with an admin key, until the block ends. With
    ``lifespan="off"`` (the API alone) the group writer the app started is stopped here; with "on" the
    app's lifespan starts and stops its background jobs (the compactor, the monitors' scheduler)."""
    with transaction(app.state.sessions) as s:
        admin = create_key(s, "admin", name="test-admin")
    port = free_port()
    srv = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan)
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_for(lambda: srv.started, "the test server to start", timeout=20)
    running = Running(f"http://127.0.0.1:{port}", admin, db_url)
    try:
        yield running
    finally:
        for c in running.clients:
            c.close()
        srv.should_exit = True
        thread.join(20)
        if lifespan == "off":
            app.state.writer.stop()
            app.state.engine.dispose()


@pytest.fixture
def server(db_url: str) -> Iterator[Running]:
    settings = Settings(database_url=db_url, max_body_bytes=2 * 2**20, max_rows=5000)
    with serving(create_app(settings), db_url) as running:
        yield running
