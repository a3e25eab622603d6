"""Pooled PostgreSQL connections: a connection idle for a while is tested before use, a busy one is not."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from tests._fixtures import Cluster, wait_for

from loopwise.store import engine as engine_module
from loopwise.store import make_engine


def _backend_of(engine: object) -> int:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(url: str, pid: int) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
        gone = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
        wait_for(
            lambda: admin.execute(gone, (pid,)).fetchone() == (0,), f"backend {pid} to be gone", timeout=10
        )


@pytest.fixture
def pg_url(postgres: Cluster) -> str:
    import psycopg

    name = f"lw_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres.url.rsplit("/", 1)[0] + "/" + name


def test_a_connection_idle_past_the_limit_is_replaced_before_use(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "PING_IDLE_SECONDS", 0.2)
    engine = make_engine(pg_url)
    try:
        first = _backend_of(engine)  # the pool's one connection
        idle_since = time.monotonic()  # back in the pool, idle from (at the latest) here
        _terminate(pg_url, first)
        # Idle past the limit: tested at checkout, found dead, replaced.
        wait_for(
            lambda: time.monotonic() - idle_since > engine_module.PING_IDLE_SECONDS,
            "the pooled connection to be idle past PING_IDLE_SECONDS",
            every=0.01,
        )
        second = _backend_of(engine)
        assert second != first
    finally:
        engine.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The other side of the trade: no round trip for a busy connection, so one killed between two uses
    # close together fails the statement (the server answers 503 and the pool replaces its connections).
    monkeypatch.setattr(engine_module, "PING_IDLE_SECONDS", 60.0)
    engine = make_engine(pg_url)
    try:
        first = _backend_of(engine)
        _terminate(pg_url, first)
        with pytest.raises(OperationalError) as err:
            _backend_of(engine)
        assert err.value.connection_invalidated
        assert _backend_of(engine) != first
    finally:
        engine.dispose()
