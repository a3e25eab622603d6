"""Profile files of every format read, and a round trip of the format written now keeps every statistic
(decisions 0037, 0043 and 0051).

The files of formats 1 and 2 were written by loopwise before format 3 from the rows in formats_raw.parquet
(fixtures/make_v2.py), those of format 3 before format 4 (fixtures/make_v3.py), those of format 4 before
format 5 (fixtures/make_v4.py); each statistic read from
them, and from their rows profiled and written now, is compared with NumPy's (or scikit-learn's) on those
rows.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.metrics import log_loss

import loopwise as lw
from loopwise.profiles import NumericProfile
from loopwise.profiles.categorical import CategoricalProfile
from loopwise.profiles.compact import counts_state, dump_json, load_json, narrow, sparse_counts, widen
from loopwise.profiles.histogram import Histogram
from loopwise.profiles.others import BooleanProfile, DatetimeProfile, TextProfile
from loopwise.profiles.serialize import _PREFIX, FORMAT_VERSION, decompressed_size
from loopwise.profiles.task import ClassificationProfile, RegressionProfile

FIXTURES = Path(__file__).parent / "fixtures"
CLF = ["ts", "x", "k", "c", "b", "note", "g", "p", "pred", "label"]


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_parquet(FIXTURES / "formats_raw.parquet")


def _version(data: bytes) -> int:
    return int(_PREFIX.unpack_from(data)[1])


def _apart_edges() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "formats_clf_apart.edges.npz") as npz:
        return {k: npz[k] for k in npz.files}


def _header(data: bytes) -> dict[str, Any]:
    size = struct.unpack_from("<Q", data, _PREFIX.size)[0]
    body = pa.decompress(data[_PREFIX.size + 8 :], decompressed_size=size, codec="zstd", asbytes=True)
    (head_len,) = struct.unpack_from("<I", body)
    out: dict[str, Any] = load_json(body[4 : 4 + head_len])
    return out


def _numeric_matches(col: Any, series: pd.Series) -> None:
    """A numeric profile of ``series`` as NumPy counts it: missing, infinities, finite moments, histogram
    counts on the profile's own edges, exact counts of distinct values."""
    assert isinstance(col, NumericProfile)
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.sort(values[np.isfinite(values)])
    assert col.n == values.size
    assert col.missing == int(series.isna().sum())
    assert (col.posinf, col.neginf) == (int((values == np.inf).sum()), int((values == -np.inf).sum()))
    m = col.moments
    assert m.count == finite.size
    if finite.size:
        assert (m.min, m.max) == (finite[0], finite[-1])
        assert m.mean == pytest.approx(np.mean(finite), rel=1e-12)
        assert m.m2 == pytest.approx(np.sum((finite - np.mean(finite)) ** 2), rel=1e-9)
    if col.hist is not None:
        expected = np.bincount(
            np.searchsorted(col.hist.edges, finite, side="right"), minlength=col.hist.edges.size + 1
        )
        np.testing.assert_array_equal(col.hist.counts, expected)
    if col.atoms is not None:
        distinct, counts = np.unique(finite, return_counts=True)
        np.testing.assert_array_equal(col.atoms.values, distinct)
        np.testing.assert_array_equal(col.atoms.counts, counts)
    assert col.kll.n == finite.size
    if finite.size and not col.kll.is_estimation_mode():  # every value held: each one at its rank
        ranks = (np.arange(finite.size) + 0.5) / finite.size  # mid-rank: no rounding at a boundary
        np.testing.assert_array_equal(col.kll.get_quantiles(ranks), finite)
        points = np.unique(finite)[:: max(1, finite.size // 20)]
        got = [col.kll.get_rank(float(v), True) for v in points]
        np.testing.assert_allclose(got, [np.mean(finite <= v) for v in points], rtol=0, atol=1e-12)


def _classifier_matches(p: lw.Profile, df: pd.DataFrame, *, whole: bool = True) -> None:
    """Every column, the task and (for the whole) each segment of ``p`` against NumPy on ``df``."""
    assert p.n == len(df)
    for name in ("x", "k", "p"):
        _numeric_matches(p[name], df[name])
    c = p["c"]
    assert isinstance(c, CategoricalProfile) and c.exact
    keys, counts = np.unique(df["c"].to_numpy(dtype=str), return_counts=True)
    assert c.frequencies() == dict(zip(keys.tolist(), counts.tolist(), strict=True))
    b = p["b"]
    assert isinstance(b, BooleanProfile) and (b.n, b.true) == (len(df), int(df["b"].sum()))
    ts = p["ts"]
    assert isinstance(ts, DatetimeProfile)
    seconds = (df["ts"] - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
    assert (ts.n, ts.seconds.moments.min, ts.seconds.moments.max) == (len(df), seconds.min(), seconds.max())
    assert ts.seconds.moments.mean == pytest.approx(seconds.mean(), rel=1e-12)
    note = p["note"]
    assert isinstance(note, TextProfile)
    assert note.empty_count == int((df["note"] == "").sum())
    _numeric_matches(note.lengths, df["note"].str.len().astype(np.float64))
    task = p.task
    assert isinstance(task, ClassificationProfile)
    truth, pred = df["label"].to_numpy(), df["pred"].to_numpy()
    expected = {
        str(t).lower(): {str(q).lower(): int(((truth == t) & (pred == q)).sum()) for q in (False, True)}
        for t in (False, True)
    }
    got = {t: {q: task.confusion.get(t, {}).get(q, 0) for q in ("false", "true")} for t in ("false", "true")}
    assert got == expected
    assert task.predicted == {
        k: v for k, v in {"false": int((~pred).sum()), "true": int(pred.sum())}.items() if v
    }
    assert task.n_scored == len(df)
    expected_ll = log_loss(truth, df["p"].to_numpy(), labels=[False, True])
    assert task.log_loss_sum / task.n_scored == pytest.approx(expected_ll, rel=1e-12)
    score_bins = np.minimum((df["p"].to_numpy() * 4096).astype(np.int64), 4095)
    np.testing.assert_array_equal(task.pos_hist["true"], np.bincount(score_bins[truth], minlength=4096))
    np.testing.assert_array_equal(task.neg_hist["true"], np.bincount(score_bins[~truth], minlength=4096))
    if whole:
        assert set(p.segments["g"]) == set(df["g"])
        for key, sub in p.segments["g"].items():
            _classifier_matches(sub, df[df["g"] == key].reset_index(drop=True), whole=False)


def _regressor_matches(p: lw.Profile, df: pd.DataFrame) -> None:
    _numeric_matches(p["x"], df["x"])
    _numeric_matches(p["yhat"], df["yhat"])
    task = p.task
    assert isinstance(task, RegressionProfile)
    err = df["yhat"].to_numpy() - df["y"].to_numpy()
    assert task.n_labeled == len(df)
    assert task.error.mean == pytest.approx(err.mean(), rel=1e-9)
    assert task.abs_error.mean == pytest.approx(np.abs(err).mean(), rel=1e-12)
    assert task.sq_error.mean == pytest.approx(np.mean(err * err), rel=1e-12)
    assert (task.error.min, task.error.max) == (err.min(), err.max())
    assert task.target.mean == pytest.approx(df["y"].mean(), rel=1e-9)
    assert task.error_sketch.n == len(df)


def _same(a: lw.Profile, b: lw.Profile) -> None:
    """The same state, down to every count and float: written again, the same bytes."""
    assert a.to_bytes() == b.to_bytes()


@pytest.mark.parametrize(
    ("name", "version", "rows"),
    [
        ("formats_clf_v1.lwp", 1, 2000),
        ("formats_clf_chunks_v2.lwp", 2, 2000),
        ("formats_clf_apart_v1.lwp", 1, 2000),
        ("formats_clf_v3.lwp", 3, 2000),
        ("formats_clf_small_v3.lwp", 3, 150),
        ("formats_clf_small_apart_v3.lwp", 3, 150),
        ("formats_clf_v4.lwp", 4, 2000),
        ("formats_clf_small_v4.lwp", 4, 150),
        ("formats_clf_small_apart_v4.lwp", 4, 150),
    ],
)
def test_files_of_earlier_formats_read_and_hold_numpys_statistics(
    raw: pd.DataFrame, name: str, version: int, rows: int
) -> None:
    data = (FIXTURES / name).read_bytes()
    assert _version(data) == version
    edges = _apart_edges()
    old = lw.Profile.from_bytes(data, edges=edges.__getitem__)
    _classifier_matches(old, raw.iloc[:rows])
    # Written again (format 5) and read: the same statistics, the same state.
    again = old.to_bytes(edges_out={}) if "apart" in name else old.to_bytes()
    assert _version(again) == FORMAT_VERSION == 5
    back = lw.Profile.from_bytes(again, edges=edges.__getitem__)
    _classifier_matches(back, raw.iloc[:rows])
    _same(old, back)
    if rows <= 200 and version == 3:  # every sketch exact: format 4 stores it as the atoms
        assert len(again) < len(data)
    if rows <= 200:  # histograms nearly all zeros, atoms counted once each: format 5 writes a smaller body
        assert decompressed_size(again, 10**9) < decompressed_size(data, 10**9)
    if version == 2:
        assert old.chunks is not None and back.chunks is not None
        assert (back.chunks.size, back.chunks.n_chunks) == (400, 5)
        for col, cc in old.chunks.columns.items():
            np.testing.assert_array_equal(back.chunks.columns[col].counts, cc.counts)


def test_a_regressor_of_format_1_reads_and_round_trips(raw: pd.DataFrame) -> None:
    old = lw.Profile.from_bytes((FIXTURES / "formats_reg_v1.lwp").read_bytes())
    _regressor_matches(old, raw)
    back = lw.Profile.from_bytes(old.to_bytes())
    _regressor_matches(back, raw)
    _same(old, back)


def test_a_format_5_round_trip_keeps_numpys_statistics(raw: pd.DataFrame) -> None:
    schema = lw.Schema.from_yaml((FIXTURES / "make_v2.py").read_text().split('CLF = """')[1].split('"""')[0])
    p = lw.profile(raw[["id", *CLF]], schema=schema)
    _classifier_matches(p, raw)
    data = p.to_bytes()
    assert _version(data) == 5
    back = lw.Profile.from_bytes(data)
    _classifier_matches(back, raw)
    _same(p, back)
    # A segment's header names neither the schema nor the options: they are its whole's.
    header = _header(data)
    assert "schema" in header and all("schema" not in s for s in header["segments"]["g"].values())
    assert all(s.schema is back.schema for s in back.segments["g"].values())
    # Edges kept apart, as the server stores its buckets: the same profile.
    edges: dict[str, np.ndarray] = {}
    apart = lw.Profile.from_bytes(p.to_bytes(edges_out=edges), edges=edges.__getitem__)
    _classifier_matches(apart, raw)
    _same(p, apart)


def test_counts_past_every_narrow_width_and_values_json_cannot_hold_round_trip() -> None:
    """Counts of 300 and 70,000 in one bin (two and four bytes), a mean that overflows to infinity (the
    header then written by the standard library, which writes it), and a column called "null"."""
    big = np.concatenate([np.full(70_000, 1.0), np.full(300, 2.0), np.arange(50.0)])
    df = pd.DataFrame({"x": big, "null": big[::-1].copy(), "huge": np.full(big.size, 1.7e308)})
    p = lw.profile(df)
    data = p.to_bytes()
    back = lw.Profile.from_bytes(data)
    for name in ("x", "null"):
        _numeric_matches(back[name], df[name])
        assert back[name].hist is not None and int(back[name].hist.counts.max()) > 65_535  # type: ignore[union-attr]
    huge = back["huge"]
    assert isinstance(huge, NumericProfile)
    assert huge.moments.mean == p["huge"].moments.mean == np.inf  # type: ignore[union-attr]
    assert huge.moments.max == 1.7e308
    _same(p, back)
    meta = _header(data)["columns"]["x"]["meta"]
    assert meta["width"] == 4


def test_narrow_and_json_helpers_round_trip() -> None:
    for values, width in (([0, 255], 1), ([0, 256], 2), ([65_536], 4), ([2**32], 8), ([-1, 0], 8), ([], 1)):
        w, data = narrow(np.array(values, dtype=np.int64))
        assert w == width
        assert widen(data, w).tolist() == values
    with pytest.raises(ValueError, match="width"):
        widen(b"\x00", 3)
    for value in ({"a": float("inf"), "b": [float("-inf")]}, {"x": None}, {1: 2}, {"big": 2**70}, {"é": 1.5}):
        text = dump_json(value)
        back = load_json(text)
        assert back == {str(k): v for k, v in value.items()}


def test_format_4_stores_a_sketch_that_holds_its_atoms_values_once(raw: pd.DataFrame) -> None:
    """A bucket-sized profile (150 rows, about 50 a segment): each numeric sketch holds every finite value and
    the atoms count them, so no sketch is stored; read back, each is made from the atoms and answers NumPy's
    quantiles and ranks exactly (``_numeric_matches``). Past ``kll_k`` values, or without atoms, the sketch
    is stored as before."""
    schema = lw.Schema.from_yaml((FIXTURES / "make_v2.py").read_text().split('CLF = """')[1].split('"""')[0])
    small = raw[["id", *CLF]].iloc[:150].reset_index(drop=True)
    p = lw.profile(small, schema=schema)
    data = p.to_bytes()
    header = _header(data)
    for name in ("x", "k", "p"):
        meta = header["columns"][name]["meta"]
        # edges, counts (two blobs where sparse: bins, counts), atoms (values, counts)
        assert meta["kll"] == "atoms" and len(header["columns"][name]["blobs"]) == 4 + ("nz" in meta)
    for sub in header["segments"]["g"].values():
        assert sub["columns"]["x"]["meta"]["kll"] == "atoms"
    back = lw.Profile.from_bytes(data)
    _classifier_matches(back, small)
    _same(p, back)
    # Merged, the union of two such halves is still held by its atoms: no sketch made, the same statistics.
    halves = [lw.profile(small.iloc[:70], schema=schema), lw.profile(small.iloc[70:], schema=schema)]
    halves = [lw.Profile.from_bytes(h.to_bytes()) for h in halves]
    merged = lw.merge(halves)
    assert merged["x"]._kll is None  # type: ignore[union-attr]
    _classifier_matches(merged, small)
    # 2,000 rows: past kll_k values, the sketch is stored (and k, with 6 distinct values, keeps its atoms).
    whole = _header(lw.profile(raw[["id", *CLF]], schema=schema).to_bytes())
    assert "kll" not in whole["columns"]["k"]["meta"] and "atoms" in whole["columns"]["k"]["meta"]
    # Its histogram sparse (6 bins of 1,001 not zero, format 5): gaps and counts in place of the counts.
    assert whole["columns"]["k"]["meta"]["nz"] == [6, 1] and len(whole["columns"]["k"]["blobs"]) == 6


def test_format_5_stores_sparse_histograms_and_narrow_atom_counts_where_smaller() -> None:
    """A column of 40 values in 1,001 bins stores its non-zero bins' gaps and counts, one of 5,000 values
    spread over every bin its dense counts; atoms' counts in the narrowest width. Read back, each
    histogram holds NumPy's counts on its edges, the atoms NumPy's ``unique`` counts. Damaged sparse bins
    are refused."""
    rng = np.random.default_rng(51)
    spread = rng.normal(size=5000)
    ref = lw.profile(pd.DataFrame({"x": spread}))
    edges = ref["x"].hist.edges  # type: ignore[union-attr]
    few = np.round(rng.normal(size=40), 1)  # about 30 distinct values, some seen 300 times below
    few = np.concatenate([few, np.full(300, few[0])])
    df = pd.DataFrame({"x": few})
    p = lw.Profile.empty(lw.Schema.infer(df), anchors={"x": edges})
    p.update(df)
    data = p.to_bytes()
    meta = _header(data)["columns"]["x"]["meta"]
    nonzero = np.unique(np.searchsorted(edges, few, side="right")).size
    assert meta["nz"][0] == nonzero and meta["width"] == 2  # 301 in a bin: two bytes a count
    assert meta["atom_width"] == 2 and meta["atoms"] == np.unique(few).size
    read = lw.Profile.from_bytes(data)
    back = read["x"]
    assert isinstance(back, NumericProfile) and back.hist is not None and back.atoms is not None
    # Read sparse, the counts are decoded only when asked for: written again untouched, the same bytes.
    assert back.hist._counts is None and read.to_bytes() == data and back.hist._counts is None
    expected = np.bincount(np.searchsorted(edges, few, side="right"), minlength=edges.size + 1)
    np.testing.assert_array_equal(back.hist.counts, expected)
    values, counts = np.unique(few, return_counts=True)
    np.testing.assert_array_equal(back.atoms.values, values)
    np.testing.assert_array_equal(back.atoms.counts, counts)
    # Spread over every bin: dense, as before (and the atoms gave up: more than 256 distinct values).
    whole = _header(ref.to_bytes())["columns"]["x"]["meta"]
    assert "nz" not in whole and "atoms" not in whole
    # The stored gaps damaged (a bin past the last, one gap more than counts): refused, not misread.
    width, sparse, blobs = counts_state(expected)
    assert sparse is not None
    gaps = widen(blobs[0], sparse[1])
    for bad in (np.append(gaps[:-1], 5000), np.append(gaps, 1)):
        with pytest.raises(ValueError, match="sparse histogram"):
            sparse_counts(bad.astype(np.uint16).tobytes(), blobs[1], expected.size, width, 2)
    np.testing.assert_array_equal(
        sparse_counts(blobs[0], blobs[1], expected.size, width, sparse[1]), expected
    )
    # A stored sparse histogram whose bins pass its edges is refused when read, not when first used.
    with pytest.raises(ValueError, match="sparse histogram"):
        Histogram.stored(edges, 1, (struct.pack("<H", 5000), b"\x01", 2))


def test_the_fixture_writer_make_v3_and_v4_share_writes_what_it_says(
    raw: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fixtures/write_formats.py holds what make_v3.py and make_v4.py repeated line for line; run with
    today's loopwise in a copy of its inputs, it writes the three files its scripts name, each the profile of
    the rows it says (counted by pandas), in the format of the loopwise that runs it."""
    import shutil
    import subprocess
    import sys

    for name in ("formats_raw.parquet", "formats_clf_apart.edges.npz", "formats_clf_apart_v1.lwp"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    for name in ("write_formats.py", "make_v2.py", "make_v4.py"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    code = f"from write_formats import write; write({FORMAT_VERSION})"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    v = FORMAT_VERSION
    whole = lw.Profile.from_bytes((tmp_path / f"formats_clf_v{v}.lwp").read_bytes())
    small = lw.Profile.from_bytes((tmp_path / f"formats_clf_small_v{v}.lwp").read_bytes())
    assert whole.n == len(raw) and small.n == 150
    finite = raw["x"].astype("float64")
    assert whole["x"].count == np.isfinite(finite).sum() and whole["x"].missing == finite.isna().sum()
    assert (tmp_path / f"formats_clf_small_apart_v{v}.lwp").stat().st_size > 0
    # make_v4.py is the shared writer called with its format (it does not run here: the format is 5 now).
    assert (
        "write(4)" in (FIXTURES / "make_v4.py").read_text()
        and "write(3)" in (FIXTURES / "make_v3.py").read_text()
    )
