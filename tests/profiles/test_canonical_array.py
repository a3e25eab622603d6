"""``canonical_array`` gives, for any sequence, the keys ``canonical`` gives value by value (its Arrow path
for booleans, integers and strings, its fallback for anything else), nulls for None."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from loopwise.profiles.canonical import canonical, canonical_array

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.binary(max_size=3),
    st.integers(-5, 5).map(np.int64),
    st.booleans().map(np.bool_),
    st.floats(-1e3, 1e3).map(np.float64),
)


def _expected(values: list[Any]) -> list[str | None]:
    return [None if v is None else canonical(v) for v in values]


@settings(max_examples=300, deadline=None)
@given(st.lists(SCALARS, max_size=12))
def test_any_mix_has_the_keys_canonical_gives(values: list[Any]) -> None:
    assert canonical_array(values).to_pylist() == _expected(values)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from([st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=4)]).flatmap(
        lambda kind: st.lists(st.one_of(st.none(), kind), max_size=30)
    )
)
def test_one_kind_each_the_arrow_path(values: list[Any]) -> None:
    assert canonical_array(values).to_pylist() == _expected(values)


def test_a_million_numpy_booleans_as_the_per_value_keys() -> None:
    values = list(np.random.default_rng(0).random(1_000_000) > 0.5)
    assert canonical_array(values).to_pylist() == _expected(values)
