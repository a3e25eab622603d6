"""Acknowledged means durable and counted once: the server is killed again and again while clients ingest."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pandas as pd
import yaml
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session
from tests._fixtures import free_port, wait_for
from tests._fixtures.http import records, traffic

from loopwise.datasets import CREDIT_SCHEMA_YAML
from loopwise.ingest import compact_pending
from loopwise.server.auth import create_key
from loopwise.store import make_engine, session_factory, transaction, upgrade
from loopwise.store.tables import BucketPart, BucketProfile, Event


def profiled_rows(s: Session) -> int:
    """Rows in bucket profiles plus parts not yet folded (the server was killed before its job ran)."""
    return int(s.scalar(select(func.sum(BucketProfile.n))) or 0) + int(
        s.scalar(select(func.sum(BucketPart.n))) or 0
    )


def assert_folds_exactly(engine: Engine, n: int) -> None:
    """After folding every pending part, the buckets alone hold each row once."""
    compact_pending(session_factory(engine))
    with session_factory(engine)() as s:
        assert s.scalar(select(func.count()).select_from(BucketPart)) == 0
        assert s.scalar(select(func.sum(BucketProfile.n))) == n


CLIENTS, BATCHES, ROWS = 3, 12, 200
KILLS = 4
#: Clients keep sending past BATCHES until the server has been killed KILLS times (a fast server finished
#: the fixed load before the third kill), up to this many batches each.
MAX_BATCHES = 80
DEADLINE = 120.0


class Server:
    def __init__(self, db_url: str, log: Path) -> None:
        self.db_url, self.port, self.log = db_url, free_port(), log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "LOOPWISE_DATABASE_URL": self.db_url}
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "loopwise.server.asgi:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "warning",
                ],
                env=env,
                stdout=fh,
                stderr=fh,
                start_new_session=True,
            )
        try:
            wait_for(self.healthy, f"the server at {self.url} to answer /health", timeout=30)
        except TimeoutError as e:
            raise RuntimeError(f"{e}: {self.log.read_text()[-2000:]}") from None

    def healthy(self) -> bool:
        try:
            return httpx.get(self.url + "/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


def test_sigkill_during_ingestion(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    with transaction(session_factory(engine)) as s:
        key = create_key(s, "admin", name="durability")
    server = Server(db_url, tmp_path / "server.log")
    server.start()
    headers = {"Authorization": f"Bearer {key}"}
    r = httpx.post(
        server.url + "/v1/models",
        json={"name": "credit", "schema": yaml.safe_load(CREDIT_SCHEMA_YAML)},
        headers=headers,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    sent: set[str] = set()
    acked: set[str] = set()
    lock = threading.Lock()
    server_errors: list[str] = []
    t_end = time.time() + DEADLINE
    killed_enough = threading.Event()

    def client(n: int) -> None:
        b = -1
        while (b := b + 1) < MAX_BATCHES and (b < BATCHES or not killed_enough.is_set()):
            df = traffic(ROWS, seed=n * 100 + b)
            df["request_id"] = [f"c{n}-b{b}-{i}" for i in range(ROWS)]
            body = {"records": records(df)}
            idem = str(uuid.uuid4())
            with lock:
                sent.update(df["request_id"])

            def accepted(body: dict[str, object] = body, idem: str = idem) -> bool:
                try:
                    resp = httpx.post(
                        server.url + "/v1/models/credit/predictions",
                        json=body,
                        timeout=30,
                        headers={**headers, "Idempotency-Key": idem},
                    )
                except httpx.TransportError:
                    return False  # the server is down: retry the same batch with the same key
                if resp.status_code >= 500 and resp.status_code != 503:
                    server_errors.append(f"{resp.status_code}: {resp.text[:200]}")
                return resp.status_code == 200

            with contextlib.suppress(TimeoutError):  # past the deadline: `acked == sent` below says so
                wait_for(
                    accepted,
                    f"batch {b} of client {n} to be accepted",
                    timeout=t_end - time.time(),
                    every=0.1,
                )
                with lock:
                    acked.update(df["request_id"])

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    kills = 0
    while any(t.is_alive() for t in threads) and kills < KILLS and time.time() < t_end:
        # Killed once the clients have had batches accepted since the last start, so each kill lands while
        # writes are in flight, whatever the machine's speed.
        with lock:
            before = len(acked)
        with contextlib.suppress(TimeoutError):
            wait_for(
                lambda before=before: len(acked) > before or not any(t.is_alive() for t in threads),
                "a batch accepted since the last start",
                timeout=30,
            )
        server.kill()
        kills += 1
        server.start()
    killed_enough.set()
    for t in threads:
        t.join(DEADLINE)
    server.kill()
    assert kills == KILLS, "the load finished before the server could be killed enough times"
    assert not server_errors, server_errors
    assert acked == sent, f"{len(sent - acked)} events were never acknowledged"
    with session_factory(engine)() as s:
        stored = list(s.scalars(select(Event.event_id)))
        profiled = profiled_rows(s)
        if engine.dialect.name == "sqlite":
            assert s.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    assert len(stored) == len(set(stored)) == len(sent)  # every acknowledged event, exactly once
    assert set(stored) == sent
    assert profiled == len(sent)  # the bucket profiles count each event once too
    assert_folds_exactly(engine, len(sent))
    engine.dispose()


def test_postgresql_outage_is_503_and_recovers(postgres: object, tmp_path: Path) -> None:
    import psycopg
    from tests._fixtures import Cluster

    assert isinstance(postgres, Cluster)
    name = f"lw_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    db_url = postgres.url.rsplit("/", 1)[0] + "/" + name
    engine = make_engine(db_url)
    upgrade(engine)
    with transaction(session_factory(engine)) as s:
        key = create_key(s, "admin", name="outage")
    engine.dispose()
    server = Server(db_url, tmp_path / "server.log")
    server.start()
    headers = {"Authorization": f"Bearer {key}"}
    assert (
        httpx.post(
            server.url + "/v1/models",
            headers=headers,
            timeout=30,
            json={"name": "credit", "schema": yaml.safe_load(CREDIT_SCHEMA_YAML)},
        ).status_code
        == 201
    )
    statuses: list[int] = []
    acked: set[str] = set()
    sent: set[str] = set()
    try:
        for b in range(10):
            if b == 3:
                postgres.stop()
            if b == 6:
                postgres.start()
            df = traffic(100, seed=500 + b)
            df["request_id"] = [f"o-{b}-{i}" for i in range(100)]
            sent.update(df["request_id"])
            idem = str(uuid.uuid4())

            def answered(b: int = b, df: pd.DataFrame = df, idem: str = idem) -> int | None:
                r = httpx.post(
                    server.url + "/v1/models/credit/predictions",
                    json={"records": records(df)},
                    headers={**headers, "Idempotency-Key": idem},
                    timeout=30,
                )
                statuses.append(r.status_code)
                # During the outage 503 is the answer (the batch is sent again after it); else retry to a 200.
                done = r.status_code == 200 or (b in (3, 4, 5) and r.status_code == 503)
                return r.status_code if done else None

            if wait_for(answered, f"batch {b} to be answered", timeout=60, every=0.1) == 200:
                acked.update(df["request_id"])
        # The batches refused during the outage, sent again once PostgreSQL is back.
        for b in (3, 4, 5):
            df = traffic(100, seed=500 + b)
            df["request_id"] = [f"o-{b}-{i}" for i in range(100)]
            r = httpx.post(
                server.url + "/v1/models/credit/predictions",
                json={"records": records(df)},
                headers=headers,
                timeout=30,
            )
            assert r.status_code == 200, r.text
            acked.update(df["request_id"])
    finally:
        server.kill()
        with contextlib.suppress(subprocess.CalledProcessError):  # it is already running
            postgres.start()
    assert 503 in statuses
    assert 500 not in statuses and all(s in (200, 503) for s in statuses), statuses
    assert acked == sent
    engine = make_engine(db_url)
    with session_factory(engine)() as s:
        stored = list(s.scalars(select(Event.event_id)))
        assert profiled_rows(s) == len(sent)
    assert sorted(stored) == sorted(sent)
    assert_folds_exactly(engine, len(sent))
    engine.dispose()
