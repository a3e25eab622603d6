"""The registry's fixtures: a model with a schema, a fitted pipeline (databases and servers: servers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import loopwise as lw
from loopwise.client.base import ModelHandle
from loopwise.registry import RegistrySettings
from loopwise.store import make_engine
from loopwise.store.tables import OutputBatch

SCHEMA = {
    "columns": {
        "id": {"role": "id"},
        "ts": {"role": "timestamp"},
        "income": {"kind": "numeric"},
        "age": {"kind": "numeric"},
        "approved": {"role": "prediction", "kind": "boolean"},
        "p_approved": {"role": "score"},
    }
}


def applicants(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"income": rng.normal(50, 10, n), "age": rng.integers(18, 80, n).astype(float)})
    y = pd.Series(X.income + 0.2 * X.age + rng.normal(0, 5, n) > 58, name="approved")
    return X, y


@pytest.fixture(scope="module")
def train() -> tuple[pd.DataFrame, pd.Series]:
    return applicants(2000, 1)


@pytest.fixture(scope="module")
def pipeline(train: tuple[pd.DataFrame, pd.Series]) -> Pipeline:
    X, y = train
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)


#: Clients a test opened, closed after it (their engines' pooled connections, their HTTP connections).
OPENED: list[Any] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while OPENED:
        transport = OPENED.pop().transport
        if hasattr(transport, "engine"):
            transport.engine.dispose()
        if hasattr(transport, "http"):
            transport.http.close()


def http_client(url: str, key: str, **kw: Any) -> Any:
    client = lw.Client(url, key, **kw)
    OPENED.append(client)
    return client


def open_model(url: str, artifacts: Path, **settings: object) -> ModelHandle:
    client = lw.Client.local(url, registry=RegistrySettings(artifact_dir=artifacts, **settings))  # type: ignore[arg-type]
    OPENED.append(client)
    if "credit" not in client.models():
        client.register("credit", SCHEMA)
    return client.model("credit")


@pytest.fixture
def model(tmp_path: Path) -> ModelHandle:
    return open_model(lw_url(tmp_path), tmp_path / "artifacts")


def lw_url(tmp_path: Path) -> str:
    from loopwise.store import sqlite_url

    return sqlite_url(tmp_path / "lw.db")


def stored_files(directory: Path) -> list[Path]:
    """Every file under the artifact directory (temporary ones included)."""
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


def stored_outputs(url: str, event_ids: Any) -> pd.DataFrame:
    """Every version's stored outputs (the blobs as written), one row per event in ``event_ids``' order."""
    engine = make_engine(url)
    with engine.connect() as conn:
        blobs = [bytes(b) for (b,) in conn.execute(sa.select(OutputBatch.arrow).order_by(OutputBatch.id))]
    engine.dispose()
    table = pa.concat_tables([pa.ipc.open_stream(pa.py_buffer(b)).read_all() for b in blobs])
    return table.to_pandas().set_index("event_id").loc[event_ids]
