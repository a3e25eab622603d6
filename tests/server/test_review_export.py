"""``GET /v1/models/{model}/review/export`` over real HTTP (SQLite and PostgreSQL): the Parquet's rows are
the stored tasks and labels, read back from the database's own tables; only maintainers and admins may
export (it names reviewers and holds gold answers); the SDK method and ``loopwise review export``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select
from tests._fixtures import Running
from tests._fixtures.http import client, records, register, sdk, traffic

from loopwise.errors import ForbiddenError
from loopwise.store import make_engine, session_factory
from loopwise.store.tables import ReviewFill, ReviewLabel, ReviewTask

POLICY: dict[str, Any] = {
    "tasks": 15,
    "selectors": [{"kind": "uncertainty", "share": 0.5}, {"kind": "random", "share": 0.5}],
    "overlap": {"share": 0.4, "k": 2},
}


JSON_COLUMNS = ("label", "gold_label", "resolved_label")


def _stored(db_url: str) -> pd.DataFrame:
    """The tasks and labels as the database holds them, joined here (one row per task and reviewer)."""
    engine = make_engine(db_url)
    rows = []
    with session_factory(engine)() as s:
        fills = {f.id: f for f in s.scalars(select(ReviewFill))}
        for t in s.scalars(select(ReviewTask)):
            labels = list(s.scalars(select(ReviewLabel).where(ReviewLabel.task_id == t.id)))
            for x in labels or [None]:
                f = fills.get(t.fill_id) if t.fill_id is not None else None
                rows.append(
                    {
                        "task_id": t.id,
                        "event_id": t.event_id,
                        "fill_start": pd.Timestamp(f.start).tz_localize(None) if f else None,
                        "selector": t.selector,
                        "inclusion_probability": t.inclusion_probability,
                        "state": t.state,
                        "gold_label": None if t.gold_label is None else t.gold_label["label"],
                        "resolved_label": None if t.label is None else t.label["label"],
                        "reviewer": x.reviewer if x else None,
                        "label_state": x.state if x else None,
                        "label": None if x is None or x.label is None else x.label["label"],
                        "comment": x.comment if x else None,
                    }
                )
    engine.dispose()
    return pd.DataFrame(rows)


def test_the_export_holds_the_stored_tasks_and_labels(server: Running, tmp_path: Path) -> None:
    admin = client(server)
    register(admin, "credit")
    assert admin.post("/v1/models/credit/predictions", json=records(traffic(500, seed=8))).status_code == 200
    assert admin.put("/v1/models/credit/review/policy", json=POLICY).status_code == 200
    window = {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z", "seed": 4}
    assert admin.post("/v1/models/credit/review/fill", json=window).status_code == 200
    first = admin.get("/v1/models/credit/review/tasks").json()["tasks"][-1]["event_id"]
    assert admin.post("/v1/models/credit/review/gold", json={"items": [{"event_id": first, "label": True}]})
    a, b = (sdk(server, server.key("reviewer")).model("credit") for _ in range(2))
    for i in range(6):
        for who, label in ((a, i % 2 == 0), (b, True)):
            task = who.next_review()
            if task is None:
                continue
            if i == 5 and who is b:
                who.skip_review(task["task_id"])
            else:
                who.submit_review(task["task_id"], label, comment=f'<b>"{i}"</b>' if i == 1 else None)

    maintainer = sdk(server, server.key("maintainer")).model("credit")
    got = maintainer.review_export(tmp_path / "review.parquet")
    assert (tmp_path / "review.parquet").is_file()
    stored = _stored(server.db_url)
    assert len(got) == len(stored) and len(stored) >= 15
    assert {"submitted", "skipped"} <= set(stored["label_state"].dropna())
    assert got["gold"].sum() >= 1 and (stored["gold_label"].notna()).sum() >= 1

    def key(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.sort_values(["task_id", "reviewer"], na_position="first").reset_index(drop=True)

    exported = got.assign(
        fill_start=got["fill_start"].dt.tz_localize(None),
        **{c: got[c].map(lambda v: json.loads(v) if isinstance(v, str) else None) for c in JSON_COLUMNS},
    )
    cols = list(stored.columns)
    pd.testing.assert_frame_equal(key(exported[cols]), key(stored), check_dtype=False)
    # Every task once, with its inclusion probability, as the maintainer's listing has them.
    listed = {t["task_id"]: t["inclusion_probability"] for t in maintainer.review_tasks(limit=1000)}
    per_task = got.drop_duplicates("task_id").set_index("task_id")["inclusion_probability"]
    assert set(per_task.index) == set(listed)
    assert all(pd.isna(per_task[t]) if listed[t] is None else per_task[t] == listed[t] for t in listed)

    for role in ("viewer", "reviewer", "ingest"):
        with pytest.raises(ForbiddenError):
            sdk(server, server.key(role)).model("credit").review_export()
    raw = admin.get("/v1/models/credit/review/export")
    assert raw.status_code == 200 and raw.headers["content-type"] == "application/x-parquet"
    assert 'filename="credit-review.parquet"' in raw.headers["content-disposition"]

    out = tmp_path / "cli.parquet"
    env = {**os.environ, "PYTHONPATH": "src"}
    args = ["review", "export", "credit", "-o", str(out), "--url", server.url]
    args += ["--api-key", server.key("maintainer")]
    done = subprocess.run(
        [sys.executable, "-m", "loopwise.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert f"{len(stored)} rows" in done.stdout
    pd.testing.assert_frame_equal(pd.read_parquet(out), got)
