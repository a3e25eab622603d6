"""Exact counts of a numeric column's distinct values: against NumPy on the raw values, merge laws, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

import loopwise as lw
from loopwise.profiles import NumericProfile, ProfileOptions
from loopwise.profiles.atoms import Atoms
from loopwise.profiles.histogram import interior_quantiles, quantile_edges

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMA = lw.Schema.from_yaml("columns:\n  x: {kind: numeric}\n")
CAP = 6


def _numpy_atoms(values: np.ndarray, cap: int) -> tuple[list[float], list[int]] | None:
    finite = values[np.isfinite(values)]
    u, counts = np.unique(finite, return_counts=True)
    return None if u.size > cap else (u.tolist(), counts.tolist())


def _atoms(p: lw.Profile) -> tuple[list[float], list[int]] | None:
    col = p["x"]
    assert isinstance(col, NumericProfile)
    return None if col.atoms is None else (col.atoms.values.tolist(), col.atoms.counts.tolist())


def _profile(values: list[float]) -> lw.Profile:
    df = pd.DataFrame({"x": np.array(values, dtype=float)})
    return lw.profile(df, schema=SCHEMA, options=ProfileOptions(discrete_cap=CAP))


# Few distinct values (so the cap of 6 is sometimes kept, sometimes exceeded), with NaN, infinities, -0.0.
few = st.sampled_from([0.0, -0.0, 1.0, 2.5, -3.0, 7.0, 1e300, float("nan"), float("inf"), float("-inf")])
parts = st.lists(st.lists(few, min_size=1, max_size=30), min_size=3, max_size=3)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts)
def test_atoms_equal_numpys_counts_and_merge_like_the_whole(values: list[list[float]]) -> None:
    a, b, c = (_profile(v) for v in values)
    whole = np.concatenate([np.array(v, dtype=float) for v in values])
    expected = _numpy_atoms(whole, CAP)
    assert _atoms(_profile([x for v in values for x in v])) == expected
    assert _atoms(a.merge(b).merge(c)) == expected
    assert _atoms(a.merge(b.merge(c))) == expected
    assert _atoms(lw.merge([c, a, b])) == expected
    assert _atoms(a.merge(b)) == _atoms(b.merge(a))
    for p in (a, a.merge(b)):
        assert lw.Profile.from_bytes(p.to_bytes()).to_bytes() == p.to_bytes()
        assert _atoms(lw.Profile.from_bytes(p.to_bytes())) == _atoms(p)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-5, 5), min_size=1, max_size=200), st.integers(1, 40))
def test_atoms_read_like_the_sorted_data(values: list[int], bins: int) -> None:
    s = np.sort(np.array(values, dtype=float))
    atoms = Atoms.of_sorted(s, cap=20)
    assert atoms is not None
    assert np.array_equal(atoms.samples(), s)
    points = np.arange(-6.0, 7.0, 0.5)
    assert np.array_equal(atoms.below(points), np.searchsorted(s, points, side="left"))
    assert np.array_equal(atoms.at_or_below(points), np.searchsorted(s, points, side="right"))
    positions = (np.arange(1, bins) * (s.size - 1)) // bins
    assert np.array_equal(atoms.value_at(positions), s[positions])


def test_a_column_with_more_values_than_the_cap_gives_them_up_for_good() -> None:
    opts = ProfileOptions(discrete_cap=3)
    p = lw.profile(pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}), schema=SCHEMA, options=opts)
    assert _atoms(p) is None
    p.update(pd.DataFrame({"x": [1.0]}))  # back under the cap, but the counts of 2, 3, 4 are gone
    assert _atoms(p) is None
    assert _atoms(lw.profile(pd.DataFrame({"x": [1.0] * 50}), schema=SCHEMA, options=opts)) == ([1.0], [50])
    # Off with a cap of 0; the probe of a large continuous column gives up without counting.
    off = lw.profile(pd.DataFrame({"x": [1.0]}), schema=SCHEMA, options=ProfileOptions(discrete_cap=0))
    assert _atoms(off) is None
    x = np.random.default_rng(0).normal(size=100_000)
    assert _atoms(lw.profile(pd.DataFrame({"x": x}), schema=SCHEMA)) is None
    with pytest.raises(lw.ParameterError, match="discrete_cap"):
        ProfileOptions(discrete_cap=-1)


def test_a_value_the_probe_misses_is_still_counted() -> None:
    x = np.repeat(np.arange(100.0), 1000)
    x[:2] = 50.5  # two rows between the evenly spaced positions the probe reads
    p = lw.profile(pd.DataFrame({"x": x}), schema=SCHEMA)
    assert _atoms(p) == _numpy_atoms(x, 256)


def test_repeated_values_get_a_bin_of_their_own_and_coarse_cuts_stay_the_raw_quantiles() -> None:
    rng = np.random.default_rng(4)
    x = np.sort(np.where(rng.random(20_000) < 0.4, 0.0, rng.lognormal(size=20_000)))
    edges = quantile_edges(x, 1000)
    zero = np.flatnonzero(edges == 0.0)
    assert zero.size > 300  # 40% of the mass: tied edges
    assert edges[zero[-1] + 1] == np.nextafter(0.0, 1.0)  # the bin [0, next float) holds the zeros alone
    h = lw.profile(pd.DataFrame({"x": x}), schema=SCHEMA)["x"].hist  # type: ignore[union-attr]
    assert h is not None
    assert h.counts[zero[-1] + 1] == np.count_nonzero(x == 0.0)
    for bins in (2, 5, 10, 20):
        assert np.array_equal(h.quantile_cuts(bins), interior_quantiles(x, bins))


def _pre_atoms_frame(n: int, seed: int) -> pd.DataFrame:
    """The frame fixtures/make_pre_atoms.py profiled (seed 7, 2,000 rows), or another like it."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "doors": rng.choice([2, 3, 4, 5], n, p=[0.1, 0.2, 0.4, 0.3]),
            "x": rng.normal(size=n),
            "note": rng.choice(["a", "bb", "ccc"], n),
            "ts": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 86400, n), unit="s"),
            "g": rng.choice(["u", "v"], n),
        }
    )


def test_profiles_written_before_atoms_still_load_and_compare() -> None:
    # Written by make_pre_atoms.py with the code before decision 0011; never regenerate them.
    old = lw.Profile.from_bytes((FIXTURES / "profile_pre_atoms.lwp").read_bytes())
    with np.load(FIXTURES / "profile_pre_atoms_apart.edges.npz") as z:
        edge_sets = {k: z[k] for k in z.files}
    apart = lw.Profile.from_bytes(
        (FIXTURES / "profile_pre_atoms_apart.lwp").read_bytes(), edges=edge_sets.__getitem__
    )
    raw = _pre_atoms_frame(2000, 7)
    for p in (old, apart):
        assert p.n == 2000
        assert p.to_dict() == old.to_dict()
        doors = p["doors"]
        assert isinstance(doors, NumericProfile)
        assert doors.atoms is None  # unknown: not counted when the file was written
        assert doors.hist is not None and doors.hist.n == 2000
        assert doors.moments.mean == pytest.approx(raw["doors"].mean(), rel=1e-12)
    v1 = lw.Profile.from_bytes((FIXTURES / "profile_v1.lwp").read_bytes())
    assert v1["x"].atoms is None  # type: ignore[union-attr]
    # A drifted current anchored on the old reference: the old edges put each door count in a bin with
    # the next one's gap, so KS is read at the edges (a lower bound of scipy's statistic on the raw rows).
    cur = _pre_atoms_frame(1500, 8)
    cur["doors"] = np.where(np.random.default_rng(9).random(1500) < 0.15, 2, cur["doors"])
    c = lw.compare(old, lw.profile(cur, reference=old)).comparison
    d = c["doors"].drift
    assert d is not None and not d.exact and d.error_bound is not None
    scipy = stats.ks_2samp(raw["doors"], cur["doors"], method="exact")
    assert d.statistic <= scipy.statistic <= d.statistic + d.error_bound
    assert d.p_value is not None and d.p_value >= scipy.pvalue
    # Merging old (unknown atoms) with new parts gives unknown atoms, and the merge still works.
    merged = old.merge(lw.profile(cur, reference=old))
    assert merged["doors"].atoms is None and merged.n == 3500  # type: ignore[union-attr]


def test_atoms_round_trip_with_the_edges_kept_apart() -> None:
    rng = np.random.default_rng(2)
    n = 3000
    doors, x, s = rng.choice([2, 3, 4, 5], n), rng.normal(size=n), rng.choice(["a", "b"], n)
    df = pd.DataFrame({"doors": doors, "x": x, "s": s})
    p = lw.profile(df, segments=["s"])
    edges: dict[str, np.ndarray] = {}
    q = lw.Profile.from_bytes(p.to_bytes(edges_out=edges), edges=edges.__getitem__)
    assert q.to_bytes() == p.to_bytes()
    for prof, frame in ((q, df), (q.segment("s", "a"), df[df.s == "a"])):
        doors = prof["doors"]
        assert isinstance(doors, NumericProfile) and doors.atoms is not None
        u, counts = np.unique(frame["doors"], return_counts=True)
        assert doors.atoms.values.tolist() == u.tolist() and doors.atoms.counts.tolist() == counts.tolist()
        assert prof["x"].atoms is None  # type: ignore[union-attr]
