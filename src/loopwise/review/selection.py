"""A review Policy, and the selection of a window's events for review with known inclusion probabilities.

The design is Poisson sampling: every row is drawn independently, with its own probability, so that
probability is known exactly and the reviewed sample can be weighted back into estimates of the whole
window (loopwise.review.estimates).

1. The budget B is ``tasks`` per window, or ``share`` of the window's rows (at most the window).
2. Each selector s gets B·share_s and returns per-row probabilities p_si summing to at most that.
3. A row's inclusion probability is π_i = min(1, c·Σ_s p_si), with c ≥ 1 the constant that brings Σ π_i
   back to B (mass lost where selectors overlap, or where one had fewer eligible rows than its share,
   goes to the other selectors' rows in proportion: mostly to the random slice, whose rows are not
   already certain). So the budget is met in expectation.
4. One uniform U_i per row: the row is selected when U_i < π_i. [0, π_i) is laid out as the random
   slice first, [0, c·p_random,i), then the other selectors' parts in proportion to their p_si; the part
   U_i falls in names the row's selector. A row's ``selector_probability`` is the length of that part:
   the random slice on its own is then a uniform Poisson sample of the window with probability
   c·B·share_random/N, which gives the random-only estimate beside the combined one.

A Policy without a random slice is refused unless ``allow_no_random=True``: without it, rows no selector
favours have π = 0, and no weighting can bring them back into an estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from loopwise._lazy import lazy
from loopwise.errors import DataError, EmptyDataError, ParameterError
from loopwise.review.selectors import Selector
from loopwise.schema import DataLike, to_table

if TYPE_CHECKING:
    import pandas as pd
else:
    pd = lazy("pandas")

#: The smallest share of the budget the random slice may have unless a Policy says otherwise.
MIN_RANDOM_SHARE = 0.1

#: The columns a Selection adds to the selected events.
ADDED = ("window_row", "selector", "inclusion_probability", "selector_probability")


def rescale(t: np.ndarray, target: float) -> tuple[np.ndarray, float]:
    """π = min(1, c·t) with the smallest c ≥ 1 for which Σ π reaches ``target`` (or every row with t > 0
    is certain); returns π and c.

    Example:
        >>> pi, c = rescale(np.array([2.0, 0.5, 0.5]), 3.0)
        >>> pi.tolist(), c
        ([1.0, 1.0, 1.0], 2.0)
    """
    pi = np.minimum(1.0, t)
    positive = t > 0
    target = min(target, float(positive.sum()))
    if pi.sum() >= target - 1e-12:
        return pi, 1.0
    s = np.sort(t[positive])[::-1]
    # With the m largest capped at 1, c = (target - m) / (sum of the others); the right m is the first
    # whose next row stays below 1 at that c.
    rest = s.sum() - np.concatenate(([0.0], np.cumsum(s)[:-1]))
    m = np.arange(s.size)
    c_m = (target - m) / rest
    ok = np.flatnonzero((c_m > 0) & (c_m * s <= 1.0 + 1e-12))  # never empty: m = size - 1 qualifies
    c = max(1.0, float(c_m[ok[0]]))
    return np.minimum(1.0, c * t), c


def _is_random(selector: Selector) -> bool:
    return getattr(selector, "kind", selector.name) == "random"


@dataclass(frozen=True)
class Policy:
    """A label budget and a mixture of selectors with shares summing to 1.

    ``tasks``: expected tasks per window; or ``share``: expected tasks as a share of the window's rows.
    ``min_random_share``: the least share the ``random`` selector may have (10% by default); a policy with
    no random selector, or a smaller one, is refused unless ``allow_no_random=True``.

    Example:
        >>> from loopwise.review import Policy, Random, Uncertainty
        >>> Policy([Uncertainty(0.7, scores=["p_bad"]), Random(0.3)], tasks=100).budget(5000)
        100.0
    """

    selectors: Sequence[Selector]
    tasks: float | None = None
    share: float | None = None
    allow_no_random: bool = False
    min_random_share: float = MIN_RANDOM_SHARE

    def __post_init__(self) -> None:
        object.__setattr__(self, "selectors", tuple(self.selectors))
        if (self.tasks is None) == (self.share is None):
            raise ParameterError(
                "tasks", self.tasks, "given, or else share= (one of the two): the label budget"
            )
        if self.tasks is not None and not self.tasks > 0:
            raise ParameterError("tasks", self.tasks, "a positive expected number of tasks per window")
        if self.share is not None and not 0 < self.share <= 1:
            raise ParameterError("share", self.share, "a share of the window's traffic in (0, 1]")
        if not self.selectors:
            raise ParameterError("selectors", [], "at least one selector (random, uncertainty, ...)")
        names = [s.name for s in self.selectors]
        if len(set(names)) != len(names):
            raise ParameterError("selectors", names, "selectors with distinct names (give each a name=)")
        total = sum(s.share for s in self.selectors)
        if abs(total - 1.0) > 1e-9:
            raise ParameterError(
                "selectors",
                {n: s.share for n, s in zip(names, self.selectors, strict=True)},
                f"shares summing to 1 (they sum to {total:g})",
            )
        randoms = [s for s in self.selectors if _is_random(s)]
        if len(randoms) > 1:
            raise ParameterError("selectors", names, "at most one random selector")
        random = sum(s.share for s in randoms)
        if not self.allow_no_random and random < self.min_random_share - 1e-12:
            raise ParameterError(
                "selectors",
                names,
                f"a random selector with at least {self.min_random_share:.0%} of the budget (it has "
                f"{random:.0%}): without one, rows no selector favours can never be reviewed and estimates "
                "from reviews are biased; pass allow_no_random=True to accept that",
            )

    def budget(self, rows: int) -> float:
        """The expected number of tasks for a window of ``rows`` events."""
        wanted = float(self.tasks) if self.tasks is not None else float(self.share or 0.0) * rows
        return min(wanted, float(rows))

    def probabilities(self, data: DataLike) -> tuple[np.ndarray, np.ndarray, float]:
        """Per-selector probabilities (rows × selectors) before rescaling, the rescaled inclusion
        probabilities π, and the rescaling constant c, for a window of events."""
        table = to_table(data)
        return self._probabilities(table)

    def _probabilities(self, table: pa.Table) -> tuple[np.ndarray, np.ndarray, float]:
        n = table.num_rows
        if n == 0:
            raise EmptyDataError("no events in the window to select from")
        budget = self.budget(n)
        parts = np.column_stack([s.probabilities(table, budget * s.share) for s in self.selectors])
        pi, c = rescale(parts.sum(axis=1), budget)
        return parts, pi, c

    def select(self, data: DataLike, *, seed: int | np.random.Generator | None = None) -> Selection:
        """Draw the window's review tasks: a Selection of the chosen rows with their selector and
        inclusion probability (see the module docstring for the design)."""
        table = to_table(data)
        clash = [c for c in ADDED if c in table.column_names]
        if clash:
            raise DataError(f"the events already have column {clash[0]!r}, which a Selection adds")
        parts, pi, c = self._probabilities(table)
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        u = rng.random(table.num_rows)
        chosen = np.flatnonzero(u < pi)
        # The layout of [0, pi): the random slice first, then the others in proportion to their parts.
        is_random = np.array([_is_random(s) for s in self.selectors])
        q = np.minimum(pi, c * parts[:, is_random].sum(axis=1))
        other = parts[:, ~is_random]
        other_sum = other.sum(axis=1)
        share = np.divide(other, other_sum[:, None], out=np.zeros_like(other), where=other_sum[:, None] > 0)
        layout = np.column_stack([q, share * (pi - q)[:, None]])
        randoms = [s.name for s in self.selectors if _is_random(s)]
        labels = [randoms[0] if randoms else "", *[s.name for s in self.selectors if not _is_random(s)]]
        ends = np.cumsum(layout[chosen], axis=1)
        slot = np.minimum((u[chosen, None] >= ends).sum(axis=1), layout.shape[1] - 1)
        rows = table.take(pa.array(chosen)).to_pandas()
        rows.insert(0, "window_row", chosen)
        rows["selector"] = np.asarray(labels, dtype=object)[slot]
        rows["inclusion_probability"] = pi[chosen]
        rows["selector_probability"] = layout[chosen, slot]
        expected = {label: float(layout[:, j].sum()) for j, label in enumerate(labels) if label}
        return Selection(rows, table.num_rows, self.budget(table.num_rows), pi, expected, c, labels[0])


@dataclass(frozen=True)
class Selection:
    """The rows a Policy chose from a window, each with its selector and probabilities.

    ``rows``: the chosen events with ``window_row`` (position in the window), ``selector``,
    ``inclusion_probability`` (π: the chance the row was chosen at all) and ``selector_probability``
    (the chance it was chosen by that selector). ``probabilities``: π for every row of the window.
    ``expected``: the expected number of tasks per selector; ``scale``: the rescaling constant c;
    ``random``: the random selector's name ("" when the policy has none).
    """

    rows: pd.DataFrame
    window_rows: int
    budget: float
    probabilities: np.ndarray = field(repr=False)
    expected: dict[str, float]
    scale: float
    random: str

    def __len__(self) -> int:
        return len(self.rows)

    def summary(self) -> dict[str, Any]:
        """Window size, budget, tasks drawn and expected, per selector."""
        drawn = self.rows["selector"].value_counts().to_dict()
        return {
            "window_rows": self.window_rows,
            "budget": self.budget,
            "tasks": len(self.rows),
            "by_selector": {
                k: {"expected": v, "drawn": int(drawn.get(k, 0))} for k, v in self.expected.items()
            },
        }
