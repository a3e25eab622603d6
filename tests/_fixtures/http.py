"""Talking to the test server over real HTTP: the demo's credit model, its traffic as a frame and as JSON
records, and an authenticated client."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pandas as pd
import yaml

import loopwise as lw
from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit
from tests._fixtures.servers import Running

SCHEMA = yaml.safe_load(CREDIT_SCHEMA_YAML)


def traffic(n: int, seed: int, start: str = "2026-11-20T08:00:00Z") -> pd.DataFrame:
    df = make_credit(n, seed=seed)
    df["ts"] = pd.Timestamp(start) + pd.to_timedelta(np.arange(n) * 3, unit="s")
    return df


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = df.drop(columns=["repaid"]).assign(ts=df["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    recs: list[dict[str, Any]] = out.to_dict(orient="records")
    for r in recs:  # JSON has no NaN: missing is null
        for k, v in r.items():
            if isinstance(v, float) and np.isnan(v):
                r[k] = None
    return recs


def client(server: Running, key: str | None = None) -> httpx.Client:
    """An authenticated client (the admin's key by default), closed when the test's server stops."""
    headers = {"Authorization": f"Bearer {key or server.admin_key}"}
    c = httpx.Client(base_url=server.url, headers=headers, timeout=60)
    server.clients.append(c)
    return c


def sdk(server: Running, key: str | None = None) -> lw.Client:
    """``lw.Client`` on the test server (the admin's key by default), closed when the server stops."""
    c = lw.Client(server.url, key or server.admin_key)
    server.clients.append(c)
    return c


def register(c: httpx.Client, name: str = "credit") -> None:
    r = c.post("/v1/models", json={"name": name, "schema": SCHEMA})
    assert r.status_code == 201, r.text
