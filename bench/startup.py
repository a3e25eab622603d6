"""A server's start-up: the CPU seconds of ``import loopwise.server.app`` in a fresh interpreter, and of
``loopwise serve`` (a new SQLite database: migrations, the first admin key) until its first healthy
``/health`` answer, with the wall time beside it. CPU time, not wall time: the machine is shared.

Two source trees alternate run by run (``--tree NAME=PATH``, each a ``src`` folder put first on PYTHONPATH),
so that a change of the machine's load falls on both alike. Usage::

    python bench/startup.py --tree before=/tmp/before/src --tree after=src --runs 5 --out results.json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

IMPORT = (
    "import resource, time; w = time.perf_counter(); import loopwise.server.app; "
    "import sys; r = resource.getrusage(resource.RUSAGE_SELF); "
    "heavy = [m for m in ('pandas', 'scipy', 'sklearn', 'plotly', 'skops', 'onnxruntime', 'httpx') "
    "if m in sys.modules]; "
    "print(r.ru_utime + r.ru_stime, time.perf_counter() - w, ','.join(heavy) or '-')"
)


def _env(src: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPWISE_")}
    env["PYTHONPATH"] = str(Path(src).resolve())
    return env


def import_cpu(src: str) -> tuple[float, float, str]:
    out = subprocess.run(
        [sys.executable, "-c", IMPORT], env=_env(src), capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), float(out[1]), out[2]


def _cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and of every process under it (``loopwise serve`` starts its
    workers and the compactor as processes of their own), from /proc/PID/stat."""
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile
    tree, todo = set(), [pid]
    while todo:
        p = todo.pop()
        tree.add(p)
        todo += [q for q, f in stats.items() if int(f[1]) == p and q not in tree]
    ticks = sum(int(stats[p][i]) for p in tree if p in stats for i in (11, 12, 13, 14))
    return ticks / os.sysconf("SC_CLK_TCK")


def serve_cpu(src: str, timeout: float = 120.0) -> tuple[float, float]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**_env(src), "LOOPWISE_DATABASE_URL": f"sqlite:///{tmp}/lw.db"}
        began = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "loopwise.cli", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while time.perf_counter() - began < timeout:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                        if r.status == 200:
                            return _cpu(proc.pid), time.perf_counter() - began
                except OSError:
                    time.sleep(0.05)
            raise TimeoutError(f"no healthy answer in {timeout} s")
        finally:
            proc.terminate()
            proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", action="append", required=True, help="NAME=PATH of a src folder")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    trees = dict(t.split("=", 1) for t in args.tree)
    rows = []
    for run in range(args.runs):
        for name, src in trees.items():
            cpu, wall, heavy = import_cpu(src)
            s_cpu, s_wall = serve_cpu(src)
            row = {"run": run, "tree": name, "import_cpu": cpu, "import_wall": wall, "heavy": heavy,
                   "serve_cpu": s_cpu, "serve_wall": s_wall, "load": os.getloadavg()[0]}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
    for name in trees:
        mine = [r for r in rows if r["tree"] == name]
        med = {
            k: sorted(r[k] for r in mine)[len(mine) // 2] for k in ("import_cpu", "serve_cpu", "serve_wall")
        }
        print(f"{name}: median import CPU {med['import_cpu']:.2f} s, serve to healthy CPU "
              f"{med['serve_cpu']:.2f} s (wall {med['serve_wall']:.2f} s)")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
