"""Sign-in limits shared by server processes (decision 0042): two ``loopwise serve`` processes on one
database (PostgreSQL, and a SQLite file), over real HTTP on loopback. Five failures for a name in all,
whichever process took them, and the name is refused on both; a success is forgotten; a burst of parallel
guesses split over the two gets exactly five through to the password check; twenty failures from one address
refuse any name."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests._fixtures import free_port
from tests.server.test_workers import wait_healthy

from loopwise.store import make_engine, session_factory, transaction, upgrade
from loopwise.store.logins import recent
from loopwise.store.users import create_user

PASSWORD = "correct horse battery"


@pytest.fixture
def two_servers(db_url: str, tmp_path: Path) -> Iterator[list[str]]:
    engine = make_engine(db_url)
    upgrade(engine)
    with transaction(session_factory(engine)) as s:
        for name in ("ana", "ben", "cy"):
            create_user(s, name, PASSWORD, "viewer", [], actor="test")
    engine.dispose()
    env = {**os.environ, "LOOPWISE_DATABASE_URL": db_url, "LOOPWISE_MONITOR_SECONDS": "0"}
    procs, urls = [], []
    for i in range(2):
        port = free_port()
        with (tmp_path / f"serve{i}.log").open("wb") as err:
            procs.append(
                subprocess.Popen(
                    [str(Path(sys.executable).parent / "loopwise"), "serve", "--port", str(port)],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    start_new_session=True,
                )
            )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url in urls:
            wait_healthy(url)
        yield urls
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            p.wait(30)


def _login(url: str, name: str, password: str) -> httpx.Response:
    return httpx.post(url + "/v1/auth/login", json={"name": name, "password": password}, timeout=60)


def test_two_processes_share_one_allowance(two_servers: list[str], db_url: str) -> None:
    a, b = two_servers
    # A success is forgotten: four failures, then the right password (on the other process), whose
    # session works on the first; one more failure makes five, and the name is refused.
    for _ in range(4):
        assert _login(a, "cy", "wrong password!").status_code == 401
    ok = _login(b, "cy", PASSWORD)
    assert ok.status_code == 200, ok.text
    assert httpx.get(a + "/v1/auth/me", cookies=ok.cookies, timeout=30).json()["user"] == "cy"
    assert _login(a, "cy", "wrong password!").status_code == 401
    assert _login(b, "cy", PASSWORD).status_code == 429

    # Five failures for ana, taken in turn by the two processes: each alone would have allowed five.
    for url in (a, b, a, b, a):
        assert _login(url, "ana", "wrong password!").status_code == 401
    for url in (b, a):
        refused = _login(url, "ana", PASSWORD)  # the right password, after five failures in all
        assert refused.status_code == 429, refused.text
        assert refused.json()["type"] == "RateLimitError" and 0 < refused.json()["retry_after"] <= 301

    # Sixteen guesses for ben at once, eight on each process: five reach the password check, no more.
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        codes = list(
            pool.map(lambda i: _login((a, b)[i % 2], "ben", f"guess {i:02d}!!").status_code, range(16))
        )
    assert sorted(codes) == [401] * 5 + [429] * 11, codes

    # The address has fifteen failures (five for each name); five more names fail once each, then any name
    # is refused by address.
    for i in range(5):
        assert _login((a, b)[i % 2], f"nobody{i}", "wrong password!").status_code == 401
    engine = make_engine(db_url)
    with session_factory(engine)() as s:
        assert recent(s, "addr:127.0.0.1", dt.timedelta(minutes=5)) == 20
        assert recent(s, "name:ana", dt.timedelta(minutes=5)) == 5
    engine.dispose()
    assert _login(b, "somebody else", "wrong password!").status_code == 429
