"""Agreement statistics against independent implementations on seeded random data: scikit-learn's
``cohen_kappa_score``, statsmodels' ``fleiss_kappa`` (after ``aggregate_raters``) and the ``krippendorff``
package's ``alpha``; missing ratings, perfect agreement and a single category included."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from loopwise.errors import DataError, EmptyDataError, NotComputableError, ParameterError
from loopwise.metrics.agreement import cohen_kappa, fleiss_kappa, krippendorff_alpha


def _noisy_raters(rng: np.random.Generator, items: int, raters: int, k: int, noise: float) -> np.ndarray:
    """Raters who each copy a latent true label, or with probability ``noise`` pick one at random."""
    truth = rng.integers(0, k, items)
    out = np.repeat(truth[:, None], raters, axis=1)
    flip = rng.random((items, raters)) < noise
    out[flip] = rng.integers(0, k, int(flip.sum()))
    return out


# -- Cohen's kappa ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("weights", ["none", "linear", "quadratic"])
def test_cohen_kappa_equals_sklearn(seed: int, weights: str) -> None:
    rng = np.random.default_rng(seed)
    r = _noisy_raters(rng, 300, 2, 5, noise=0.3 + 0.1 * seed)
    ours = cohen_kappa(r[:, 0], r[:, 1], weights=weights)  # type: ignore[arg-type]
    theirs = cohen_kappa_score(r[:, 0], r[:, 1], weights=None if weights == "none" else weights)
    assert ours.value == pytest.approx(theirs, abs=1e-12)
    assert float(ours) == ours.value and ours.items == 300 and ours.categories == (0, 1, 2, 3, 4)


def test_cohen_kappa_drops_items_either_rater_missed_and_matches_sklearn_on_the_rest() -> None:
    rng = np.random.default_rng(7)
    r = _noisy_raters(rng, 400, 2, 4, noise=0.4).astype(object)
    labels = np.array(["low", "mid", "high", "top"], dtype=object)
    a, b = labels[r[:, 0].astype(int)], labels[r[:, 1].astype(int)]
    a[rng.random(400) < 0.1] = None
    b[rng.random(400) < 0.1] = np.nan
    both = np.array([x is not None and y == y for x, y in zip(a, b, strict=True)])
    order = ["low", "mid", "high", "top"]
    ours = cohen_kappa(a, b, weights="quadratic", categories=order)
    theirs = cohen_kappa_score(list(a[both]), list(b[both]), weights="quadratic", labels=order)
    assert ours.value == pytest.approx(theirs, abs=1e-12)
    assert ours.items == int(both.sum())


def test_cohen_kappa_edge_cases() -> None:
    assert cohen_kappa(["x", "y", "x"], ["x", "y", "x"]).value == 1.0
    # Independent-looking raters on a balanced table: kappa is exactly 0, as sklearn says.
    a, b = ["p", "p", "n", "n"], ["p", "n", "p", "n"]
    assert cohen_kappa(a, b).value == pytest.approx(cohen_kappa_score(a, b)) == 0.0
    with pytest.raises(NotComputableError, match="only the category 'x'"):
        cohen_kappa(["x", "x"], ["x", "x"])
    with pytest.raises(DataError, match="different numbers of items"):
        cohen_kappa(["x"], ["x", "y"])
    with pytest.raises(EmptyDataError, match="rated by both"):
        cohen_kappa(["x", None], [None, "y"])
    with pytest.raises(ParameterError, match="'weights'"):
        cohen_kappa(["x"], ["x"], weights="cubic")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="'z', which is not among the categories"):
        cohen_kappa(["x", "z"], ["x", "y"], categories=["x", "y"])


# -- Fleiss' kappa ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_fleiss_kappa_equals_statsmodels(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    raters = 2 + seed
    r = _noisy_raters(rng, 250, raters, 3 + seed % 3, noise=0.2 + 0.1 * seed)
    table, _ = aggregate_raters(r)
    ours = fleiss_kappa(r)
    assert ours.value == pytest.approx(sm_fleiss_kappa(table, method="fleiss"), abs=1e-12)
    assert (ours.items, ours.raters, ours.ratings) == (250, raters, 250 * raters)


def test_fleiss_kappa_with_gaps_that_leave_equal_ratings_per_item() -> None:
    """Five raters, each item rated by a different three of them: allowed, and equal to statsmodels on the
    counts (aggregate_raters counts NaN as a category of its own, so the counts are built without it)."""
    rng = np.random.default_rng(11)
    full = _noisy_raters(rng, 200, 5, 4, noise=0.35).astype(float)
    for row in full:
        row[rng.choice(5, 2, replace=False)] = np.nan
    counts = np.stack([np.bincount(row[~np.isnan(row)].astype(int), minlength=4) for row in full])
    ours = fleiss_kappa(pd.DataFrame(full))
    assert ours.value == pytest.approx(sm_fleiss_kappa(counts), abs=1e-12)
    assert ours.ratings == 600


def test_fleiss_kappa_refuses_what_its_formula_cannot_take() -> None:
    with pytest.raises(DataError, match=r"same number of ratings per item: item 1 has 2.*krippendorff_alpha"):
        fleiss_kappa([["a", "a", "b"], ["a", None, "b"]])
    with pytest.raises(DataError, match="at least two ratings per item"):
        fleiss_kappa([["a", None], ["b", None]])
    with pytest.raises(NotComputableError, match="every rating is 'a'"):
        fleiss_kappa([["a", "a"], ["a", "a"]])
    with pytest.raises(EmptyDataError):
        fleiss_kappa([[None, None]])
    with pytest.raises(DataError, match="table of items"):
        fleiss_kappa(["a", "b"])
    assert fleiss_kappa([["a", "a"], ["b", "b"]]).value == 1.0


# -- Krippendorff's alpha -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_krippendorff_alpha_equals_the_package_with_missing_ratings(seed: int, level: str) -> None:
    rng = np.random.default_rng(200 + seed)
    r = _noisy_raters(rng, 150, 3 + seed, 5, noise=0.4).astype(float) + 1.0  # values 1..5 (ratio > 0)
    r[rng.random(r.shape) < 0.25] = np.nan  # some items end up with 0 or 1 ratings: they drop out
    ours = krippendorff_alpha(r, level=level)  # type: ignore[arg-type]
    theirs = krippendorff.alpha(reliability_data=r.T, level_of_measurement=level)
    assert ours.value == pytest.approx(theirs, abs=1e-10)
    assert ours.items == int((np.sum(~np.isnan(r), axis=1) >= 2).sum())


def test_krippendorff_alpha_on_continuous_interval_ratings() -> None:
    rng = np.random.default_rng(5)
    truth = rng.normal(size=80)
    r = truth[:, None] + rng.normal(scale=0.5, size=(80, 4))
    r[rng.random(r.shape) < 0.2] = np.nan
    ours = krippendorff_alpha(pd.DataFrame(r), level="interval")
    assert ours.value == pytest.approx(krippendorff.alpha(r.T, level_of_measurement="interval"), abs=1e-10)


def test_krippendorff_alpha_ordinal_with_labels_in_a_given_order() -> None:
    rng = np.random.default_rng(9)
    r = _noisy_raters(rng, 120, 3, 4, noise=0.5)
    names = np.array(["never", "rarely", "often", "always"], dtype=object)
    labelled = names[r]
    labelled[rng.random(r.shape) < 0.15] = None
    ours = krippendorff_alpha(labelled, level="ordinal", categories=list(names))
    codes = np.where(labelled == None, np.nan, r).astype(float)  # noqa: E711 (elementwise)
    theirs = krippendorff.alpha(codes.T, level_of_measurement="ordinal", value_domain=[0, 1, 2, 3])
    assert ours.value == pytest.approx(theirs, abs=1e-10)


def test_krippendorff_alpha_edge_cases() -> None:
    assert krippendorff_alpha([["a", "a"], ["b", "b"], ["c", None]]).value == 1.0
    with pytest.raises(NotComputableError, match="every pairable rating is 'a'"):
        krippendorff_alpha([["a", "a"], ["a", "a"], ["b", None]])
    with pytest.raises(NotComputableError, match="at least two ratings"):
        krippendorff_alpha([["a", None], [None, "b"]])
    with pytest.raises(ParameterError, match="'level'"):
        krippendorff_alpha([["a", "a"]], level="cardinal")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="interval ratings must be numbers"):
        krippendorff_alpha([["a", "b"], ["b", "b"]], level="interval")
    # The krippendorff package agrees the single-value case has no answer.
    with pytest.raises(ValueError, match="more than one value"):
        krippendorff.alpha(np.array([[1.0, 1.0], [1.0, 1.0]]), level_of_measurement="nominal")
