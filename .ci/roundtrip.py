"""A server round trip from an installed loopwise: run by the fresh virtual environment's python, from a
folder outside the source tree (``.ci/wheel_check.py`` copies it there),
so only the installed package is imported.

Starts ``loopwise serve`` on loopback on a free port against a new SQLite file, registers a model with the
SDK, logs predictions and their labels, and reads the metrics back, checking them against pandas on the same
rows. Prints one line per step; exits non-zero on the first failure.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd

import loopwise as lw
from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit

here = Path.cwd()
if not Path(lw.__file__).resolve().is_relative_to(Path(sys.prefix).resolve()):
    sys.exit(f"loopwise was imported from {lw.__file__}, not from the environment at {sys.prefix}")
print(f"loopwise {lw.__version__} from {Path(lw.__file__).parent}")

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
url = f"http://127.0.0.1:{port}"
db = here / "roundtrip.db"
server = subprocess.Popen(
    [
        str(Path(sys.executable).parent / "loopwise"),
        "serve",
        "--port",
        str(port),
        "--database-url",
        f"sqlite:///{db}",
    ],
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    text=True,
)
try:
    key = ""
    assert server.stdout is not None
    for line in server.stdout:  # the first start prints an admin key once
        if line.startswith("lw_"):
            key = line.strip()
            break
    if not key:
        sys.exit(f"loopwise serve printed no admin key (exit code {server.wait(10)})")
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            sys.exit("loopwise serve did not answer /health within 60 s")
        time.sleep(0.2)
    print(f"serve: listening on {url}")

    client = lw.Client(url, key)
    model = client.register("credit", lw.Schema.from_yaml(CREDIT_SCHEMA_YAML))
    data = make_credit(2_000, seed=3)
    data["ts"] = pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta(hours=2)
    logged = model.log(data.drop(columns=["repaid"]))
    assert logged == {"accepted": 2_000, "duplicates": 0}, logged
    fed = model.log_feedback(data["request_id"], data["repaid"])
    assert fed["stored"] == 2_000 and fed["joined"] == 2_000, fed
    print(f"logged 2,000 predictions and their labels: {logged}, {fed}")

    metrics = model.metrics(start=pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=1))
    assert metrics["window"]["n"] == 2_000, metrics["window"]
    accuracy = metrics["performance"]["accuracy"]["value"]
    assert metrics["performance"]["accuracy"]["label_coverage"] == 1.0, metrics["performance"]
    expected = float((data["approved"] == data["repaid"]).mean())
    assert abs(accuracy - expected) < 1e-12, (accuracy, expected)
    print(f"metrics: accuracy {accuracy:.4f}, pandas on the same rows {expected:.4f}")
finally:
    server.terminate()
    code = server.wait(30)
print(f"serve stopped (exit code {code})")
