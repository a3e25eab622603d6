"""Start-up of ``uvicorn loopwise.server.asgi:app``, as docs/server.md runs it: real uvicorn processes on
loopback (decision 0015).

On a new database the app migrates it before answering; with ``LOOPWISE_MIGRATE=0`` it refuses to start in
one line; the API description pages answer without a key and can be turned off.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
from tests._fixtures import free_port

import loopwise
from loopwise.server.auth import create_key
from loopwise.store import make_engine, session_factory, sqlite_url, transaction

from .test_workers import post_and_wait_folded, wait_healthy


def uvicorn(db: Path, port: int, log: Path, *extra: str, **env: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as err:  # the child writes to its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "loopwise.server.asgi:app", "--port", str(port), *extra],
            env={**os.environ, "LOOPWISE_DATABASE_URL": sqlite_url(db), **env},
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def newest_migration() -> str:
    """The newest revision, read from the migration files themselves (each names the one it follows)."""
    versions = Path(loopwise.__file__).parent / "store" / "migrations" / "versions"
    revs, follows = set(), set()
    for f in versions.glob("0*.py"):
        text = f.read_text()
        revs.add(re.search(r'^revision\b.*= "(\w+)"', text, re.M).group(1))  # type: ignore[union-attr]
        down = re.search(r'^down_revision\b.*= "(\w+)"', text, re.M)
        if down:
            follows.add(down.group(1))
    (head,) = revs - follows
    return str(head)


def test_uvicorn_migrates_a_new_database_and_the_compactor_folds(tmp_path: Path) -> None:
    # Two worker processes importing the app at once both migrate: they take turns, and both start.
    db, port, log = tmp_path / "fresh.db", free_port(), tmp_path / "uvicorn.log"
    proc = uvicorn(db, port, log, "--workers", "2")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url)
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
                (newest_migration(),)
            ]
        engine = make_engine(sqlite_url(db))
        with transaction(session_factory(engine)) as s:
            key = create_key(s, "admin", name="startup")
        post_and_wait_folded(url, key, engine, batches=2, seed=11)
        # A later pass folds a later batch: the compactor kept running after the first fold, without failing.
        post_and_wait_folded(url, key, engine, batches=1, seed=12, model="later")
        engine.dispose()
    finally:
        stop(proc)
    text = log.read_text()
    assert "Application startup complete" in text
    assert "compaction failed" not in text and "Traceback" not in text, text


def test_without_migrating_a_new_database_is_refused_in_one_line(tmp_path: Path) -> None:
    db, log = tmp_path / "fresh.db", tmp_path / "uvicorn.log"
    proc = uvicorn(db, free_port(), log, LOOPWISE_MIGRATE="0")
    assert proc.wait(60) == 2
    lines = log.read_text().splitlines()
    assert lines == [
        f"loopwise: the database {sqlite_url(db)} is empty (no loopwise tables), this loopwise needs "
        f"{newest_migration()}: run `loopwise db upgrade` (or start with LOOPWISE_MIGRATE=1)"
    ], lines


def test_api_docs_answer_without_a_key_and_can_be_turned_off(tmp_path: Path) -> None:
    for setting, expected in (("1", 200), ("0", 404)):
        port, log = free_port(), tmp_path / f"uvicorn-{setting}.log"
        proc = uvicorn(tmp_path / f"docs-{setting}.db", port, log, LOOPWISE_API_DOCS=setting)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url)
            for path in ("/openapi.json", "/docs", "/redoc"):
                assert httpx.get(url + path, timeout=10).status_code == expected, (setting, path)
            if expected == 200:
                spec = httpx.get(url + "/openapi.json", timeout=10).json()
                assert spec["info"] == {"title": "loopwise", "version": loopwise.__version__}
                assert "/v1/models" in spec["paths"]
                # As docs/server.md says: the page's scripts come from a CDN, so offline it is blank.
                assert "https://cdn.jsdelivr.net/" in httpx.get(url + "/docs", timeout=10).text
            # The API itself still wants a key.
            assert httpx.get(url + "/v1/models", timeout=10).status_code == 401
        finally:
            stop(proc)
