"""The selectors a review Policy mixes: each turns a window's events and its share of the label budget into
a probability per row, summing to at most that share.

- ``random``: every row alike (the audit slice that keeps every row's inclusion probability above 0);
- ``uncertainty``: the rows with the smallest margin between the top two class scores, or the widest
  regression intervals;
- ``novelty``: the rows furthest from the reference Profile (loopwise.review.novelty);
- ``segment``: stratified over a segment column, each segment getting at least a floor;
- ``disagreement``: the rows where the champion and a challenger (or shadow) answered differently.

Ranking selectors take the highest-scoring rows with probability 1, and rows tied at the cut-off share
what is left equally, so each probability is known exactly given the window. A row a selector cannot
score (a missing score, no disagreement) is not eligible for it; when fewer rows are eligible than the
share, the selector spends less and the Policy gives the rest to the others (loopwise.review.selection).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopwise.errors import ParameterError, UnknownNameError
from loopwise.profiles import Profile
from loopwise.profiles.canonical import canonical_keys
from loopwise.profiles.profile import MISSING_SEGMENT
from loopwise.review.novelty import novelty_scores, numbers, require


class Selector(Protocol):
    """What a Policy needs of a selector: a unique ``name``, its ``share`` of the budget, and per-row
    probabilities for a window given the expected number of tasks it may spend."""

    @property
    def name(self) -> str:
        """Unique within a Policy; it labels the tasks this selector draws."""
        ...

    @property
    def share(self) -> float:
        """This selector's part of the budget."""
        ...

    def probabilities(self, table: pa.Table, budget: float) -> np.ndarray:
        """One probability per row of ``table``, each in [0, 1], summing to at most ``budget``."""
        ...


def top(scores: np.ndarray, budget: float) -> np.ndarray:
    """Probability 1 for the ``budget`` highest finite scores, the remainder shared equally by the rows
    tied at the cut-off; rows with a NaN score get 0.

    Example:
        >>> top(np.array([0.9, 0.1, 0.5, 0.5, np.nan]), 2).tolist()
        [1.0, 0.0, 0.5, 0.5, 0.0]
    """
    p = np.zeros(scores.size)
    eligible = np.flatnonzero(~np.isnan(scores))
    if budget <= 0 or eligible.size == 0:
        return p
    if eligible.size <= budget:
        p[eligible] = 1.0
        return p
    s = scores[eligible]
    k = math.ceil(budget)
    cut = -np.partition(-s, k - 1)[k - 1]  # the k-th largest score
    above = s > cut
    tied = s == cut
    p[eligible[above]] = 1.0
    p[eligible[tied]] = (budget - int(above.sum())) / int(tied.sum())
    return p


def _share(share: float) -> None:
    if not (isinstance(share, int | float) and 0 < share <= 1):
        raise ParameterError("share", share, "a number in (0, 1]: this selector's part of the budget")


@dataclass(frozen=True)
class Random:
    """A uniform audit slice: every row has the same probability."""

    share: float
    name: str = "random"
    kind: ClassVar[str] = "random"

    def __post_init__(self) -> None:
        _share(self.share)

    def probabilities(self, table: pa.Table, budget: float) -> np.ndarray:
        """``budget / rows`` for every row (1 when the budget covers the window)."""
        n = table.num_rows
        return np.full(n, min(1.0, budget / n) if n else 0.0)


@dataclass(frozen=True)
class Uncertainty:
    """The rows the model is least sure of.

    ``scores``: class-score columns (the smallest margin between the top two is picked first; one column
    is a binary classifier's positive-class score, whose margin is |2p - 1|); or ``lower`` and ``upper``:
    a regression interval's bounds (the widest is picked first).
    """

    share: float
    scores: Sequence[str] = ()
    lower: str | None = None
    upper: str | None = None
    name: str = "uncertainty"
    kind: ClassVar[str] = "uncertainty"

    def __post_init__(self) -> None:
        _share(self.share)
        object.__setattr__(self, "scores", tuple(self.scores))
        interval = self.lower is not None or self.upper is not None
        if bool(self.scores) == interval or (interval and (self.lower is None or self.upper is None)):
            raise ParameterError(
                "scores",
                self.scores,
                "class-score columns, or else both lower= and upper= interval columns (one of the two)",
            )

    def uncertainty(self, table: pa.Table) -> np.ndarray:
        """Per row: minus the top-two margin, or the interval width (higher is less certain)."""
        if self.lower is not None and self.upper is not None:
            require(table, self.lower, "uncertainty")
            require(table, self.upper, "uncertainty")
            return np.asarray(numbers(table, self.upper) - numbers(table, self.lower))
        for c in self.scores:
            require(table, c, "uncertainty")
        if len(self.scores) == 1:
            return np.asarray(-np.abs(2.0 * numbers(table, self.scores[0]) - 1.0))
        s = np.column_stack([numbers(table, c) for c in self.scores])
        two = -np.partition(-s, 1, axis=1)[:, :2]  # NaN anywhere in a row makes its margin NaN
        return np.asarray(-(two[:, 0] - two[:, 1]))

    def probabilities(self, table: pa.Table, budget: float) -> np.ndarray:
        """The least certain rows, up to the budget."""
        return top(self.uncertainty(table), budget)


@dataclass(frozen=True)
class Novelty:
    """The rows furthest from ``reference`` (out of range, unseen categories, sparse regions)."""

    share: float
    reference: Profile = field(repr=False)
    columns: Sequence[str] | None = None
    name: str = "novelty"
    kind: ClassVar[str] = "novelty"

    def __post_init__(self) -> None:
        _share(self.share)
        if not isinstance(self.reference, Profile):
            raise ParameterError("reference", type(self.reference).__name__, "a loopwise Profile")

    def probabilities(self, table: pa.Table, budget: float) -> np.ndarray:
        """The most novel rows, up to the budget."""
        return top(novelty_scores(table, self.reference, self.columns), budget)


@dataclass(frozen=True)
class Segment:
    """Stratified over ``column``: each segment gets at least ``floor`` expected tasks (all its rows when it
    has fewer), and the rest of the share goes to segments in proportion to their size.

    When the floors alone exceed the share, every segment gets an equal part instead (or all its rows,
    when fewer). Rows without a segment value form a segment of their own.
    """

    share: float
    column: str
    floor: float = 10.0
    name: str = "segment"
    kind: ClassVar[str] = "segment"

    def __post_init__(self) -> None:
        _share(self.share)
        if not (isinstance(self.floor, int | float) and self.floor >= 0):
            raise ParameterError("floor", self.floor, "a non-negative number of tasks per segment")

    def allocation(self, sizes: np.ndarray, budget: float) -> np.ndarray:
        """Expected tasks per segment, summing to ``min(budget, rows)``."""
        budget = min(budget, float(sizes.sum()))
        floors = np.minimum(sizes, self.floor)

        def filled(f: Callable[[float], np.ndarray]) -> np.ndarray:
            lo, hi = 0.0, float(sizes.sum()) + 1.0
            for _ in range(200):  # bisection on a monotone allocation, to float precision
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if f(mid).sum() < budget else (lo, mid)
            return f(hi)

        if floors.sum() >= budget:
            return filled(lambda mu: np.minimum(sizes, mu))
        return filled(lambda lam: np.minimum(sizes, np.maximum(floors, lam * sizes / sizes.sum())))

    def probabilities(self, table: pa.Table, budget: float) -> np.ndarray:
        """Each row's segment allocation over the segment's size."""
        require(table, self.column, "segment")
        keys = np.asarray(
            [MISSING_SEGMENT if k is None else k for k in canonical_keys(table.column(self.column))],
            dtype=object,
        )
        values, codes = np.unique(keys.astype(str), return_inverse=True)
        sizes = np.bincount(codes, minlength=values.size).astype(np.float64)
        if sizes.size == 0:
            return np.zeros(0)
        return np.asarray((self.allocation(sizes, budget) / sizes)[codes])


@dataclass(frozen=True)
class Disagreement:
    """The rows where ``champion`` and ``challenger`` (two versions' output columns) differ.

    Labels are compared for equality; numeric outputs (scores, regression predictions) by the size of
    the difference, largest first. Rows where they agree, or either is missing, are not eligible.
    """

    share: float
    champion: str | None = None
    challenger: str | None = None
    name: str = "disagreement"
    kind: ClassVar[str] = "disagreement"

    def __post_init__(self) -> None:
        _share(self.share)
        if not self.champion or not self.challenger:
            raise ParameterError(
                "challenger" if self.champion else "champion",
                self.challenger if self.champion else self.champion,
                "the column holding that version's outputs: disagreement needs both the champion's and a "
                "challenger's (or shadow's) outputs on the same events, and none were given",
            )

    def disagreement(self, table: pa.Table) -> np.ndarray:
        """Per row: how far apart the two outputs are (NaN where they agree or one is missing)."""
        assert self.champion is not None and self.challenger is not None
        require(table, self.champion, "disagreement")
        require(table, self.challenger, "disagreement")
        a, b = table.column(self.champion), table.column(self.challenger)
        if all(pa.types.is_floating(c.type) for c in (a, b)):
            d = np.abs(numbers(table, self.champion) - numbers(table, self.challenger))
        elif a.type == b.type:
            differ = pc.not_equal(a, b)  # null where either is missing
            d = np.asarray(pc.fill_null(pc.cast(differ, pa.float64()), np.nan).to_numpy(), dtype=np.float64)
        else:
            ka, kb = canonical_keys(a), canonical_keys(b)
            d = np.asarray(
                [np.nan if x is None or y is None else float(x != y) for x, y in zip(ka, kb, strict=True)]
            )
        return np.where(d > 0, d, np.nan)

    def probabilities(self, table: pa.Table, budget: float) -> np.ndarray:
        """The most disputed rows, up to the budget."""
        return top(self.disagreement(table), budget)


SELECTORS: dict[str, Callable[..., Selector]] = {
    "random": Random,
    "uncertainty": Uncertainty,
    "novelty": Novelty,
    "segment": Segment,
    "disagreement": Disagreement,
}


def names() -> list[str]:
    """The selector kinds a Policy can mix."""
    return sorted(SELECTORS)


def make(kind: str, share: float, **params: Any) -> Selector:
    """A selector by kind name (as a stored policy or the API names it).

    Example:
        >>> make("segment", 0.2, column="race", floor=20)
        Segment(share=0.2, column='race', floor=20, name='segment')
    """
    if kind not in SELECTORS:
        raise UnknownNameError("selector", kind, SELECTORS)
    return SELECTORS[kind](share=share, **params)
