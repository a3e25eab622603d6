"""Due windows are offered once and each is run by one claimer, on SQLite and PostgreSQL: two claimers in
threads, a lease that expires, and two scheduler processes on one database with a monitor due every second."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.monitors._helpers import database, monitored

from loopwise.monitors import Claim, claim, due_ends, enqueue_due, finish
from loopwise.store import transaction
from loopwise.store.tables import MonitorRun

T0 = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


def test_due_ends_follow_the_last_window_or_the_anchor() -> None:
    hour = 3600
    assert due_ends(T0, hour, None, T0 + dt.timedelta(minutes=150), 10) == [
        T0,
        T0 + dt.timedelta(hours=1),
        T0 + dt.timedelta(hours=2),
    ]
    last = T0 + dt.timedelta(hours=2)
    assert due_ends(T0, hour, last, T0 + dt.timedelta(minutes=179), 10) == []
    assert due_ends(T0, hour, last, T0 + dt.timedelta(hours=3), 10) == [T0 + dt.timedelta(hours=3)]
    assert len(due_ends(T0, 1, None, T0 + dt.timedelta(hours=1), 100)) == 100  # the catch-up bound


def test_windows_are_offered_once(db_url: str) -> None:
    engine, sessions, _ = database(db_url)
    mid = monitored(sessions, anchor=T0)
    now = T0 + dt.timedelta(hours=5, minutes=30)
    with transaction(sessions) as s:
        assert enqueue_due(s, now) == 6
    with transaction(sessions) as s:
        assert enqueue_due(s, now) == 0  # nothing new is due
    with sessions() as s:
        ends = list(s.scalars(select(MonitorRun.window_end).where(MonitorRun.monitor_id == mid)))
        assert sorted(ends) == [T0 + dt.timedelta(hours=h) for h in range(6)]
        starts = list(s.scalars(select(MonitorRun.window_start).order_by(MonitorRun.window_end)))
        assert starts[0] == T0 - dt.timedelta(hours=1)
    engine.dispose()


def _claimer(url: str, owner: str, got: list[int], start: threading.Barrier) -> None:
    engine, sessions, _ = database(url)
    start.wait()
    while True:
        with transaction(sessions) as s:
            claims = claim(s, owner, 3)
        if not claims:
            break
        for c in claims:
            with transaction(sessions) as s:
                assert finish(s, c, state="done", status="pass", n=0)
            got.append(c.run_id)
    engine.dispose()


def test_two_claimers_run_each_window_once(db_url: str) -> None:
    engine, sessions, _ = database(db_url)
    monitored(sessions, step=60, anchor=T0)
    with transaction(sessions) as s:
        offered = enqueue_due(s, T0 + dt.timedelta(minutes=99))
    assert offered == 100
    got: dict[str, list[int]] = {"a": [], "b": []}
    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=_claimer, args=(db_url, k, v, barrier)) for k, v in got.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not set(got["a"]) & set(got["b"])
    assert len(got["a"]) + len(got["b"]) == 100
    with sessions() as s:
        assert s.scalar(select(func.count()).where(MonitorRun.state == "done")) == 100
        assert set(s.scalars(select(MonitorRun.attempts))) == {1}
        owners = dict(
            s.execute(select(MonitorRun.lease_owner, func.count()).group_by(MonitorRun.lease_owner)).all()
        )
    assert owners == {k: len(v) for k, v in got.items() if v}
    engine.dispose()


def test_an_expired_lease_is_taken_over_and_the_first_claimer_stores_nothing(db_url: str) -> None:
    engine, sessions, _ = database(db_url)
    monitored(sessions, anchor=T0)
    with transaction(sessions) as s:
        enqueue_due(s, T0)
    with transaction(sessions) as s:
        (first,) = claim(s, "a", 5, lease=dt.timedelta(seconds=30))
    with transaction(sessions) as s:
        assert claim(s, "b", 5) == []  # held
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=31)
    with transaction(sessions) as s:
        (second,) = claim(s, "b", 5, now=later)
    assert (second.run_id, second.attempts) == (first.run_id, 2)
    with transaction(sessions) as s:
        assert not finish(s, first, state="done", status="fail")
    with transaction(sessions) as s:
        assert finish(s, second, state="done", status="pass")
    with sessions() as s:
        row = s.get(MonitorRun, first.run_id)
        assert row is not None and (row.status, row.lease_owner, row.attempts) == ("pass", "b", 2)
    assert isinstance(first, Claim)
    engine.dispose()


SCHEDULER = """
import sys, threading, datetime as dt
from loopwise.alerts import AlertSettings
from loopwise.server.jobs import MonitorLoop
from loopwise.store import make_engine, session_factory
engine = make_engine(sys.argv[1])
loop = MonitorLoop(session_factory(engine), session_factory(engine, readonly=True), AlertSettings(), 0.2)
stop = dt.datetime.fromisoformat(sys.argv[2])
pause = threading.Event()
while dt.datetime.now(dt.UTC) < stop:
    loop.run_once()
    pause.wait(0.2)
print(loop.owner, loop.ran, loop.failures)
"""


@pytest.mark.parametrize("seconds", [20])
def test_two_scheduler_processes_run_each_window_once(db_url: str, tmp_path: Path, seconds: int) -> None:
    """A monitor due every second; two processes each running scheduler passes for ``seconds``: every window
    from the anchor to the end has exactly one run, run once (one claim), and both processes ran some."""
    engine, sessions, _ = database(db_url)
    anchor = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=2)
    mid = monitored(sessions, step=1, anchor=anchor)
    stop = anchor + dt.timedelta(seconds=seconds)
    script = tmp_path / "scheduler.py"
    script.write_text(SCHEDULER)
    root = Path(__file__).parents[2]
    env = {"PYTHONPATH": str(root / "src"), "PATH": "/usr/bin:/bin"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), db_url, stop.isoformat()],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=seconds + 120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    reports = [o[0].split() for o in outs]
    assert all(r[2] == "0" for r in reports), reports  # no failed pass
    with sessions() as s:
        rows = s.execute(
            select(MonitorRun.window_end, MonitorRun.attempts, MonitorRun.state, MonitorRun.lease_owner)
            .where(MonitorRun.monitor_id == mid)
            .order_by(MonitorRun.window_end)
        ).all()
    ends = [r[0] for r in rows]
    assert ends[0] == anchor
    assert ends == [anchor + dt.timedelta(seconds=k) for k in range(len(ends))]  # none skipped, none twice
    assert len(ends) >= seconds - 2
    assert {r[1] for r in rows} == {1} and {r[2] for r in rows} == {"empty"}
    ran = {r[0]: int(r[1]) for r in reports}
    assert sum(ran.values()) == len(rows)  # each process counted what it ran: together, every run once
    assert {r[3] for r in rows} == set(ran) and min(ran.values()) > 0, ran  # both took part
    engine.dispose()


def test_two_server_processes_run_each_window_once(db_url: str) -> None:
    """``loopwise serve --workers 2``: two server processes, each with its scheduler (a pass every 0.2 s), and
    a monitor due every second for 20 s: each window has one run, run once, and both processes ran some."""
    import signal

    import httpx
    from tests._fixtures import free_port, wait_for

    from loopwise.server.auth import create_key

    engine, sessions, _ = database(db_url)
    with transaction(sessions) as s:
        key = create_key(s, "admin", name="test")
    port = free_port()
    root = Path(__file__).parents[2]
    env = {
        "PYTHONPATH": str(root / "src"),
        "PATH": "/usr/bin:/bin",
        "LOOPWISE_DATABASE_URL": db_url,
        "LOOPWISE_MONITOR_SECONDS": "0.2",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "loopwise.cli", "serve", "--port", str(port), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(url + "/health", timeout=2).status_code == 200, "the server", timeout=60)
        anchor = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=2)
        mid = monitored(sessions, step=1, anchor=anchor)
        stop = anchor + dt.timedelta(seconds=20)

        def ran_to_stop() -> bool:
            with sessions() as s:
                done = s.scalar(
                    select(func.count()).where(
                        MonitorRun.monitor_id == mid,
                        MonitorRun.window_end <= stop,
                        MonitorRun.state == "empty",
                    )
                )
            return done == 21

        wait_for(ran_to_stop, "every window to the stop time to run", timeout=120)
        h = httpx.get(
            url + "/v1/models/credit/monitors/m/runs?limit=1000", headers={"Authorization": f"Bearer {key}"}
        )
        assert h.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    with sessions() as s:
        rows = s.execute(
            select(MonitorRun.window_end, MonitorRun.attempts, MonitorRun.lease_owner)
            .where(MonitorRun.monitor_id == mid, MonitorRun.window_end <= stop)
            .order_by(MonitorRun.window_end)
        ).all()
    assert [r[0] for r in rows] == [anchor + dt.timedelta(seconds=k) for k in range(21)]
    assert {r[1] for r in rows} == {1}  # each window claimed once
    pids = {r[2].split(":")[1] for r in rows}
    assert len(pids) == 2, pids  # both server processes ran windows
    engine.dispose()


def _serve(port: int, db_url: str) -> subprocess.Popen[str]:
    root = Path(__file__).parents[2]
    env = {
        "PYTHONPATH": str(root / "src"),
        "PATH": "/usr/bin:/bin",
        "LOOPWISE_DATABASE_URL": db_url,
        "LOOPWISE_MONITOR_SECONDS": "0.2",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "loopwise.cli", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_two_servers_on_one_postgresql_for_a_minute(postgres: object, tmp_path: Path) -> None:
    """The issue's test as written: two ``loopwise serve`` processes (two servers, each its own scheduler,
    a pass every 0.2 s) on one PostgreSQL, a monitor due every second for a minute: each of the 61 windows
    has one run, run once (one claim), and both servers ran windows."""
    import signal
    import uuid

    import httpx
    import psycopg
    from tests._fixtures import free_port, wait_for

    base = postgres.url  # type: ignore[attr-defined]
    name = f"lw_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    db_url = base.rsplit("/", 1)[0] + "/" + name
    engine, sessions, _ = database(db_url)
    ports = [free_port(), free_port()]
    procs = [_serve(p, db_url) for p in ports]
    seconds = 60
    try:
        for p in ports:
            url = f"http://127.0.0.1:{p}/health"
            wait_for(lambda url=url: httpx.get(url, timeout=2).status_code == 200, "a server", timeout=60)
        anchor = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=2)
        mid = monitored(sessions, step=1, anchor=anchor)
        stop = anchor + dt.timedelta(seconds=seconds)

        def ran_to_stop() -> bool:
            with sessions() as s:
                done = s.scalar(
                    select(func.count()).where(
                        MonitorRun.monitor_id == mid,
                        MonitorRun.window_end <= stop,
                        MonitorRun.state == "empty",
                    )
                )
            return done == seconds + 1

        wait_for(ran_to_stop, "every window of the minute to run", timeout=seconds + 120)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        outs = [p.communicate(timeout=60) for p in procs]
    with sessions() as s:
        rows = s.execute(
            select(MonitorRun.window_end, MonitorRun.attempts, MonitorRun.lease_owner)
            .where(MonitorRun.monitor_id == mid, MonitorRun.window_end <= stop)
            .order_by(MonitorRun.window_end)
        ).all()
    assert [r[0] for r in rows] == [anchor + dt.timedelta(seconds=k) for k in range(seconds + 1)]
    assert {r[1] for r in rows} == {1}, [o[1][-2000:] for o in outs]  # each window claimed once
    pids = {r[2].split(":")[1] for r in rows}
    assert len(pids) == 2, pids  # both servers ran windows (a process each)
    engine.dispose()
