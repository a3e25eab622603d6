"""profile_groups against the profile of each group's rows made alone with Profile.update."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import loopwise as lw
from loopwise.profiles import CategoricalProfile, DatetimeProfile, NumericProfile, Profile, TextProfile
from loopwise.profiles.grouped import profile_groups
from loopwise.profiles.histogram import quantile_edges
from loopwise.profiles.task import ClassificationProfile

SCHEMA = lw.Schema.from_dict(
    {
        "columns": {
            "id": {"role": "id"},
            "x": {"kind": "numeric"},
            "steps": {"kind": "numeric"},
            "wide": {"kind": "numeric"},
            "colour": {"kind": "categorical"},
            "size": {"kind": "categorical"},
            "flag": {"kind": "boolean"},
            "note": {"kind": "text"},
            "seen": {"kind": "datetime"},
            "region": {"role": "segment", "kind": "categorical"},
            "score": {"role": "score"},
            "pred": {"role": "prediction", "kind": "boolean"},
            "label": {"role": "target", "kind": "boolean"},
        }
    }
)


def frame(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    x[rng.random(n) < 0.05] = np.nan
    x[rng.random(n) < 0.01] = np.inf
    x[rng.random(n) < 0.01] = -np.inf
    x[rng.random(n) < 0.01] = -0.0
    score = rng.random(n)
    label = pd.array(rng.random(n) < score, dtype="boolean")
    label[rng.random(n) < 0.5] = pd.NA  # half the labels not known yet
    df = pd.DataFrame(
        {
            "id": [f"e{i}" for i in range(n)],
            "x": x,
            "steps": rng.integers(0, 6, n).astype(float),  # few distinct values: exact atoms
            "wide": rng.exponential(1.0, n),  # more distinct values than the cap: no atoms
            "colour": pd.array(rng.choice(["red", "green", "blue", None], n), dtype="string"),
            "size": rng.integers(1, 4, n),  # integer categories: canonical keys
            "flag": pd.array(rng.choice([True, False, None], n), dtype="boolean"),
            "note": rng.choice(["", "ok", "late payment", None], n),
            "seen": pd.Timestamp("2026-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s"),
            "region": rng.choice(["north", "south", "east", None], n),
            "score": score,
            "pred": score >= 0.5,
            "label": label,
        }
    )
    return pa.Table.from_pandas(df, preserve_index=False)


def anchors_of(table: pa.Table, names: Any = ("x", "steps", "wide", "score")) -> dict[str, np.ndarray]:
    out = {}
    for name in names:
        v = table.column(name).to_numpy(zero_copy_only=False).astype(float)
        out[name] = quantile_edges(np.sort(v[np.isfinite(v)]), 100)
    return out


def same(a: Any, b: Any, where: str) -> None:
    """Equal states: numbers to rounding (moments), everything else exactly."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), where
        for k in a:
            same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and not math.isnan(a):
        assert b == pytest.approx(a, rel=1e-12, abs=1e-12), where
    else:
        assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)), where


def kll_state(kll: Any) -> Any:
    """A KLL sketch's values, each at its rank, while it holds every value (a sketch made from a profile's
    atoms holds 0.0 where one updated with the rows held -0.0: equal numbers); past k its compaction is
    random (same n and range)."""
    if not kll.is_estimation_mode():
        return [float(v) for v in kll.get_quantiles((np.arange(kll.n) + 0.5) / kll.n)] if kll.n else []
    return (kll.n, kll.get_min_value(), kll.get_max_value())


def numeric_blobs(meta: dict[str, Any], blobs: list[bytes], kll: Any) -> list[Any]:
    """A numeric profile's blobs with its sketch as ``kll_state``: format 4 stores none while the sketch is
    its atoms' (``meta["kll"]``), and either way the sketch compares by ``kll_state``."""
    return [kll_state(kll), *(blobs if meta.get("kll") == "atoms" else blobs[1:])]


def state(p: Profile) -> dict[str, Any]:
    cols = {name: col.to_state() for name, col in p.columns.items()}
    # Counts of categories in any order; the HLL sketches by their estimate (same keys, same registers).
    task = p.task
    if isinstance(task, ClassificationProfile) and task.count_width is not None:
        # Stored in the width its maker knew (a cell's counts are at most its rows): read back, the state of
        # its rows' own profile, whose counts are int64.
        assert task.to_state()[0]["widths"].get("conf_all", task.count_width) == task.count_width
        task = ClassificationProfile.from_state(*task.to_state())
    out: dict[str, Any] = {"n": p.n, "columns": {}, "task": task.to_state() if task else None}
    for name, (meta, blobs) in cols.items():
        out["columns"][name] = {"meta": meta, "blobs": blobs}
        col = p.columns[name]
        if isinstance(col, NumericProfile):
            out["columns"][name]["blobs"] = numeric_blobs(meta, blobs, col.kll)
        elif isinstance(col, DatetimeProfile):
            out["columns"][name]["blobs"] = numeric_blobs(meta["seconds"], blobs, col.seconds.kll)
        elif isinstance(col, TextProfile):
            lengths = numeric_blobs(meta["lengths"], blobs[1:], col.lengths.kll)
            out["columns"][name]["blobs"] = [blobs[0], *lengths]
        elif isinstance(col, CategoricalProfile):  # the counts in any order
            out["columns"][name]["blobs"] = [json.loads(blobs[1])] if col.counts is not None else blobs[1:]
        if hasattr(col, "hll"):
            out["columns"][name]["distinct"] = float(col.hll.get_estimate())
    out["segments"] = {
        seg: {key: state(sub) for key, sub in subs.items()} for seg, subs in p.segments.items()
    }
    out["segment_order"] = {seg: list(subs) for seg, subs in p.segments.items()}
    return out


@pytest.mark.parametrize("n_groups", [1, 7, 40])
def test_each_group_as_if_profiled_alone(n_groups: int) -> None:
    table = frame(3000, seed=n_groups)
    anchors = anchors_of(frame(2000, seed=99))
    groups = np.random.default_rng(5).integers(0, n_groups, table.num_rows)
    groups[groups == n_groups - 1] = 0 if n_groups > 1 else groups[groups == n_groups - 1]  # one may be empty
    got = profile_groups(SCHEMA, table, groups, n_groups, anchors=anchors, segments=["region"])
    for g in range(n_groups):
        alone = Profile.empty(SCHEMA, anchors=anchors, segments=["region"])
        rows = np.flatnonzero(groups == g)
        if rows.size:
            alone.update(table.take(pa.array(rows)))
        same(state(alone), state(got[g]), f"group {g}")
        # And as stored: the bytes read back to the same profile.
        again = Profile.from_bytes(got[g].to_bytes())
        same(state(alone), state(again), f"group {g} read back")


def test_without_anchor_edges_groups_are_profiled_one_by_one() -> None:
    table = frame(500, seed=3)
    groups = np.arange(table.num_rows) % 3
    got = profile_groups(SCHEMA, table, groups, 3, anchors={}, segments=["region"])
    for g in range(3):
        alone = Profile.empty(SCHEMA, segments=["region"])
        alone.update(table.take(pa.array(np.flatnonzero(groups == g))))
        same(state(alone), state(got[g]), f"group {g}")


def test_a_missing_column_is_named() -> None:
    table = frame(50, seed=4).drop_columns(["flag"])
    with pytest.raises(lw.DataError, match="flag"):
        profile_groups(SCHEMA, table, np.zeros(50, dtype=np.int64), 1, anchors={})


def _task_frame(variant: str, n: int, seed: int) -> tuple[lw.Schema, pa.Table]:
    """A task of each shape ``profiles.grouped_tasks`` tells apart, with some labels missing."""
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    region = rng.choice(["north", "south", None], n)
    known = (rng.random(n) < 0.6) & (region != "south")  # the south's rows not labelled yet: no such arrays
    if variant.endswith(", no labels"):  # predictions before any label (a backfill): every cell at once
        variant, known = variant.removesuffix(", no labels"), np.zeros(n, dtype=bool)
    columns: dict[str, Any] = {"region": {"role": "segment", "kind": "categorical"}}
    data: dict[str, Any] = {"region": region}
    if variant == "zero-one":  # integer classes with one score column: the binary path, positive class "1"
        columns |= {"s": {"role": "score"}, "y_hat": {"role": "prediction"}, "y": {"role": "target"}}
        y = (rng.random(n) < p).astype(int)
        data |= {"s": p, "y_hat": (p >= 0.5).astype(int), "y": pd.array(np.where(known, y, 0), "Int64")}
        data["y"][~known] = pd.NA
    elif variant == "named-score":  # the score names its class: the binary path, positive class "false"
        columns |= {
            "s": {"role": "score", "label": "false"},
            "y_hat": {"role": "prediction", "kind": "boolean"},
            "y": {"role": "target", "kind": "boolean"},
        }
        data |= {
            "s": p,
            "y_hat": p < 0.5,
            "y": pd.array(np.where(known, rng.random(n) >= p, False), "boolean"),
        }
        data["y"][~known] = pd.NA
    elif variant == "three-classes":  # a score per class: each cell decides alone
        probs = rng.dirichlet([1, 1, 1], n)
        columns |= {f"p_{c}": {"role": "score", "label": c} for c in "abc"}
        columns |= {"y_hat": {"role": "prediction"}, "y": {"role": "target"}}
        data |= {f"p_{c}": probs[:, i] for i, c in enumerate("abc")}
        data |= {
            "y_hat": np.array(list("abc"))[probs.argmax(axis=1)],
            "y": np.where(known, rng.choice(["a", "b", "c"], n), None),
        }
    elif variant == "unscored":
        columns |= {
            "y_hat": {"role": "prediction", "kind": "categorical"},
            "y": {"role": "target", "kind": "categorical"},
        }
        data |= {"y_hat": rng.choice(["a", "b"], n), "y": np.where(known, rng.choice(["a", "b"], n), None)}
    else:  # a regressor
        columns |= {
            "y_hat": {"role": "prediction", "kind": "numeric"},
            "y": {"role": "target", "kind": "numeric"},
        }
        data |= {"y_hat": p * 10, "y": np.where(known, p * 10 + rng.normal(0, 1, n), np.nan)}
    schema = lw.Schema.from_dict({"columns": columns})
    return schema, pa.Table.from_pandas(pd.DataFrame(data), preserve_index=False)


@pytest.mark.parametrize(
    "variant",
    [
        "zero-one",
        "named-score",
        "zero-one, no labels",
        "named-score, no labels",
        "three-classes",
        "unscored",
        "regressor",
    ],
)
def test_each_kind_of_task_per_group_as_if_profiled_alone(
    variant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every task of each group and segment equals its rows' own ``update``: arrays to the bit, the float sums
    to rounding (the binary path shares per-row terms across cells; the others decide cell by cell)."""
    from loopwise.profiles import grouped_tasks

    monkeypatch.setattr(grouped_tasks, "_BLOCK", 2 * 256 * 7)  # cells in blocks of seven: the last one short
    schema, table = _task_frame(variant, 2_000, seed=11)
    n_groups = 30
    groups = np.random.default_rng(1).integers(0, n_groups, table.num_rows)
    anchors = anchors_of(table, [c.name for c in schema if c.kind is lw.Kind.NUMERIC])
    got = profile_groups(schema, table, groups, n_groups, anchors=anchors, segments=["region"])
    for g in range(n_groups):
        alone = Profile.empty(schema, anchors=anchors, segments=["region"])
        alone.update(table.take(pa.array(np.flatnonzero(groups == g))))
        same(state(alone), state(got[g]), f"{variant}, group {g}")
    if "no labels" in variant and isinstance(got[0].task, ClassificationProfile):
        # About 67 rows a group: every count in a byte, known without looking at the counts.
        assert {p.task.count_width for p in got} == {1}  # type: ignore[union-attr]


def test_a_count_width_known_by_its_maker_is_dropped_once_counts_are_added() -> None:
    """A cell's task stored in the width of its rows (a byte for 20 rows); updated in place with 600 more
    rows, or merged, its counts pass a byte: stored in int64 again, they read back as the rows' own counts."""
    schema, table = _task_frame("zero-one, no labels", 620, seed=3)
    score = table.column("s").to_numpy().copy()
    score[20:] = 0.97  # 600 rows in one bin of each array
    table = table.set_column(table.column_names.index("s"), "s", pa.array(score))
    table = table.set_column(
        table.column_names.index("y_hat"), "y_hat", pa.array((score >= 0.5).astype(np.int64))
    )
    groups = np.zeros(table.num_rows, dtype=np.int64)
    groups[20:] = 1
    got = profile_groups(schema, table, groups, 2, anchors=anchors_of(table, ["s"]))
    task = got[0].task
    assert isinstance(task, ClassificationProfile) and task.count_width == 1
    merged = got[0].merge(got[1])
    assert isinstance(merged.task, ClassificationProfile) and merged.task.count_width is None
    rest = table.slice(20)
    scores = {label: rest.column(name) for name, label in schema.score_classes().items()}
    task.update(rest.column("y"), rest.column("y_hat"), scores)
    assert task.count_width is None
    alone = Profile.empty(schema, anchors=anchors_of(table, ["s"]))
    alone.update(table)
    for back in (ClassificationProfile.from_state(*task.to_state()), merged.task):
        assert isinstance(alone.task, ClassificationProfile)
        for name in ("conf_all", "est_all"):
            want = getattr(alone.task, name)
            assert set(getattr(back, name)) == set(want)
            assert max(int(counts.max()) for counts in want.values()) > 255
            for key, counts in want.items():
                np.testing.assert_array_equal(getattr(back, name)[key], counts)
