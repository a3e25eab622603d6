"""The reviewer workspace's task page under 10 reviewers at once (issue 18's target: p95 under 100 ms on
SQLite over loopback, the explanation cached).

A ``loopwise serve`` process (one worker, SQLite in a temporary directory) holds a model with eight numeric
features, a scikit-learn random forest registered as its champion (skops; the tree type trusted by the
operator's ``LOOPWISE_TRUSTED_TYPES``), 5,000 events it answered (``/predict`` in batches of 500), a default
reference pinned from them, and a queue of random tasks. Ten reviewers sign in with passwords (the
workspace's form, with its CSRF token), and each opens its task page once: that first view computes the
SHAP values (timed: the cold view). Then each reviewer reloads its task page ``--requests`` times in a
closed loop (its next request as soon as the last is answered), all ten at once: every view reads the
session, the held task and its event, the day's progress, the reference's positions and the cached
explanation, and renders the page. Then a working round: each reviewer answers its task and opens the next
(an uncached explanation each time), ``--answers`` times.

A bare asyncio HTTP/1.1 client (requests built up front), as bench/ingest.py: httpx costs about a
millisecond of CPU per request, which on two cores would measure the load generator more than the server.

usage: python bench/review_page.py [--requests 100] [--answers 5]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier

import loopwise as lw
from loopwise.server.auth import create_key
from loopwise.store import make_engine, session_factory, sqlite_url, transaction, upgrade
from loopwise.store.users import create_user

REVIEWERS = 10
PASSWORD = "correct horse battery"
FEATURES = [f"x{i}" for i in range(8)]
SCHEMA = {
    "columns": {
        "id": {"role": "id"},
        "ts": {"role": "timestamp"},
        **{f: {"kind": "numeric"} for f in FEATURES},
        "approved": {"role": "prediction", "kind": "boolean"},
        "p_approved": {"role": "score"},
    }
}


def port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(db_url: str) -> tuple[subprocess.Popen[bytes], str, str]:
    engine = make_engine(db_url)
    upgrade(engine)
    with transaction(session_factory(engine)) as s:
        key = create_key(s, "admin", name="bench")
    engine.dispose()
    p = port()
    env = {**os.environ, "LOOPWISE_DATABASE_URL": db_url, "LOOPWISE_TRUSTED_TYPES": "sklearn.tree._tree.Tree"}
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "loopwise"), "serve", "--host", "127.0.0.1", "--port", str(p)],
        env=env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{p}"
    for _ in range(600):
        try:
            httpx.get(url + "/health", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    return proc, url, key


def setup(url: str, key: str, db_url: str, events: int) -> None:
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(0, 1, (4000, len(FEATURES))), columns=FEATURES)
    y = X.x0 + 0.5 * X.x1 - 0.3 * X.x2 + rng.normal(0, 0.5, len(X)) > 0
    forest = RandomForestClassifier(100, max_depth=8, random_state=0, n_jobs=1).fit(X, y)
    client = lw.Client(url, key)
    client.register("loans", SCHEMA)
    loans = client.model("loans")
    loans.register_version("v1", forest, sample=X.head(50))
    loans.set_alias("champion", "v1")
    hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    live = pd.DataFrame(rng.normal(0.2, 1.1, (events, len(FEATURES))), columns=FEATURES)
    live.insert(0, "id", [f"e{i}" for i in range(events)])
    for start in range(0, events, 500):
        loans.predict(live.iloc[start : start + 500])
    window = {"start": hour.isoformat(), "end": (hour + dt.timedelta(hours=2)).isoformat()}
    http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120)
    r = http.post("/v1/models/loans/references/pin", json={"name": "default", **window})
    assert r.status_code == 201, r.text
    policy = {"tasks": 1000, "selectors": [{"kind": "random", "share": 1.0}]}
    assert http.put("/v1/models/loans/review/policy", json=policy).status_code == 200
    r = http.post("/v1/models/loans/review/fill", json={**window, "seed": 1})
    assert r.status_code == 200, r.text
    print(f"queue: {r.json()['tasks']} tasks from {events:,} events", flush=True)
    http.close()
    client.close()
    engine = make_engine(db_url)
    with transaction(session_factory(engine)) as s:
        for i in range(REVIEWERS):
            create_user(s, f"r{i}", PASSWORD, "reviewer", ["loans"], actor="bench")
    engine.dispose()


def sign_in(url: str, name: str) -> tuple[str, str]:
    """The reviewer's session cookie and CSRF token, through the sign-in form."""
    with httpx.Client(base_url=url, timeout=60) as c:
        page = c.get("/ui/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        r = c.post("/ui/login", data={"name": name, "password": PASSWORD, "csrf": token})
        assert r.status_code == 303, r.text
        cookie = c.cookies["lw_session"]
        task = c.get("/ui/models/loans/task")
        csrf = re.findall(r'name="csrf" value="([^"]+)"', task.text)[0]
        return cookie, csrf


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: bytes
) -> tuple[int, bytes]:
    writer.write(req)
    status = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    body = await reader.readexactly(length)
    return int(status.split()[1]), body


def _get(host: str, path: str, cookie: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nCookie: lw_session={cookie}\r\n\r\n").encode()


def _post(host: str, path: str, cookie: str, form: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nCookie: lw_session={cookie}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(form)}\r\n\r\n{form}"
    ).encode()


async def reload_loop(url: str, sessions: list[tuple[str, str]], n: int) -> tuple[list[float], float]:
    """Each reviewer reloads its task page ``n`` times, all at once; latencies (s) and elapsed time."""
    host, p = url.removeprefix("http://").split(":")
    latencies: list[float] = []

    async def reviewer(cookie: str) -> None:
        reader, writer = await asyncio.open_connection(host, int(p))
        req = _get(host, "/ui/models/loans/task", cookie)
        try:
            for _ in range(n):
                t = time.perf_counter()
                status, body = await _exchange(reader, writer, req)
                latencies.append(time.perf_counter() - t)
                assert status == 200 and b"SHAP values of v1" in body, body[-400:]
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(reviewer(c) for c, _ in sessions))
    return latencies, time.perf_counter() - t0


async def working_loop(url: str, sessions: list[tuple[str, str]], n: int) -> list[float]:
    """Each reviewer answers its task and opens the next ``n`` times, all at once: the latency of the
    answer (its redirect) plus the next page, whose explanation is computed then."""
    host, p = url.removeprefix("http://").split(":")
    latencies: list[float] = []

    async def reviewer(cookie: str, csrf: str) -> None:
        reader, writer = await asyncio.open_connection(host, int(p))
        try:
            status, body = await _exchange(reader, writer, _get(host, "/ui/models/loans/task", cookie))
            for _ in range(n):
                task = re.search(rb'action="(/ui/models/loans/tasks/[0-9a-f]+)"', body).group(1).decode()  # type: ignore[union-attr]
                t = time.perf_counter()
                status, _ = await _exchange(
                    reader, writer, _post(host, task, cookie, f"csrf={csrf}&label=true&action=submit")
                )
                assert status == 303, status
                status, body = await _exchange(reader, writer, _get(host, "/ui/models/loans/task", cookie))
                latencies.append(time.perf_counter() - t)
                assert status == 200, body[-400:]
        finally:
            writer.close()

    await asyncio.gather(*(reviewer(c, x) for c, x in sessions))
    return latencies


def ms(values: list[float], q: float) -> float:
    return 1000 * float(np.percentile(values, q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=100, help="task page reloads per reviewer")
    ap.add_argument("--answers", type=int, default=5, help="tasks answered per reviewer in the working round")
    ap.add_argument("--events", type=int, default=5000)
    args = ap.parse_args()
    print(
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; load {os.getloadavg()[0]:.2f} before",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        db_url = sqlite_url(Path(tmp) / "bench.db")
        proc, url, key = serve(db_url)
        try:
            setup(url, key, db_url, args.events)
            t = time.perf_counter()
            sessions = [sign_in(url, f"r{i}") for i in range(REVIEWERS)]  # each opens its page once: cold
            cold = (time.perf_counter() - t) / REVIEWERS
            print(
                f"sign-in and first (cold) task page, one reviewer after another: {1000 * cold:.0f} ms each"
            )
            lat, elapsed = asyncio.run(reload_loop(url, sessions, args.requests))
            print(
                f"task page, {REVIEWERS} reviewers at once, {len(lat)} views (explanation cached): "
                f"p50 {ms(lat, 50):.1f} ms, p95 {ms(lat, 95):.1f} ms, p99 {ms(lat, 99):.1f} ms, "
                f"max {1000 * max(lat):.0f} ms; {len(lat) / elapsed:.0f} pages/s (target p95 < 100 ms); "
                f"load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
            if args.answers:
                work = asyncio.run(working_loop(url, sessions, args.answers))
                print(
                    f"answer + next task page (explanation computed), {REVIEWERS} at once, "
                    f"{len(work)} times: "
                    f"p50 {ms(work, 50):.0f} ms, p95 {ms(work, 95):.0f} ms, max {1000 * max(work):.0f} ms",
                    flush=True,
                )
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)


if __name__ == "__main__":
    main()
