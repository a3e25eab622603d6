"""The contract every kind of profile keeps: a monoid that serialises, and counts what NumPy counts.

Parametrised over the column kinds (``loopwise.Kind``) and the two task profiles, so a new kind is held to
it as soon as ``COLUMNS`` can generate its data (``test_every_kind_has_a_generator`` says when it cannot):
``Profile.empty(schema)`` is the identity of ``merge``; ``merge`` is associative and commutative
(docs/profiles.md, "Merging"); ``to_bytes``/``from_bytes`` round-trip; merging per-chunk profiles equals
profiling the whole; and the whole holds what NumPy or pandas compute on the raw rows.

"Equal" is equal state: every count and array byte for byte, floats (sums, means, M2) to 1e-9 relative as
their summation order changes, and KLL sketches, which are randomised and whose bytes depend on the merge
order, by their item count here and by their rank error against the raw values in the last test.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

import loopwise as lw
from loopwise.metrics import performance as perf
from loopwise.profiles import NumericProfile
from loopwise.profiles.compact import counts_state

N = 4000
CHUNKS = 5


def _numeric(rng: np.random.Generator, n: int) -> pd.Series:
    x = pd.Series(rng.lognormal(0, 1, n))
    x[rng.random(n) < 0.05] = np.nan
    return x


def _categorical(rng: np.random.Generator, n: int) -> pd.Series:
    x = pd.Series(rng.choice(["a", "b", "c", "ü", ""], n, p=[0.4, 0.3, 0.15, 0.1, 0.05]), dtype=object)
    x[rng.random(n) < 0.05] = None
    return x


def _boolean(rng: np.random.Generator, n: int) -> pd.Series:
    x = pd.Series(rng.random(n) < 0.3, dtype="boolean")
    x[rng.random(n) < 0.05] = pd.NA
    return x


def _text(rng: np.random.Generator, n: int) -> pd.Series:
    x = pd.Series(["ab" * k for k in rng.poisson(4, n)], dtype=object)
    x[rng.random(n) < 0.05] = None
    return x


def _datetime(rng: np.random.Generator, n: int) -> pd.Series:
    x = pd.Series(pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s"))
    x[rng.random(n) < 0.05] = pd.NaT
    return x


#: A generator of each column kind's data, with missing values.
COLUMNS: dict[str, Callable[[np.random.Generator, int], pd.Series]] = {
    "numeric": _numeric,
    "categorical": _categorical,
    "boolean": _boolean,
    "text": _text,
    "datetime": _datetime,
}
TASKS = ("classification", "regression")
KINDS = [k.value for k in lw.Kind if k.value in COLUMNS] + [f"task:{t}" for t in TASKS]


def _frame(kind: str, n: int = N, seed: int = 0) -> tuple[pd.DataFrame, lw.Schema]:
    rng = np.random.default_rng(seed)
    if kind in COLUMNS:
        return pd.DataFrame({"v": COLUMNS[kind](rng, n)}), lw.Schema.from_dict(
            {"columns": {"v": {"kind": kind}}}
        )
    y = pd.Series(rng.random(n) < 0.3, dtype="boolean")
    if kind == "task:classification":
        s = np.clip(0.3 + 0.4 * (y.to_numpy(bool) - 0.3) + rng.normal(0, 0.2, n), 0, 1)
        y[rng.random(n) < 0.1] = pd.NA  # labels not arrived yet
        spec = {"y": {"role": "target", "kind": "boolean"}, "pred": {"role": "prediction", "kind": "boolean"}}
        spec["score"] = {"role": "score", "kind": "numeric", "label": "true"}
        return pd.DataFrame({"y": y, "pred": s >= 0.5, "score": s}), lw.Schema.from_dict({"columns": spec})
    t = pd.Series(rng.lognormal(1, 0.5, n))
    t[rng.random(n) < 0.1] = np.nan
    df = pd.DataFrame({"y": t, "pred": t.fillna(3.0) * rng.normal(1, 0.2, n)})
    spec = {"y": {"role": "target", "kind": "numeric"}, "pred": {"role": "prediction", "kind": "numeric"}}
    return df, lw.Schema.from_dict({"columns": spec})


# -- equal state ------------------------------------------------------------------------------------
def _parts(p: lw.Profile) -> Iterator[tuple[str, Any]]:
    yield from p.columns.items()
    if p.task is not None:
        yield "task", p.task


#: Kinds whose inner numeric profile (text lengths, datetime seconds) is not anchored on a reference: each
#: profile bins it on its own edges, so merging profiles of parts keeps its counts, moments, exact value
#: counts and sketch, but not its histogram (docs/profiles.md, "Merging").
UNANCHORED = {"text": "lengths", "datetime": "seconds"}


def _sketches(part: Any) -> tuple[list[Any], list[Any]]:
    """The KLL and the HLL sketches inside a column or task profile."""
    holders = [part, getattr(part, "lengths", None), getattr(part, "seconds", None)]
    kll = [h.kll for h in holders if isinstance(h, NumericProfile)]
    if hasattr(part, "error_sketch"):
        kll.append(part.error_sketch)
    hll = [part.hll] if hasattr(part, "hll") else []
    return kll, hll


def _state(part: Any, drop_inner_hist: bool) -> tuple[dict[str, Any], list[Any], list[int], list[float]]:
    """to_state() without the sketches' bytes, which depend on the order items came in (and HLL's on a
    round trip), but with what they summarise: KLL item counts and HLL distinct estimates."""
    meta, blobs = part.to_state()
    kll, hll = _sketches(part)
    skip = {bytes(k.serialize()) for k in kll} | {bytes(h.serialize_compact()) for h in hll}
    inner_name = UNANCHORED.get(part.kind.value) if hasattr(part, "kind") else None
    if drop_inner_hist and inner_name is not None:
        inner = getattr(part, inner_name)
        if inner.hist is not None:
            skip |= {inner.hist.edges.astype("<f8").tobytes(), *counts_state(inner.hist.counts)[2]}
        kept = {k: v for k, v in meta[inner_name].items() if k not in ("hist", "width", "nz")}
        meta = {**meta, inner_name: kept}
    # Exact category counts are a JSON object, its keys in first-seen order: compared as a mapping.
    rest = [_decoded(blob) for blob in blobs if blob not in skip]
    return meta, rest, [k.n for k in kll], [h.get_estimate() for h in hll]


def _decoded(blob: bytes) -> Any:
    if blob.startswith(b"{"):
        with contextlib.suppress(ValueError):
            return json.loads(blob)
    return blob


def _assert_close(a: Any, b: Any, where: str) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a, key=str) == sorted(b, key=str), where
        for k in a:
            _assert_close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and not isinstance(b, bool):
        assert b == pytest.approx(a, rel=1e-9, abs=1e-9, nan_ok=True), where
    else:
        assert a == b, where


def assert_same_state(a: lw.Profile, b: lw.Profile, *, drop_inner_hist: bool = False) -> None:
    assert a.n == b.n
    pa_, pb = dict(_parts(a)), dict(_parts(b))
    assert pa_.keys() == pb.keys()
    for name, x in pa_.items():
        y = pb[name]
        assert type(x) is type(y), name
        (mx, bx, kx, hx), (my, by, ky, hy) = _state(x, drop_inner_hist), _state(y, drop_inner_hist)
        _assert_close(mx, my, name)
        assert kx == ky, f"{name}: KLL item counts"
        assert hy == pytest.approx(hx, rel=1e-9), f"{name}: HLL distinct estimates"
        assert len(bx) == len(by), name
        if name == "task":  # float sums per bin (calibration), summed in a different order
            for u, v in zip(bx, by, strict=True):
                assert isinstance(u, bytes) and isinstance(v, bytes)
                np.testing.assert_allclose(np.frombuffer(u, "<f8"), np.frombuffer(v, "<f8"), rtol=1e-9)
        else:
            assert bx == by, f"{name}: counts, edges and atoms"


def _profile(df: pd.DataFrame, schema: lw.Schema, reference: lw.Profile | None = None) -> lw.Profile:
    return lw.profile(df, schema, reference=reference)


@pytest.fixture(scope="module", params=KINDS)
def case(request: pytest.FixtureRequest) -> tuple[str, pd.DataFrame, lw.Schema, lw.Profile]:
    df, schema = _frame(request.param)
    return request.param, df, schema, _profile(df, schema)


def _thirds(df: pd.DataFrame, schema: lw.Schema, whole: lw.Profile) -> list[lw.Profile]:
    # Anchored on the whole's histogram edges, as a current is on its reference: shared edges merge exactly.
    cuts = [0, 700, 2600, len(df)]
    return [_profile(df.iloc[a:b], schema, reference=whole) for a, b in itertools.pairwise(cuts)]


def test_the_empty_profile_is_the_identity(case: tuple[str, pd.DataFrame, lw.Schema, lw.Profile]) -> None:
    _kind, _df, schema, p = case
    for empty in (lw.Profile.empty(schema), lw.Profile.empty(schema, reference=p)):
        assert_same_state(empty.merge(p), p)
        assert_same_state(p.merge(empty), p)
    assert_same_state(lw.merge([lw.Profile.empty(schema), p, lw.Profile.empty(schema)]), p)


def test_merge_is_associative_and_commutative(case: tuple[str, pd.DataFrame, lw.Schema, lw.Profile]) -> None:
    _kind, df, schema, whole = case
    a, b, c = _thirds(df, schema, whole)
    assert_same_state(a.merge(b).merge(c), a.merge(b.merge(c)))
    assert_same_state(a.merge(b), b.merge(a))
    assert_same_state(lw.merge([c, a, b]), a.merge(b).merge(c))


def test_merging_per_chunk_profiles_equals_profiling_the_whole(
    case: tuple[str, pd.DataFrame, lw.Schema, lw.Profile],
) -> None:
    kind, df, schema, whole = case
    chunks = [
        _profile(df.iloc[rows], schema, reference=whole)
        for rows in np.array_split(np.arange(len(df)), CHUNKS)
    ]
    pairwise = chunks[0]
    for part in chunks[1:]:
        pairwise = pairwise.merge(part)
    unanchored = UNANCHORED.get(kind)
    for merged in (lw.merge(chunks), pairwise):
        assert_same_state(merged, whole, drop_inner_hist=unanchored is not None)
        if unanchored is not None:
            assert getattr(merged["v"], unanchored).hist is None  # chunks binned on their own edges


def test_bytes_round_trip(case: tuple[str, pd.DataFrame, lw.Schema, lw.Profile]) -> None:
    _kind, _df, _schema, p = case
    back = lw.Profile.from_bytes(p.to_bytes())
    assert back.to_dict() == p.to_dict()
    assert_same_state(back, p)
    # Not byte for byte: an HLL sketch may write its hashes in another order after a read, which does not
    # change what it holds (assert_same_state compares its estimate). Twice round is still the same state.
    assert_same_state(lw.Profile.from_bytes(back.to_bytes()), p)
    # A profile read back still merges: with itself, it counts every row twice.
    assert back.merge(p).n == 2 * p.n


def _finite(s: pd.Series) -> np.ndarray:
    x = s.to_numpy(dtype=float, na_value=np.nan)
    return x[np.isfinite(x)]


def _assert_numeric(col: NumericProfile, x: np.ndarray) -> None:
    """The profile of finite values ``x``: moments as NumPy has them, quantiles within the rank error."""
    assert col.count == x.size
    assert col.moments.mean == pytest.approx(x.mean(), rel=1e-9)
    assert col.moments.variance == pytest.approx(x.var(ddof=1), rel=1e-9)
    assert (col.moments.min, col.moments.max) == (x.min(), x.max())
    ranks = np.linspace(0.05, 0.95, 19)
    s = np.sort(x)
    lo = np.searchsorted(s, col.quantiles(ranks), side="left") / s.size
    hi = np.searchsorted(s, col.quantiles(ranks), side="right") / s.size
    assert np.all(lo - col.rank_error - 1 / s.size <= ranks) and np.all(ranks <= hi + col.rank_error)


def test_the_whole_holds_what_numpy_counts_on_the_raw_rows(
    case: tuple[str, pd.DataFrame, lw.Schema, lw.Profile],
) -> None:
    kind, df, schema, p = case
    assert p.n == len(df)
    if kind.startswith("task:"):
        assert p.task is not None
        labelled = df["y"].notna()
        assert (p.task.n, p.task.n_labeled) == (len(df), int(labelled.sum()))
        exact = [n for n in perf.names(p.task.task) if perf.compute(n, p.task, schema).exact]
        chunks = lw.merge(
            [_profile(df.iloc[r], schema, reference=p) for r in np.array_split(np.arange(len(df)), CHUNKS)]
        )
        assert chunks.task is not None
        for name in exact:  # each against scikit-learn in tests/metrics/test_performance_contract.py
            want = perf.compute(name, p.task, schema).value
            assert perf.compute(name, chunks.task, schema).value == pytest.approx(want, rel=1e-9), name
        return
    col, v = p["v"], df["v"]
    assert (col.n, col.missing) == (len(df), int(v.isna().sum()))
    if kind == "numeric":
        assert isinstance(col, NumericProfile)
        _assert_numeric(col, _finite(v))
        assert col.hist is not None and col.hist.n == col.count
    elif kind == "categorical":
        assert col.frequencies() == v.dropna().value_counts().to_dict()
    elif kind == "boolean":
        assert col.true == int(v.sum())
    elif kind == "text":
        _assert_numeric(col.lengths, v.dropna().str.len().to_numpy(dtype=float))
    elif kind == "datetime":
        seconds = (v.dropna() - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
        _assert_numeric(col.seconds, seconds)
    else:
        pytest.fail(f"no independent answer for kind {kind!r}: add one here")


def test_every_kind_has_a_generator() -> None:
    missing = {k.value for k in lw.Kind} - set(COLUMNS)
    assert not missing, f"add a data generator for kind(s) {sorted(missing)} to COLUMNS"
