"""``loopwise users`` and ``loopwise review`` in a fresh process, on a local database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from tests._fixtures import run_cli

import loopwise as lw
from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit
from loopwise.store import sqlite_url


def test_users_and_the_review_queue_from_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "lw.db"
    c = lw.Client.local(db, create=True)
    c.register("credit", yaml.safe_load(CREDIT_SCHEMA_YAML))
    df = make_credit(800, seed=2).drop(columns=["repaid"])
    df["ts"] = pd.Timestamp("2026-11-20T08:00:00Z") + pd.to_timedelta(np.arange(len(df)) * 3, unit="s")
    c.model("credit").log(df)
    c.close()
    url = sqlite_url(db)
    add = subprocess.run(
        [
            sys.executable,
            "-m",
            "loopwise.cli",
            "users",
            "add",
            "ana",
            "--model",
            "credit",
            "--password-stdin",
            "--database-url",
            url,
        ],
        input="a long enough password\n",
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert add.returncode == 0, add.stderr
    assert "user ana (reviewer; models: credit)" in add.stdout
    listed = run_cli("users", "list", "--database-url", url)
    assert listed.stdout.split() == ["ana", "reviewer", "credit"]
    short = subprocess.run(
        [
            sys.executable,
            "-m",
            "loopwise.cli",
            "users",
            "add",
            "ben",
            "--model",
            "credit",
            "--password-stdin",
            "--database-url",
            url,
        ],
        input="short\n",
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert short.returncode == 2 and "at least 10 characters" in short.stderr + short.stdout
    # No terminal and no --password-stdin: one line saying so (the prompt used to abort with exit 1).
    piped = subprocess.run(
        [sys.executable, "-m", "loopwise.cli", "users", "add", "cy", "--database-url", url],
        input="a long enough password\n", capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert piped.returncode == 2 and piped.stderr.strip().splitlines() == [
        "error: parameter '--password-stdin' must be given when the password comes from a pipe or a script"
    ]
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "tasks: 20\nselectors:\n  - {kind: uncertainty, share: 0.7}\n  - {kind: random, share: 0.3}\n"
    )
    assert run_cli("review", "policy", "credit", "--set", str(policy), "--local", str(db)).returncode == 0
    filled = run_cli(
        "review",
        "fill",
        "credit",
        "--start",
        "2026-11-20",
        "--end",
        "2026-11-21",
        "--seed",
        "1",
        "--local",
        str(db),
    )
    assert filled.returncode == 0, filled.stderr
    n = int(filled.stdout.split(": ")[1].split(" ")[0])
    queue = run_cli("review", "queue", "credit", "--local", str(db), "--limit", "500")
    assert f"{n} tasks" in queue.stdout and "uncertainty" in queue.stdout
    stats = run_cli("review", "stats", "credit", "--local", str(db))
    assert f'"open": {n}' in stats.stdout
    bad = run_cli("review", "policy", "other", "--local", str(db))
    assert bad.returncode == 2 and "no model named 'other'" in bad.stderr + bad.stdout


def test_review_stream_fills_the_due_increments(tmp_path: Path) -> None:
    db = tmp_path / "lw.db"
    c = lw.Client.local(db, create=True)
    c.register("credit", yaml.safe_load(CREDIT_SCHEMA_YAML))
    df = make_credit(1500, seed=3).drop(columns=["repaid"])
    df["ts"] = pd.Timestamp("2026-11-20T08:00:00Z") + pd.to_timedelta(np.arange(len(df)) * 3, unit="s")
    c.model("credit").log(df)
    c.model("credit").set_review_policy(
        {
            "tasks": 32,
            "selectors": [{"kind": "random", "share": 1.0}],
            "stream": {"every": 3600, "since": "2026-11-20T08:00:00Z", "seed": 1},
        }
    )
    c.close()
    done = run_cli("review", "stream", "credit", "--until", "2026-11-20T10:00", "--local", str(db))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "2 increments filled"
    # 08:00 and 09:00, 1,200 events each (one every three seconds), the day's 32 tasks paced: 2 an hour.
    assert lines[0].startswith("2026-11-20T08:00:00+00:00 to 2026-11-20T09:00:00+00:00: ")
    assert lines[0].endswith("tasks from 1,200 events (budget 2)") and lines[1].endswith("(budget 2)")
    # The streamed day those increments make, from the same database: the pacing rule computed here
    # (what is left of the day's tasks, in proportion to the increment's part of the day left).
    day = run_cli("review", "day", "credit", "--local", str(db))
    assert day.returncode == 0, day.stderr
    text = day.stdout
    spent, left_of_day = 0.0, 16 * 3600
    for hour in (8, 9):
        budget = (32 - spent) * 3600 / left_of_day
        assert f"{hour:02d}:00:00 to {hour + 1:02d}:00:00" in text and f"{budget:.2f}" in text
        spent, left_of_day = spent + budget, left_of_day - 3600
    assert f"budget {spent:.2f} of 32 tasks spent, {32 - spent:.2f} left" in text
    assert "2026-11-20 (UTC): increments of 3600 s" in text and "2 increments gone through, 0 without" in text
    assert "random " in text  # the local database answers as an admin: which selector chose how many
    # Two more hours without traffic: gone through, not filled, and said so in one line.
    quiet = run_cli("review", "stream", "credit", "--until", "2026-11-20T12:00", "--local", str(db))
    assert quiet.returncode == 0 and quiet.stdout.strip() == "0 increments filled, 2 without events"
