"""The batch-level writer (profiles.grouped_write, decision 0054) against the profile's own writer
(serialize.dumps over the profile's objects): the same bytes, over many random batches."""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import loopwise as lw
from loopwise.profiles import Profile
from loopwise.profiles.grouped import profile_groups
from loopwise.profiles.grouped_write import Pending, write
from loopwise.profiles.histogram import quantile_edges
from loopwise.profiles.serialize import dumps

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
            "seen": {"kind": "datetime"},
            "region": {"role": "segment", "kind": "categorical"},
            "score": {"role": "score"},
            "pred": {"role": "prediction", "kind": "boolean"},
            "label": {"role": "target", "kind": "boolean"},
        }
    }
)


def frame(n: int, rng: np.random.Generator, *, labels: bool, text: bool = False) -> pa.Table:
    """Rows with what a batch may hold: missing values, NaN, infinities, -0.0, few and many distinct
    values, columns with no value at all in some groups, labels known or not."""
    x = rng.normal(0, 1, n) * 10.0 ** rng.integers(-8, 9)
    for share, value in ((0.05, np.nan), (0.01, np.inf), (0.01, -np.inf), (0.02, -0.0)):
        x[rng.random(n) < share * rng.integers(0, 3)] = value
    score = rng.random(n)
    label = pd.array(rng.random(n) < score, dtype="boolean")
    label[rng.random(n) < (0.5 if labels else 2.0)] = pd.NA
    colours = ["red", "green", "blue", 'é"x', None][: rng.integers(1, 6)]
    df = pd.DataFrame(
        {
            "id": [f"e{i}" for i in range(n)],
            "x": x,
            "steps": rng.integers(0, rng.integers(1, 400), n).astype(float),
            "wide": rng.exponential(1.0, n),
            "colour": pd.array(rng.choice(np.array(colours, dtype=object), n), dtype="string"),
            "size": rng.integers(1, rng.integers(2, 30), n),
            "flag": pd.array(rng.choice([True, False, None], n), dtype="boolean"),
            "seen": pd.Timestamp("2026-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s"),
            "region": rng.choice(np.array(["north", "south", "east", None], dtype=object), n),
            "score": score,
            "pred": score >= 0.5,
            "label": label,
        }
    )
    if text:
        df["note"] = rng.choice(np.array(["", "ok", "late payment", None], dtype=object), n)
    return pa.Table.from_pandas(df, preserve_index=False)


def anchors(rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = {}
    for name in ("x", "steps", "wide", "score"):
        v = np.sort(rng.normal(0, 1, 500) if name == "x" else rng.exponential(1.0, 500))
        out[name] = quantile_edges(v, int(rng.choice([10, 100, 1000])))
    return out


def both(p: Profile) -> tuple[bytes, dict[str, np.ndarray], bytes, dict[str, np.ndarray]]:
    """The batch writer's bytes (first: nothing read yet), then the objects' (``dumps`` reads them)."""
    assert isinstance(p, Pending) and p.unread()
    ours: dict[str, np.ndarray] = {}
    fast = p.to_bytes(edges_out=ours)
    theirs: dict[str, np.ndarray] = {}
    slow = dumps(p, edges_out=theirs)
    assert not p.unread()  # dumps made the objects
    return fast, ours, slow, theirs


@pytest.mark.parametrize("seed", range(40))
def test_a_batch_writes_what_its_profiles_write(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    n_groups = int(rng.integers(1, 60))
    table = frame(n, rng, labels=bool(rng.integers(0, 2)), text=seed % 8 == 0)
    schema = SCHEMA
    if seed % 8 == 0:
        schema = lw.Schema.from_dict({"columns": {**SCHEMA.to_dict()["columns"], "note": {"kind": "text"}}})
    groups = np.sort(rng.integers(0, n_groups, n)) if seed % 2 else rng.integers(0, n_groups, n)
    options = lw.ProfileOptions(
        discrete_cap=int(rng.choice([0, 5, 256])), category_cap=int(rng.choice([3, 1000]))
    )
    out = profile_groups(
        schema, table, groups, n_groups, anchors=anchors(rng), segments=["region"], options=options
    )
    written = 0
    for p in out:
        if not isinstance(p, Pending):
            assert p.n == 0  # a group without rows: an empty profile, made as before
            continue
        fast, ours, slow, theirs = both(p)
        assert fast == slow
        assert set(ours) == set(theirs) and all(ours[k] is theirs[k] for k in ours)
        written += 1
    assert written == len(set(groups.tolist()))


def test_a_profile_read_or_changed_is_written_by_its_objects() -> None:
    """Once its columns, segments, task or count are read or changed, the profile is what is written."""
    rng = np.random.default_rng(3)
    table = frame(400, rng, labels=False)
    made = lambda: profile_groups(  # noqa: E731
        SCHEMA, table, np.arange(400) % 4, 4, anchors=anchors(np.random.default_rng(1)), segments=["region"]
    )
    reference = [dumps(p, edges_out={}) for p in made()]
    ps = made()
    ps[0].columns["flag"].true += 1  # read and changed: written as it now is
    ps[1].segments["region"]["north"].n += 1
    ps[2].n += 1
    assert ps[2].unread()
    ps[3].task.n += 1  # type: ignore[union-attr]
    for p, before in zip(ps, reference, strict=True):
        assert p.to_bytes(edges_out={}) != before
        assert p.to_bytes(edges_out={}) == dumps(p, edges_out={})
    # And what it wrote reads back as its objects hold.
    back = Profile.from_bytes(ps[2].to_bytes(edges_out=(e := {})), edges=e.__getitem__)
    assert back.n == ps[2].n and back.columns["flag"] == ps[2].columns["flag"]


def test_written_new_then_merged_with_a_stored_bucket() -> None:
    """A new bucket's bytes (the batch writer) read back and merged with another batch's, as labels and
    the compactor do: the same as the objects' bytes read back and merged."""
    rng = np.random.default_rng(11)
    edges = anchors(np.random.default_rng(2))
    a = profile_groups(
        SCHEMA, frame(900, rng, labels=False), np.arange(900) % 9, 9, anchors=edges, segments=["region"]
    )
    b = profile_groups(
        SCHEMA, frame(900, rng, labels=True), np.arange(900) % 9, 9, anchors=edges, segments=["region"]
    )
    for pa_, pb in zip(a, b, strict=True):
        store: dict[str, np.ndarray] = {}
        fast = Profile.from_bytes(pa_.to_bytes(edges_out=store), edges=store.__getitem__)
        slow = Profile.from_bytes(dumps(pa_, edges_out=store), edges=store.__getitem__)
        merged_fast, merged_slow = fast.merge(pb), slow.merge(pb)
        assert merged_fast.to_bytes(edges_out={}) == merged_slow.to_bytes(edges_out={})


def test_a_header_with_null_is_written_by_the_objects() -> None:
    """Where ``dump_json`` writes the header with the standard library (a moment that overflowed to
    infinity, a segment value named "null"), the batch writer leaves it to ``dumps``: the same bytes."""
    rng = np.random.default_rng(5)
    table = frame(300, rng, labels=False)
    x = table.column("x").to_numpy(zero_copy_only=False).copy()
    x[:150] = 1e308  # the first group's m2 (and its segments') overflow
    region = np.array(["null", "south"] * 150, dtype=object)
    table = table.set_column(table.column_names.index("x"), "x", pa.array(x))
    table = table.set_column(table.column_names.index("region"), "region", pa.array(region))
    ps = profile_groups(SCHEMA, table, np.arange(300) // 150, 2, anchors=anchors(rng), segments=["region"])
    for p in ps:
        assert isinstance(p, Pending)
        assert write(p, {}) is None  # the header holds null either way: an infinity or the key
        fast, ours, slow, theirs = both(p)
        assert fast == slow and set(ours) == set(theirs)
        assert b"Infinity" in _header(slow) or b'"null"' in _header(slow)


def test_a_backfills_task_cells_read_after_being_written_hold_what_was_written() -> None:
    """A classifier's cells without labels (``grouped_tasks.Unlabelled``): written first, then read, the
    profile read holds the counts written, and a profile read first writes the same bytes."""
    rng = np.random.default_rng(8)
    table = frame(2000, rng, labels=False)
    edges = anchors(rng)
    groups = np.arange(2000) % 30
    first = profile_groups(SCHEMA, table, groups, 30, anchors=edges, segments=["region"])
    second = profile_groups(SCHEMA, table, groups, 30, anchors=edges, segments=["region"])
    for a, b in zip(first, second, strict=True):
        written = a.to_bytes(edges_out=(store := {}))
        b.task  # noqa: B018 (read first: made from the batch, then written from its objects)
        assert "task" in b.__dict__ and isinstance(b, Pending) and b.unread()
        assert b.to_bytes(edges_out={}) == written
        back = Profile.from_bytes(written, edges=store.__getitem__)
        assert back.task is not None and a.task is not None
        read, made = back.task.to_state()[0], a.task.to_state()[0]
        assert {**read, "widths": None} == {**made, "widths": None}  # read back: int64, not the width known
        for name in ("conf_all", "conf_labeled", "conf_correct", "conf_sum", "est_all"):
            ours, theirs = getattr(back.task, name), getattr(a.task, name)
            assert set(ours) == set(theirs) and all(np.array_equal(ours[k], theirs[k]) for k in ours)


def _header(data: bytes) -> bytes:
    size = struct.unpack_from("<Q", data, 8)[0]
    body = pa.decompress(data[16:], decompressed_size=size, codec="zstd", asbytes=True)
    return bytes(body[4 : 4 + struct.unpack_from("<I", body)[0]])
