"""Ingestion over HTTP on loopback into SQLite and PostgreSQL, vs a plain INSERT of the same rows.

Run: python bench/ingest.py [--batches 25] [--clients 4] [--workers 1] [--singles 3000] [--concurrency 32]
[--rate 1000] [--rate-seconds 5] [--db sqlite,postgresql] [--server-src PATH] [--save NAME].
``--server-src``: the server runs the loopwise source at PATH (another checkout's ``src/``, sharing this
one's migrations), for a before/after comparison run by run. The server's CPU seconds (every process of
its tree, from /proc) are reported per phase: the batches, the single events, the paced run.
Prints events/s and batch latency quantiles for batches of 1,000 events x 40 features (Arrow IPC),
single-event JSON requests/s over concurrent keep-alive connections with their latency quantiles (closed
loop: the saturation throughput; after a warm-up that is not counted: one batch per client, four single
events per connection), single-event latency quantiles at a fixed offered rate (open loop, Poisson
arrivals, latency from the moment each request was due), and the
ratio to an executemany INSERT of the same rows into a wide table, all in one run. PostgreSQL: a throwaway
cluster (initdb in a temporary folder), as the tests do.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import io
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from gen import make
from loopwise.server.auth import create_key
from loopwise.store import make_engine, session_factory, sqlite_url, transaction, upgrade

SCHEMA = {
    "columns": {
        "event_id": {"role": "id"},
        "ts": {"role": "timestamp"},
        **{f"num_{i:02d}": {"kind": "numeric"} for i in range(30)},
        **{f"cat_{j}": {"kind": "categorical"} for j in range(10)},
        "prediction": {"role": "prediction", "kind": "boolean"},
        "score": {"role": "score"},
    }
}


def port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def as_pg(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def start_postgres() -> tuple[str, Path, Path]:
    bindir = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="lw-bench-pg-"))
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(root, pg.pw_uid, pg.pw_gid)
    subprocess.run(
        as_pg([str(bindir / "initdb"), "-D", str(root / "d"), "-A", "trust", "-U", "postgres"]),
        check=True,
        capture_output=True,
    )
    p = port()
    subprocess.run(
        as_pg(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(root / "d"),
                "-o",
                f"-p {p} -k {root / 'd'} -c listen_addresses=127.0.0.1",
                "-l",
                str(root / "log"),
                "-w",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    return f"postgresql://postgres@127.0.0.1:{p}/postgres", bindir, root


def batches(n_batches: int, rows: int, start: np.datetime64) -> list[bytes]:
    out = []
    for b in range(n_batches):
        t = make(rows, seed=1000 + b, drift=False)
        ids = pa.array([f"{uuid.uuid4()}" for _ in range(rows)])
        ts = pa.array(
            start + np.arange(b * rows, (b + 1) * rows).astype("timedelta64[ms]"),
            pa.timestamp("ms", tz="UTC"),
        )
        rng = np.random.default_rng(b)
        score = rng.random(rows)
        t = t.append_column("event_id", ids).append_column("ts", ts)
        t = t.append_column("prediction", pa.array(score >= 0.5)).append_column("score", pa.array(score))
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, t.schema) as w:
            w.write_table(t)
        out.append(sink.getvalue())
    return out


def run_server(
    db_url: str, workers: int = 1, src: str | None = None
) -> tuple[subprocess.Popen[bytes], str, str]:
    engine = make_engine(db_url)
    upgrade(engine)
    with transaction(session_factory(engine)) as s:
        key = create_key(s, "admin", name="bench")
    engine.dispose()
    p = port()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "loopwise"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(p),
            "--workers",
            str(workers),
        ],
        env={
            **os.environ,
            "LOOPWISE_DATABASE_URL": db_url,
            **({"PYTHONPATH": src} if src else {}),
        },
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{p}"
    for _ in range(300):
        try:
            httpx.get(url + "/health", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    return proc, url, key


def single_requests(url: str, key: str, n: int, tag: str = "single") -> list[bytes]:
    """``n`` one-event JSON requests, as raw HTTP/1.1 bytes."""
    host = url.removeprefix("http://").split(":")[0]
    requests = []
    for i in range(n):
        rec = {
            "event_id": f"{tag}-{i}-{uuid.uuid4().hex[:8]}",
            "ts": "2026-11-21T03:00:00Z",
            "prediction": True,
            "score": 0.7,
            **{f"num_{k:02d}": float(i % 97) + k for k in range(30)},
            **{f"cat_{j}": "abcde"[(i + j) % 5] for j in range(10)},
        }
        body = json.dumps([rec]).encode()
        head = (
            f"POST /v1/models/bench/predictions HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        requests.append(head + body)
    return requests


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: bytes) -> None:
    writer.write(req)
    status = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    body = await reader.readexactly(length)
    assert b" 200 " in status, (status, body)


async def single_events(url: str, key: str, n: int, concurrency: int) -> dict[str, Any]:
    """``n`` one-event JSON requests over ``concurrency`` keep-alive connections, each sending its next
    request as soon as the last is answered (closed loop: the server's saturation throughput); latencies
    and elapsed time.

    A bare asyncio HTTP/1.1 client (requests built up front): httpx costs about a millisecond of CPU per
    request, which on two cores would measure the load generator more than the server.
    """
    host, port = url.removeprefix("http://").split(":")
    requests = single_requests(url, key, n)
    latencies: list[float] = []
    todo = iter(requests)

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for req in todo:
                t = time.perf_counter()
                await _exchange(reader, writer, req)
                latencies.append(time.perf_counter() - t)
        finally:
            writer.close()

    # Warm-up, not counted: the first requests of a process load the model, its schema and its anchor.
    todo = iter(requests[: concurrency * 4])
    await asyncio.wait_for(asyncio.gather(*(connection() for _ in range(concurrency))), timeout=300)
    latencies.clear()
    todo = iter(requests[concurrency * 4 :])
    t0 = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(connection() for _ in range(concurrency))), timeout=300)
    return {"latencies": latencies, "elapsed": time.perf_counter() - t0}


async def single_events_at_rate(url: str, key: str, rate: float, n: int, concurrency: int) -> dict[str, Any]:
    """``n`` one-event requests arriving at ``rate`` per second (open loop: Poisson arrivals, as from many
    independent callers), sent over up to ``concurrency`` keep-alive connections.

    Each latency runs from the moment the request was due, not from when a connection was free to send it,
    so time spent queued behind a slow answer counts (no "coordinated omission": a closed-loop client that
    waits before sending hides exactly the stalls a p99 is about).
    """
    host, port = url.removeprefix("http://").split(":")
    requests = single_requests(url, key, n, tag=f"rate{rate:g}")
    due = np.cumsum(np.random.default_rng(7).exponential(1.0 / rate, n))
    queue: asyncio.Queue[tuple[bytes, float] | None] = asyncio.Queue()
    latencies: list[float] = []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while (item := await queue.get()) is not None:
                req, t_due = item
                await _exchange(reader, writer, req)
                latencies.append(time.perf_counter() - t_due)
        finally:
            writer.close()

    async def arrivals() -> None:
        t0 = time.perf_counter()
        for req, d in zip(requests, due, strict=True):
            wait = t0 + d - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            queue.put_nowait((req, t0 + d))
        for _ in range(concurrency):
            queue.put_nowait(None)

    t0 = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(arrivals(), *(connection() for _ in range(concurrency))), timeout=300
    )
    return {"latencies": latencies, "elapsed": time.perf_counter() - t0}


def server_cpu(sid: int) -> float:
    """CPU seconds (user + system) of every live process of the server's session (its tree)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # the session id (field 6, the fourth after the name)
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def measure(
    db_url: str,
    all_bodies: list[bytes],
    clients: int,
    rows: int,
    workers: int = 1,
    singles: int = 3000,
    concurrency: int = 32,
    rate: float = 1000.0,
    rate_seconds: float = 5.0,
    src: str | None = None,
) -> dict[str, float]:
    proc, url, key = run_server(db_url, workers, src)
    h = {"Authorization": f"Bearer {key}"}
    try:
        httpx.post(url + "/v1/models", json={"name": "bench", "schema": SCHEMA}, headers=h, timeout=60)
        warm, bodies = all_bodies[:clients], all_bodies[clients:]  # one batch per client first, not counted
        latencies: list[float] = []
        lock = threading.Lock()

        arrow = {**h, "Content-Type": "application/vnd.apache.arrow.stream"}

        def client(i: int) -> None:
            with httpx.Client(base_url=url, headers=arrow, timeout=120) as c:
                for body in bodies[i::clients]:
                    t = time.perf_counter()
                    r = c.post("/v1/models/bench/predictions", content=body)
                    assert r.status_code == 200, r.text
                    with lock:
                        latencies.append(time.perf_counter() - t)

        for body in warm:
            r = httpx.post(url + "/v1/models/bench/predictions", content=body, timeout=120, headers=arrow)
            assert r.status_code == 200, r.text
        cpu0 = server_cpu(proc.pid)
        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        cpu1 = server_cpu(proc.pid)
        single = asyncio.run(single_events(url, key, singles, concurrency))
        cpu2 = server_cpu(proc.pid)
        time.sleep(2.0)  # the compactor folds what the closed loop left, as it would between bursts
        cpu3 = server_cpu(proc.pid)
        paced = asyncio.run(single_events_at_rate(url, key, rate, int(rate * rate_seconds), concurrency))
        cpu4 = server_cpu(proc.pid)
        with httpx.Client(base_url=url, headers=h, timeout=60) as c:
            t = time.perf_counter()
            m = c.get("/v1/models/bench/metrics")  # no reference yet: the window alone, as before
            metrics_s = time.perf_counter() - t
            assert m.status_code == 200, m.text
        lat = np.array(latencies)
        single_lat = np.array(single["latencies"])
        paced_lat = np.array(paced["latencies"])
        return {
            "events_per_s": len(bodies) * rows / elapsed,
            "batch_p50_ms": float(np.quantile(lat, 0.5) * 1e3),
            "batch_p99_ms": float(np.quantile(lat, 0.99) * 1e3),
            "single_per_s": len(single_lat) / single["elapsed"],
            "single_p50_ms": float(np.quantile(single_lat, 0.5) * 1e3),
            "single_p99_ms": float(np.quantile(single_lat, 0.99) * 1e3),
            "paced_per_s": len(paced_lat) / paced["elapsed"],
            "paced_p50_ms": float(np.quantile(paced_lat, 0.5) * 1e3),
            "paced_p99_ms": float(np.quantile(paced_lat, 0.99) * 1e3),
            "paced_max_ms": float(paced_lat.max() * 1e3),
            "metrics_query_ms": metrics_s * 1e3,
            "batches_server_cpu_s": cpu1 - cpu0,
            "singles_server_cpu_s": cpu2 - cpu1,
            "paced_server_cpu_s": cpu4 - cpu3,
            "load": os.getloadavg()[0],
        }
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            print("the server did not stop within 60 s of SIGTERM; killed", file=sys.stderr)


def plain_insert(db_url: str, bodies: list[bytes]) -> float:
    """events/s of executemany INSERTs of the same rows (same ids, times and values, as many batches) into
    a wide table keyed by the event id, a transaction per batch."""
    engine = make_engine(db_url)
    meta = sa.MetaData()
    cols = [
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("ts", sa.DateTime(timezone=True)),
    ]
    cols += [sa.Column(f"num_{i:02d}", sa.Float) for i in range(30)] + [
        sa.Column(f"cat_{j}", sa.String(32)) for j in range(10)
    ]
    cols += [sa.Column("prediction", sa.Boolean), sa.Column("score", sa.Float)]
    table = sa.Table("plain_events", meta, *cols)
    meta.drop_all(engine)
    meta.create_all(engine)
    data = []
    for body in bodies:
        recs = pa.ipc.open_stream(body).read_all().to_pylist()
        for r in recs:
            for k, v in r.items():
                if isinstance(v, float) and v != v:
                    r[k] = None
        data.append(recs)
    t0 = time.perf_counter()
    for recs in data:
        with engine.begin() as conn:
            conn.execute(table.insert(), recs)
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return sum(len(r) for r in data) / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batches", type=int, default=25, help="batches per client")
    ap.add_argument("--clients", type=int, default=4, help="concurrent clients sending batches")
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=1, help="server worker processes")
    ap.add_argument("--singles", type=int, default=3000, help="single-event requests")
    ap.add_argument("--concurrency", type=int, default=32, help="connections sending single events")
    ap.add_argument("--rate", type=float, default=1000.0, help="single events/s offered in the paced run")
    ap.add_argument("--rate-seconds", type=float, default=5.0, help="length of the paced run")
    ap.add_argument("--db", default="sqlite,postgresql", help="the databases to run on")
    ap.add_argument("--server-src", help="the loopwise source the server runs (another checkout's src/)")
    ap.add_argument("--save", help="write bench/results/NAME.json")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lw-bench-"))
    dbs = a.db.split(",")
    pg_url, bindir, root = start_postgres() if "postgresql" in dbs else ("", Path(), Path())
    try:
        results = {}
        start = np.datetime64("2026-11-21T00:00:00", "ms")
        for name in dbs:
            if name == "postgresql":
                import psycopg

                with psycopg.connect(pg_url, autocommit=True) as conn:
                    conn.execute("CREATE DATABASE bench")
                    conn.execute("CREATE DATABASE plain")
                url = pg_url.rsplit("/", 1)[0] + "/bench"
                plain_url = pg_url.rsplit("/", 1)[0] + "/plain"
            else:
                url = sqlite_url(tmp / "bench.db")
                plain_url = sqlite_url(tmp / "plain.db")
            bodies = batches(a.batches * a.clients + a.clients, a.rows, start)
            r = measure(
                url,
                bodies,
                a.clients,
                a.rows,
                a.workers,
                a.singles,
                a.concurrency,
                a.rate,
                a.rate_seconds,
                a.server_src,
            )
            r["plain_insert_events_per_s"] = plain_insert(plain_url, bodies)
            results[name] = r
            print(
                f"{name}: {r['events_per_s']:,.0f} events/s in batches of {a.rows} x 40 features "
                f"({a.clients} clients; p50 {r['batch_p50_ms']:.0f} ms, "
                f"p99 {r['batch_p99_ms']:.0f} ms per batch; server CPU {r['batches_server_cpu_s']:.2f} s); "
                f"single events {r['single_per_s']:,.0f} req/s over {a.concurrency} connections "
                f"(p50 {r['single_p50_ms']:.1f} ms, p99 {r['single_p99_ms']:.1f} ms; "
                f"server CPU {r['singles_server_cpu_s']:.2f} s); "
                f"paced at {a.rate:,.0f} req/s offered: {r['paced_per_s']:,.0f} req/s done "
                f"(p50 {r['paced_p50_ms']:.1f} ms, p99 {r['paced_p99_ms']:.1f} ms, "
                f"max {r['paced_max_ms']:.0f} ms; server CPU {r['paced_server_cpu_s']:.2f} s); "
                f"plain INSERT of the same rows {r['plain_insert_events_per_s']:,.0f} events/s "
                f"-> loopwise at {r['events_per_s'] / r['plain_insert_events_per_s']:.2f}x; "
                f"metrics query {r['metrics_query_ms']:.0f} ms; load {r['load']:.1f}",
                flush=True,
            )
        if a.save:
            path = Path(__file__).parent / "results" / f"{a.save}.json"
            path.write_text(json.dumps({"args": vars(a), "results": results}, indent=1) + "\n")
    finally:
        if "postgresql" in dbs:
            subprocess.run(
                as_pg([str(bindir / "pg_ctl"), "-D", str(root / "d"), "-m", "immediate", "stop"]),
                capture_output=True,
                check=False,
            )
            shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
