"""What ``loopwise review`` says to a new user (decision 0047): a model without a policy names the command
that sets one, ``review stream`` on a policy without ``stream`` says what is missing (it said "got
'credit'"), and a queue listing cut at ``--limit`` says so (it printed "50 task(s)" of 58)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from tests._fixtures import run_cli

import loopwise as lw
from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit


def test_what_the_review_commands_say(tmp_path: Path) -> None:
    db = tmp_path / "lw.db"
    c = lw.Client.local(db, create=True)
    c.register("credit", yaml.safe_load(CREDIT_SCHEMA_YAML))
    df = make_credit(800, seed=2).drop(columns=["repaid"])
    df["ts"] = pd.Timestamp("2026-11-20T08:00:00Z") + pd.to_timedelta(np.arange(len(df)) * 3, unit="s")
    c.model("credit").log(df)
    where = ("--local", str(db))

    r = run_cli("review", "policy", "credit", *where)
    assert r.returncode == 2 and r.stderr.splitlines() == [
        "error: model 'credit' has no review policy yet: set one with `loopwise review policy credit --set "
        "FILE`, set_review_policy() or PUT .../review/policy"
    ]
    r = run_cli("review", "stream", "credit", *where)
    assert r.returncode == 2 and r.stderr.startswith("error: parameter 'policy' must be a review policy ")
    assert "has no review policy yet: set one with `loopwise review policy credit" in r.stderr

    c.model("credit").set_review_policy(
        {"tasks": 40, "selectors": [{"kind": "uncertainty", "share": 0.5}, {"kind": "random", "share": 0.5}]}
    )
    r = run_cli("review", "stream", "credit", *where)
    assert r.returncode == 2 and r.stderr.splitlines() == [
        "error: parameter 'policy.stream' must be set ({every, delay}) to fill as events arrive (a policy "
        "without it is filled a window at a time: review fill)"
    ]
    filled = c.model("credit").fill_review("2026-11-20", "2026-11-21", seed=1)
    n = filled["tasks"]
    assert n > 5
    r = run_cli("review", "queue", "credit", "--limit", "5", *where)
    assert r.returncode == 0 and "5 tasks (the first 5: --limit N shows more)" in r.stdout
    r = run_cli("review", "queue", "credit", "--limit", str(n + 1), *where)
    assert r.returncode == 0 and f"{n} tasks" in r.stdout and "--limit N" not in r.stdout
    c.close()
