"""Agreement between raters: Cohen's κ (two raters), Fleiss' κ (many), Krippendorff's α (any, with gaps).

Each is a chance-corrected agreement, 1 for perfect agreement and 0 for agreement no better than
chance (negative when worse). All three are undefined when the ratings use a single category (chance
agreement is then perfect and the ratio is 0/0): that raises NotComputableError, never a silent nan.

Missing ratings (None, NaN, pandas NA) are treated as follows:

- ``cohen_kappa`` drops an item that either rater left out (pairwise deletion);
- ``fleiss_kappa`` allows gaps only when every item still has the same number of ratings (Fleiss's
  formula needs it; different raters per item are fine), else a DataError that points at α;
- ``krippendorff_alpha`` uses every item with at least two ratings, which is what α is built for.

Ratings are given one row per item and one column per rater (as ``statsmodels``'s ``aggregate_raters``
takes them; the ``krippendorff`` package takes the transpose).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from loopwise._lazy import lazy
from loopwise.errors import DataError, EmptyDataError, NotComputableError, ParameterError

if TYPE_CHECKING:
    import pandas as pd
else:
    pd = lazy("pandas")

Weights = Literal["none", "linear", "quadratic"]
Level = Literal["nominal", "ordinal", "interval", "ratio"]
WEIGHTS = ("none", "linear", "quadratic")
LEVELS = ("nominal", "ordinal", "interval", "ratio")


@dataclass(frozen=True)
class Agreement:
    """One agreement statistic: its method, value, and how much data it rests on.

    ``float(result)`` is the value. ``items`` counts the items that entered the statistic (after missing
    ratings were dropped), ``ratings`` the ratings among them.
    """

    method: str
    value: float
    items: int
    raters: int
    ratings: int
    categories: tuple[Any, ...]

    def __float__(self) -> float:
        return self.value

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (categories as given)."""
        return {
            "method": self.method,
            "value": self.value,
            "items": self.items,
            "raters": self.raters,
            "ratings": self.ratings,
            "categories": list(self.categories),
        }


def _is_missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, float | np.floating) and math.isnan(v)


def _categories(values: Sequence[Any], given: Sequence[Hashable] | None, name: str) -> list[Any]:
    """The ordered categories: as given (each value must be one), else the sorted distinct values."""
    seen = list(dict.fromkeys(values))
    if given is not None:
        order = list(given)
        if len(set(order)) != len(order):
            raise ParameterError(name, order, "distinct categories")
        unknown = [v for v in seen if v not in set(order)]
        if unknown:
            raise DataError(f"ratings hold {unknown[0]!r}, which is not among the categories given ({order})")
        return order
    try:
        return sorted(seen)
    except TypeError:  # mixed types cannot be ordered; keep first-seen order (only nominal use needs it)
        return seen


def _canonical(v: Any) -> Any:
    """NumPy scalars as Python ones, so 1 and np.int64(1) are one category."""
    return v.item() if isinstance(v, np.generic) else v


def cohen_kappa(
    rater_a: Sequence[Any] | np.ndarray | pd.Series,
    rater_b: Sequence[Any] | np.ndarray | pd.Series,
    *,
    weights: Weights = "none",
    categories: Sequence[Hashable] | None = None,
) -> Agreement:
    """Cohen's κ between two raters' labels of the same items, optionally weighted for ordered labels.

    ``weights``: "none" (every disagreement counts 1), "linear" (|i - j| between the categories' ranks)
    or "quadratic" ((i - j)²); the rank order is ``categories`` when given, else the sorted labels.
    Items either rater left out are dropped. Equals ``sklearn.metrics.cohen_kappa_score``.

    Example:
        >>> cohen_kappa(["a", "b", "b", "a"], ["a", "b", "a", "a"]).value
        0.5
    """
    if weights not in WEIGHTS:
        raise ParameterError("weights", weights, WEIGHTS)
    a = [_canonical(v) for v in rater_a]
    b = [_canonical(v) for v in rater_b]
    if len(a) != len(b):
        raise DataError(f"the two raters rated different numbers of items ({len(a)} and {len(b)})")
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if not (_is_missing(x) or _is_missing(y))]
    if not pairs:
        raise EmptyDataError("no item was rated by both raters")
    cats = _categories([v for p in pairs for v in p], categories, "categories")
    index = {c: i for i, c in enumerate(cats)}
    k = len(cats)
    confusion = np.zeros((k, k))
    np.add.at(confusion, ([index[x] for x, _ in pairs], [index[y] for _, y in pairs]), 1.0)
    expected = np.outer(confusion.sum(1), confusion.sum(0)) / len(pairs)
    rank = np.arange(k)
    if weights == "none":
        w = 1.0 - np.eye(k)
    elif weights == "linear":
        w = np.abs(rank[:, None] - rank[None, :]).astype(float)
    else:
        w = ((rank[:, None] - rank[None, :]) ** 2).astype(float)
    chance = float((w * expected).sum())
    if chance == 0.0:
        raise NotComputableError(
            f"Cohen's kappa is undefined: both raters used only the category {pairs[0][0]!r} "
            "(chance agreement is perfect)"
        )
    value = 1.0 - float((w * confusion).sum()) / chance
    method = "cohen_kappa" if weights == "none" else f"cohen_kappa_{weights}"
    return Agreement(method, value, len(pairs), 2, 2 * len(pairs), tuple(cats))


def _matrix(ratings: Any) -> list[list[Any]]:
    """Items × raters as lists of Python values (a DataFrame, a 2-D array or nested sequences)."""
    if isinstance(ratings, pd.DataFrame):
        rows = ratings.astype(object).to_numpy().tolist()
    else:
        arr = np.asarray(ratings, dtype=object)
        if arr.ndim != 2:
            raise DataError(f"ratings must be a table of items × raters; got {arr.ndim} dimension(s)")
        rows = arr.tolist()
    if not rows or not rows[0]:
        raise EmptyDataError("no ratings: the table has no items or no raters")
    return [[_canonical(v) for v in row] for row in rows]


def _counts(rows: list[list[Any]], categories: Sequence[Hashable] | None) -> tuple[np.ndarray, list[Any]]:
    """Items × categories counts of the ratings present, and the categories in order."""
    present = [v for row in rows for v in row if not _is_missing(v)]
    if not present:
        raise EmptyDataError("no ratings: every cell is missing")
    cats = _categories(present, categories, "categories")
    index = {c: i for i, c in enumerate(cats)}
    counts = np.zeros((len(rows), len(cats)))
    for i, row in enumerate(rows):
        for v in row:
            if not _is_missing(v):
                counts[i, index[v]] += 1.0
    return counts, cats


def fleiss_kappa(ratings: Any, *, categories: Sequence[Hashable] | None = None) -> Agreement:
    """Fleiss' κ over items each rated by the same number of raters (not necessarily the same raters).

    ``ratings``: one row per item, one column per rater (a DataFrame, array or nested lists), missing
    cells allowed as long as every item keeps the same number of ratings (at least two). Equals
    ``statsmodels.stats.inter_rater.fleiss_kappa(aggregate_raters(ratings)[0])``.

    Example:
        >>> round(fleiss_kappa([["a", "a", "a"], ["b", "b", "a"], ["b", "b", "b"], ["a", "b", "a"]]).value, 4)
        0.3333
    """
    rows = _matrix(ratings)
    counts, cats = _counts(rows, categories)
    per_item = counts.sum(1)
    m = per_item[0]
    uneven = np.flatnonzero(per_item != m)
    if uneven.size:
        i = int(uneven[0])
        raise DataError(
            f"Fleiss' kappa needs the same number of ratings per item: item {i} has {int(per_item[i])}, "
            f"item 0 has {int(m)}; use krippendorff_alpha, which allows missing ratings"
        )
    if m < 2:
        raise DataError(f"Fleiss' kappa needs at least two ratings per item; each item has {int(m)}")
    share = counts.sum(0) / counts.sum()
    observed = float(((counts * counts).sum(1) - m).mean() / (m * (m - 1)))
    chance = float((share * share).sum())
    if chance == 1.0:
        raise NotComputableError(
            f"Fleiss' kappa is undefined: every rating is {cats[0]!r} (chance agreement is perfect)"
        )
    value = (observed - chance) / (1.0 - chance)
    return Agreement("fleiss_kappa", value, len(rows), len(rows[0]), int(counts.sum()), tuple(cats))


def _distances(level: str, values: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """δ²(c, k) between the ordered distinct values, for the level of measurement."""
    if level == "nominal":
        return 1.0 - np.eye(values.size)
    if level == "ordinal":
        # Krippendorff's ordinal metric: the ratings lying between c and k, halving the two ends.
        cum = np.concatenate(([0.0], np.cumsum(totals)))
        lo = np.minimum.outer(np.arange(values.size), np.arange(values.size))
        hi = np.maximum.outer(np.arange(values.size), np.arange(values.size))
        between = cum[hi + 1] - cum[lo] - (totals[lo] + totals[hi]) / 2.0
        return np.asarray(between**2)
    diff = np.subtract.outer(values, values)
    if level == "interval":
        return np.asarray(diff**2)
    total = np.add.outer(values, values)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(total == 0, 0.0, diff / np.where(total == 0, 1.0, total))
    return np.asarray(ratio**2)


def krippendorff_alpha(
    ratings: Any,
    *,
    level: Level = "nominal",
    categories: Sequence[Hashable] | None = None,
) -> Agreement:
    """Krippendorff's α over items × raters with any ratings missing, at a level of measurement.

    ``level``: "nominal" (labels), "ordinal" (ordered labels: ``categories`` gives the order, else the
    sorted values), "interval" or "ratio" (numbers). Items with fewer than two ratings carry no
    information about agreement and are left out. Equals ``krippendorff.alpha`` on the transposed table.

    Example:
        >>> krippendorff_alpha([[1, 1], [2, 2], [3, 3], [1, None]], level="interval").value
        1.0
    """
    if level not in LEVELS:
        raise ParameterError("level", level, LEVELS)
    rows = _matrix(ratings)
    counts, cats = _counts(rows, categories)
    if level in ("interval", "ratio"):
        try:
            values = np.asarray(cats, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{level} ratings must be numbers; got categories {cats[:5]}") from None
        if level == "ratio" and np.any(values < 0):
            raise DataError("ratio ratings must be non-negative")
    else:
        values = np.arange(len(cats), dtype=np.float64)
    m = counts.sum(1)
    pairable = m >= 2
    if not pairable.any():
        raise NotComputableError("Krippendorff's alpha needs an item with at least two ratings; none has")
    counts, m = counts[pairable], m[pairable]
    scaled = counts / (m - 1.0)[:, None]
    coincidence = scaled.T @ counts - np.diag(scaled.sum(0))
    totals = coincidence.sum(1)
    n = float(totals.sum())
    delta = _distances(level, values, totals)
    observed = float((coincidence * delta).sum()) / n
    expected = float((np.outer(totals, totals) * delta).sum()) / (n * (n - 1.0))
    if expected == 0.0:
        used = [c for c, t in zip(cats, totals, strict=True) if t > 0]
        raise NotComputableError(
            f"Krippendorff's alpha is undefined: every pairable rating is {used[0]!r} "
            "(expected disagreement is zero)"
        )
    return Agreement(
        f"krippendorff_alpha_{level}",
        1.0 - observed / expected,
        int(pairable.sum()),
        len(rows[0]),
        int(m.sum()),
        tuple(cats),
    )
