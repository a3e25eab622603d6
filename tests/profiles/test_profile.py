from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import loopwise as lw
from loopwise.profiles import CategoricalProfile, DatetimeProfile, NumericProfile
from loopwise.profiles.canonical import canonical
from loopwise.profiles.moments import Moments

from .test_atoms import _pre_atoms_frame

FIXTURES = Path(__file__).parent / "fixtures"


def _numeric_state(p: NumericProfile) -> tuple[object, ...]:
    return (
        p.n,
        p.missing,
        p.nan,
        p.posinf,
        p.neginf,
        p.moments.count,
        p.moments.min,
        p.moments.max,
    )


def test_counts_and_moments_match_numpy(ref_df: pd.DataFrame) -> None:
    p = lw.profile(ref_df)
    for name in ("normal", "lognormal", "with_nan", "ints"):
        col = p[name]
        assert isinstance(col, NumericProfile)
        x = ref_df[name].to_numpy(dtype=float)
        finite = x[np.isfinite(x)]
        assert col.missing + col.nan == np.isnan(x).sum()  # pandas NaN arrives as an Arrow null
        assert col.moments.count == finite.size
        assert col.moments.mean == pytest.approx(finite.mean(), rel=1e-12)
        assert col.moments.variance == pytest.approx(finite.var(ddof=1), rel=1e-10)
        assert (col.moments.min, col.moments.max) == (finite.min(), finite.max())
        # The histogram's counts are exact: every finite value is in exactly one bin.
        assert col.hist is not None
        assert col.hist.n == finite.size


def test_kll_quantiles_are_within_the_stated_rank_error() -> None:
    x = np.random.default_rng(3).lognormal(size=300_000)
    p = lw.profile(pd.DataFrame({"x": x}))["x"]
    assert isinstance(p, NumericProfile)
    ranks = np.linspace(0.01, 0.99, 99)
    q = p.quantiles(ranks)
    true_ranks = np.searchsorted(np.sort(x), q, side="right") / x.size
    assert np.max(np.abs(true_ranks - ranks)) <= p.rank_error


def test_two_halves_merged_equal_the_whole(ref_df: pd.DataFrame) -> None:
    ref = lw.profile(ref_df)
    a, b = ref_df.iloc[:7000], ref_df.iloc[7000:]
    whole = lw.profile(ref_df, reference=ref)
    merged = lw.profile(a, reference=ref).merge(lw.profile(b, reference=ref))
    assert merged.n == whole.n
    for name, col in whole.columns.items():
        m = merged.columns[name]
        if isinstance(col, NumericProfile):
            assert isinstance(m, NumericProfile)
            assert _numeric_state(m) == _numeric_state(col)
            assert m.moments.mean == pytest.approx(col.moments.mean, rel=1e-12)
            assert m.moments.m2 == pytest.approx(col.moments.m2, rel=1e-10)
            assert m.hist is not None
            assert col.hist is not None
            np.testing.assert_array_equal(m.hist.counts, col.hist.counts)
        elif isinstance(col, CategoricalProfile):
            assert m.frequencies() == col.frequencies()  # type: ignore[union-attr]
    # Segments merge too: each group of the merge equals the group of the whole.
    for key, sub in whole.segments.get("group", {}).items():
        assert merged.segments["group"][key].n == sub.n


def test_many_parts_merged_at_once_equal_the_whole_and_the_pairwise_merge(ref_df: pd.DataFrame) -> None:
    # lw.merge folds many profiles column by column in one pass (the compactor's hundred one-event parts a
    # second); it must give what merging them two by two gives, and what profiling all the rows gives.
    ref = lw.profile(ref_df)
    df = ref_df.iloc[:3000].assign(ts=pd.date_range("2026-01-01", periods=3000, freq="min", tz="UTC"))
    cuts = np.unique(np.random.default_rng(5).integers(1, len(df), size=80))
    chunks = np.split(np.arange(len(df)), cuts)
    schema = lw.Schema.infer(df)
    parts = [lw.profile(df.iloc[c], schema, reference=ref, segments=["group"]) for c in chunks]
    whole = lw.profile(df, schema, reference=ref, segments=["group"])
    at_once = lw.merge(parts)
    pairwise = parts[0]
    for p in parts[1:]:
        pairwise = pairwise.merge(p)
    assert at_once.n == pairwise.n == whole.n == len(df)
    for name, col in whole.columns.items():
        for m in (at_once.columns[name], pairwise.columns[name]):
            if isinstance(col, NumericProfile):
                assert isinstance(m, NumericProfile)
                assert _numeric_state(m) == _numeric_state(col)
                assert m.moments.mean == pytest.approx(col.moments.mean, rel=1e-12)
                assert m.moments.m2 == pytest.approx(col.moments.m2, rel=1e-9)
                assert m.hist is not None and col.hist is not None
                np.testing.assert_array_equal(m.hist.counts, col.hist.counts)
                if name not in ("normal", "lognormal"):  # rank checks need values without ties
                    continue
                x = df[name].to_numpy(dtype=float)
                x = np.sort(x[np.isfinite(x)])
                ranks = np.linspace(0.05, 0.95, 19)
                true_ranks = np.searchsorted(x, m.quantiles(ranks), side="right") / x.size
                assert np.max(np.abs(true_ranks - ranks)) <= m.rank_error
            elif isinstance(col, CategoricalProfile):
                assert m.frequencies() == col.frequencies()  # type: ignore[union-attr]
            else:
                assert m.n == col.n and m.missing == col.missing  # type: ignore[union-attr]
    ts = at_once.columns["ts"]
    assert ts.seconds.moments.min == df["ts"].min().timestamp()  # type: ignore[union-attr]
    assert ts.seconds.moments.max == df["ts"].max().timestamp()  # type: ignore[union-attr]
    sizes = {k: s.n for k, s in at_once.segments["group"].items()}
    assert sizes == df["group"].value_counts().to_dict()
    g1 = df.loc[df["group"] == "g1", "normal"].to_numpy(dtype=float)
    g1_mean = at_once.segment("group", "g1")["normal"].moments.mean  # type: ignore[union-attr]
    assert g1_mean == pytest.approx(g1[np.isfinite(g1)].mean(), rel=1e-12)


def test_merging_keeps_a_histogram_only_where_every_value_has_one() -> None:
    schema = lw.Schema.from_yaml("columns:\n  x: {kind: numeric}\n")
    values = np.arange(50.0)
    with_hist = lw.profile(pd.DataFrame({"x": values}), schema=schema)
    no_values = lw.profile(pd.DataFrame({"x": [np.nan, np.nan]}), schema=schema)
    x = with_hist["x"]
    assert isinstance(x, NumericProfile) and x.hist is not None
    assert no_values["x"].hist is None  # type: ignore[union-attr]
    # An empty side (no finite values, so no histogram) changes no bin.
    for merged in (lw.merge([with_hist, no_values, with_hist]), no_values.merge(with_hist).merge(with_hist)):
        m = merged["x"]
        assert isinstance(m, NumericProfile) and m.hist is not None
        both = np.sort(np.concatenate([values, values]))
        below = np.searchsorted(both, x.hist.edges, side="left")  # values below each edge
        np.testing.assert_array_equal(m.hist.counts, np.diff(below, prepend=0, append=both.size))
        assert (m.nan + m.missing, m.moments.count) == (2, 100)
    # Values counted without a histogram cannot be added to one: the merge has none.
    histless = NumericProfile(n=3, moments=Moments.of(np.array([1.0, 2.0, 3.0])))
    assert NumericProfile.merge_all([x, histless]).hist is None
    assert histless.merge(x).hist is None


def test_segments_partition_the_rows(ref_df: pd.DataFrame) -> None:
    p = lw.profile(ref_df, segments=["group"])
    sizes = {k: s.n for k, s in p.segments["group"].items()}
    assert sizes == ref_df["group"].value_counts().to_dict()
    g1 = ref_df[ref_df["group"] == "g1"]["normal"]
    assert p.segment("group", "g1")["normal"].moments.mean == pytest.approx(g1.mean(), rel=1e-12)
    whole = lw.merge(p.segments["group"].values())
    assert whole["normal"].moments.mean == pytest.approx(ref_df["normal"].mean(), rel=1e-12)


finite_or_nan = st.one_of(st.floats(-1e6, 1e6), st.just(float("nan")))
chunks = st.lists(st.lists(finite_or_nan, min_size=1, max_size=40), min_size=3, max_size=3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks)
def test_merge_is_associative_and_commutative(parts: list[list[float]]) -> None:
    ps = [
        lw.profile(
            pd.DataFrame({"x": np.array(v, dtype=float)}),
            schema=lw.Schema.from_yaml("columns:\n  x: {kind: numeric}\n"),
        )
        for v in parts
    ]
    a, b, c = ps
    left, right = a.merge(b).merge(c), a.merge(b.merge(c))
    swapped = b.merge(a)
    for x, y in ((left, right), (a.merge(b), swapped)):
        px, py = x["x"], y["x"]
        assert isinstance(px, NumericProfile)
        assert isinstance(py, NumericProfile)
        assert _numeric_state(px) == _numeric_state(py)
        assert px.moments.mean == pytest.approx(py.moments.mean, rel=1e-9, abs=1e-9)
        assert px.moments.m2 == pytest.approx(py.moments.m2, rel=1e-9, abs=1e-6)
    # Against NumPy on all the values together.
    allv = np.concatenate([np.array(v, dtype=float) for v in parts])
    finite = allv[np.isfinite(allv)]
    assert left["x"].moments.count == finite.size  # type: ignore[union-attr]
    if finite.size:
        assert left["x"].moments.mean == pytest.approx(finite.mean(), rel=1e-9, abs=1e-9)  # type: ignore[union-attr]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "b", "c", "ü", ""]), min_size=1, max_size=50),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=50, max_size=50),
)
def test_serialization_round_trips(cats: list[str], nums: list[float]) -> None:
    n = min(len(cats), len(nums))
    df = pd.DataFrame({"c": cats[:n], "x": nums[:n], "s": ["g1", "g2"] * (n // 2) + ["g1"] * (n % 2)})
    p = lw.profile(df, segments=["s"])
    q = lw.Profile.from_bytes(p.to_bytes())
    assert q.to_dict() == p.to_dict()
    assert q.to_bytes() == p.to_bytes()


def test_edges_kept_apart_round_trip() -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=500), "y": rng.exponential(size=500), "s": ["a", "b"] * 250})
    p = lw.profile(df, segments=["s"])
    edges: dict[str, np.ndarray] = {}
    blob = p.to_bytes(edges_out=edges)
    assert set(edges) == {p["x"].hist.key, p["y"].hist.key}  # type: ignore[union-attr]
    assert len(blob) < len(p.to_bytes())  # each edge set was written three times (whole, two segments)
    q = lw.Profile.from_bytes(blob, edges=edges.__getitem__)
    assert q.to_bytes() == p.to_bytes()  # the same state, edges restored (segments' too)
    with pytest.raises(lw.ProfileFormatError, match="stored apart"):
        lw.Profile.from_bytes(blob)
    with pytest.raises(lw.ProfileFormatError, match="not stored"):
        lw.Profile.from_bytes(blob, edges={}.__getitem__)


def test_a_version_1_profile_file_still_loads() -> None:
    # Written by loopwise 0.1.0 (format 1) from tests/profiles/fixtures/make_v1.py; never regenerate it.
    p = lw.Profile.from_bytes((FIXTURES / "profile_v1.lwp").read_bytes())
    assert p.n == 1000
    assert p["x"].moments.mean == pytest.approx(0.0, abs=0.2)  # type: ignore[union-attr]
    assert set(p["c"].frequencies()) == {"a", "b", "c"}  # type: ignore[union-attr]
    assert set(p.segments["g"]) == {"u", "v"}


def test_corrupt_and_foreign_bytes_are_clear_errors() -> None:
    blob = lw.profile(pd.DataFrame({"x": [1.0, 2.0]})).to_bytes()
    with pytest.raises(lw.ProfileFormatError, match="not a loopwise profile"):
        lw.Profile.from_bytes(b"PAR1" + blob[4:])
    with pytest.raises(lw.ProfileFormatError, match="corrupt or truncated"):
        lw.Profile.from_bytes(blob[:-10])
    newer = blob[:4] + (99).to_bytes(2, "little") + blob[6:]
    with pytest.raises(lw.ProfileFormatError, match="newer loopwise"):
        lw.Profile.from_bytes(newer)


def test_canonical_values_fold_equal_values() -> None:
    assert len({canonical(v) for v in (1, 1.0, np.int64(1), np.float32(1.0), b"1", "1")}) == 1
    a = lw.profile(
        pd.DataFrame({"c": pd.Series([1, 2, 2], dtype="int64")}),
        schema=lw.Schema.from_yaml("columns:\n  c: {kind: categorical}\n"),
    )
    b = lw.profile(pd.DataFrame({"c": ["1", "2", "2"]}))
    assert a.merge(b)["c"].frequencies() == {"1": 2, "2": 4}  # type: ignore[union-attr]


def test_categories_past_the_cap_switch_to_a_sketch() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([np.repeat(["hot"], 5000), rng.integers(0, 5000, 20_000).astype(str)])
    p = lw.profile(pd.DataFrame({"c": values}), options=lw.ProfileOptions(category_cap=100))
    col = p["c"]
    assert isinstance(col, CategoricalProfile)
    assert not col.exact
    est = col.frequencies()["hot"]
    assert abs(est - 5000) <= col.count_error
    true_distinct = len(set(values))
    assert col.distinct == pytest.approx(true_distinct, rel=0.05)


def test_a_parquet_path_is_read_column_by_column_to_the_same_profile(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit
    from loopwise.profiles.profile import ParquetSource, parquet_source

    df = make_credit(6000, seed=4)
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table, tmp_path / "one.parquet")
    (tmp_path / "parts").mkdir()
    pq.write_table(table.slice(0, 2500), tmp_path / "parts" / "a.parquet")
    pq.write_table(table.slice(2500), tmp_path / "parts" / "b.parquet")
    schema = lw.Schema.from_yaml(CREDIT_SCHEMA_YAML)
    in_memory = lw.profile(table, schema=schema)
    for path in (tmp_path / "one.parquet", tmp_path / "parts"):
        assert isinstance(parquet_source(path), ParquetSource)
        lazy = lw.profile(path, schema=schema)
        assert lazy.to_dict() == in_memory.to_dict()
        for name, col in in_memory.columns.items():
            if isinstance(col, NumericProfile):
                np.testing.assert_array_equal(lazy[name].hist.counts, col.hist.counts)  # type: ignore[union-attr]
        assert (
            lazy.segment("race", "group_b")["income"].moments
            == in_memory.segment("race", "group_b")["income"].moments
        )
        assert lazy.task.confusion == in_memory.task.confusion  # type: ignore[union-attr]
    inferred = lw.profile(tmp_path / "one.parquet")
    assert inferred.schema == lw.Schema.infer(df)


def test_chunks_round_trip(tmp_path: Path) -> None:
    from loopwise.profiles.serialize import _PREFIX

    df = pd.DataFrame(
        {
            "x": np.random.default_rng(0).normal(size=5000),
            "c": np.random.default_rng(1).choice(["a", "b"], 5000),
            "t": ["some words here"] * 5000,
        }
    )
    p = lw.profile(df, chunk_size=1000)
    blob = p.to_bytes()
    assert _PREFIX.unpack_from(blob)[1] == 5  # format 5 (decision 0051); files of 1 to 4: test_formats.py
    back = lw.Profile.from_bytes(blob)
    assert back.chunks is not None and p.chunks is not None
    assert (back.chunks.size, back.chunks.n_chunks) == (1000, 5)
    for name, cc in p.chunks.columns.items():
        np.testing.assert_array_equal(back.chunks.columns[name].counts, cc.counts)
        assert back.chunks.columns[name].keys == cc.keys
        if cc.moments is not None:
            np.testing.assert_array_equal(back.chunks.columns[name].moments, cc.moments)  # type: ignore[arg-type]
    # Histogram edges kept apart (as the server stores them) work with chunks too.
    edges: dict[str, np.ndarray] = {}
    apart = lw.Profile.from_bytes(p.to_bytes(edges_out=edges), edges=edges.__getitem__)
    assert apart.chunks is not None and set(apart.chunks.columns) == set(p.chunks.columns)
    # A lazily read Parquet file gives the same chunks as the frame.
    df.to_parquet(tmp_path / "d.parquet")
    lazy = lw.profile(tmp_path / "d.parquet", chunk_size=1000)
    assert lazy.chunks is not None
    for name, cc in p.chunks.columns.items():
        np.testing.assert_array_equal(lazy.chunks.columns[name].counts, cc.counts)


def test_a_merged_profile_has_no_chunks_and_too_few_chunks_are_refused() -> None:
    df = pd.DataFrame({"x": np.arange(3000.0)})
    p = lw.profile(df, chunk_size=1000)
    assert p.chunks is not None and p.merge(p).chunks is None
    with pytest.raises(lw.ParameterError, match="at most 1000 for 3000 rows: it leaves 2 full chunk"):
        lw.profile(df, chunk_size=1001)
    with pytest.raises(lw.ParameterError, match="chunk_size"):
        lw.profile(df, chunk_size=0)


def test_a_current_without_its_labels_is_profiled_with_the_reference_schema_as_all_missing_labels() -> None:
    # Labels arrive weeks later: the current has no target column yet (a user's trial was refused here).
    rng = np.random.default_rng(4)

    def traffic(n: int) -> pd.DataFrame:
        p = rng.random(n)
        return pd.DataFrame(
            {"x": rng.normal(size=n), "p_yes": p, "prediction": p >= 0.5, "label": rng.random(n) < p}
        )

    reference = lw.profile(traffic(20_000))
    raw = traffic(5_000).drop(columns="label")
    current = lw.profile(raw, schema=reference.schema, reference=reference)
    assert current.columns["label"].n == raw.shape[0] and current.columns["label"].missing == raw.shape[0]
    from_profile = lw.estimate_performance(reference, current, metrics=["accuracy"])["accuracy"]
    from_rows = lw.estimate_performance(reference, raw, reference.schema, metrics=["accuracy"])["accuracy"]
    assert from_profile.label_coverage == 0.0
    assert from_profile.estimate == pytest.approx(from_rows.estimate, abs=1e-12)
    # Raw frames with no schema: the current is read with the reference's (inference alone finds no target).
    labelled = traffic(20_000)
    inferred = lw.estimate_performance(labelled, raw, metrics=["accuracy"])["accuracy"]
    explicit = lw.estimate_performance(labelled, raw, lw.Schema.infer(labelled), metrics=["accuracy"])
    assert inferred.estimate == pytest.approx(explicit["accuracy"].estimate, abs=1e-12)
    with pytest.raises(lw.DataError, match="missing from the data: x"):
        lw.profile(raw.drop(columns="x"), schema=reference.schema)


def test_a_datetime_column_keeps_no_histogram_and_one_written_with_it_still_merges() -> None:
    """A datetime column's seconds have no histogram of their own edges (none merged with another's and no
    reader used one); a profile written with one (before) reads, and merges with a new one into one without,
    its counts, range and moments those of the rows together."""
    old = lw.Profile.from_bytes((FIXTURES / "profile_pre_atoms.lwp").read_bytes())  # 2,000 rows, seed 7
    old_ts = old["ts"]
    assert isinstance(old_ts, DatetimeProfile) and old_ts.seconds.hist is not None
    rng = np.random.default_rng(8)
    ts = pd.Timestamp("2026-02-01") + pd.to_timedelta(rng.integers(0, 86400, 500), unit="s")
    new = lw.profile(pd.DataFrame({"ts": ts}))
    new_ts = new["ts"]
    assert isinstance(new_ts, DatetimeProfile) and new_ts.seconds.hist is None
    again = lw.Profile.from_bytes(new.to_bytes())["ts"]
    assert isinstance(again, DatetimeProfile) and again.seconds.hist is None
    merged = DatetimeProfile.merge_all([old_ts, new_ts])
    assert merged.seconds.hist is None
    raw = pd.concat([_pre_atoms_frame(2000, 7)["ts"], pd.Series(ts)])  # what the fixture profiled, then ts
    seconds = raw.astype("datetime64[ns]").astype("int64").to_numpy() / 1e9
    m = merged.seconds.moments
    assert merged.n == 2500 and m.count == 2500
    assert (m.min, m.max) == (seconds.min(), seconds.max())
    assert m.mean == pytest.approx(seconds.mean(), rel=1e-12)
