"""How far each row lies from the reference: out-of-range values, unseen categories, low reference density.

Per column, a row's value gets a tail probability under the reference: the share of the reference's
values that are at most as typical as it. "Typical" is the reference's density: for a numeric column,
the density of the fine histogram bin the value falls in (the reference Profile's quantile bins, each
holding about 0.1% of its values, so a wide bin is a sparse region, in the tails or in a gap between two
modes; the density is averaged over five neighbouring bins to steady it); for a numeric column of few
distinct values (counted exactly by the Profile), a categorical or a boolean column, the value's share,
so a value the reference never had is novel even inside its range. A value outside the reference's range,
or a category the reference never saw, has tail 0; a value in the densest region has tail 1.

A row's novelty combines its columns as Fisher's method combines p-values: Σ -log(tail'), with
tail' = (n·tail + 1)/(n + 1) over the reference's n values of that column (so an unseen value counts as
one part in n + 1, finite, and several novel columns rank a row above one). Missing values add nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopwise.errors import DataError, ParameterError, did_you_mean
from loopwise.profiles import BooleanProfile, CategoricalProfile, NumericProfile, Profile
from loopwise.profiles.canonical import canonical_keys
from loopwise.schema import Role

#: Fine bins on each side of a value's bin over which the reference's density is taken.
SMOOTH = 2


def numbers(table: pa.Table, name: str) -> np.ndarray:
    """A column as float64 with nulls as NaN."""
    col = table.column(name)
    if pa.types.is_dictionary(col.type):
        col = pc.cast(col, col.type.value_type)
    try:
        floats = pc.cast(col, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise DataError(f"column {name!r} must hold numbers; it holds {col.type}") from None
    return np.asarray(pc.fill_null(floats, np.nan).to_numpy(), dtype=np.float64)


def require(table: pa.Table, name: str, what: str) -> None:
    """A DataError naming a column the selection needs and the frame lacks."""
    if name not in table.column_names:
        hint = did_you_mean(name, table.column_names)
        raise DataError(f"{what} needs column {name!r}, which the events do not have{hint}")


def _density_tails(density: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """For each bin, the share of mass in bins of density at most its own."""
    order = np.argsort(density, kind="stable")
    sorted_density = density[order]
    cum = np.cumsum(mass[order])
    # Equal densities share one tail: the cumulative mass through the last bin of that density.
    last = np.searchsorted(sorted_density, sorted_density, side="right") - 1
    tails = np.empty_like(density)
    tails[order] = cum[last] / max(float(mass.sum()), 1.0)
    return np.asarray(tails)


def _numeric_tails(col: NumericProfile, x: np.ndarray) -> tuple[np.ndarray, int]:
    finite = np.isfinite(x)
    tails = np.ones(x.size)
    n = col.count
    if n == 0:
        return tails, 0
    lo, hi = col.moments.min, col.moments.max
    outside = finite & ((x < lo) | (x > hi))
    inside = finite & ~outside
    atoms = col.atoms
    if atoms is not None and atoms.values.size > 0:  # few distinct values, counted exactly: as categories
        value_tails = _density_tails(atoms.counts.astype(np.float64), atoms.counts.astype(np.float64))
        at = np.clip(np.searchsorted(atoms.values, x[inside]), 0, atoms.values.size - 1)
        tails[inside] = np.where(atoms.values[at] == x[inside], value_tails[at], 0.0)
    elif col.hist is not None and col.hist.edges.size >= 2:
        edges, counts = col.hist.edges, col.hist.counts.astype(np.float64)
        widths = np.diff(edges)
        kept = widths > 0  # quantile edges repeat where values pile up; such empty bins hold nothing
        interior, widths, left = counts[1:-1][kept], widths[kept], edges[:-1][kept]
        # One fine bin holds about 0.1% of the reference, too few values for a steady density (at 50,000
        # rows the lowest counted bins are mostly unlucky ones, which makes fresh data look novel): the
        # density is taken over a bin and its neighbours, SMOOTH on each side.
        window = np.ones(min(2 * SMOOTH + 1, interior.size))
        density = np.convolve(interior, window, "same") / np.convolve(widths, window, "same")
        bin_tails = _density_tails(density, interior)
        j = np.clip(np.searchsorted(left, x[inside], side="right") - 1, 0, interior.size - 1)
        tails[inside] = bin_tails[j]
    else:  # no histogram (a merged profile without anchors): the two-sided quantile tail instead
        cdf = np.asarray(col.cdf(x[inside]), dtype=np.float64)
        tails[inside] = 2.0 * np.minimum(cdf, 1.0 - cdf)
    tails[outside] = 0.0
    return tails, n


def _category_tails(counts: dict[str, int], keys: list[str | None]) -> tuple[np.ndarray, int]:
    names = list(counts)
    mass = np.asarray([counts[k] for k in names], dtype=np.float64)
    n = int(mass.sum())
    by_key = dict(zip(names, _density_tails(mass, mass), strict=True))
    tails = np.asarray([1.0 if k is None else by_key.get(k, 0.0) for k in keys], dtype=np.float64)
    return tails, n


def novelty_scores(table: pa.Table, reference: Profile, columns: Sequence[str] | None = None) -> np.ndarray:
    """Each row's novelty against ``reference`` (higher is further; see the module docstring).

    ``columns``: the columns to compare, by default the reference's feature columns present in ``table``
    (numeric, categorical and boolean ones; text and datetime columns are not scored).
    """
    if columns is None:
        names = [c.name for c in reference.schema if c.role is Role.FEATURE and c.name in table.column_names]
    else:
        names = list(columns)
        for name in names:
            if name not in reference.columns:
                raise ParameterError(
                    "columns", name, f"columns of the reference ({', '.join(reference.columns)})"
                )
            require(table, name, "novelty")
    score = np.zeros(table.num_rows)
    for name in names:
        col = reference.columns.get(name)
        if isinstance(col, NumericProfile):
            tails, n = _numeric_tails(col, numbers(table, name))
        elif isinstance(col, CategoricalProfile):
            tails, n = _category_tails(col.frequencies(), canonical_keys(table.column(name)))
        elif isinstance(col, BooleanProfile):
            counts = {"true": col.true, "false": col.n - col.missing - col.true}
            tails, n = _category_tails(counts, canonical_keys(table.column(name)))
        else:
            continue
        if n > 0:
            score += -np.log((n * tails + 1.0) / (n + 1.0))
    return score
