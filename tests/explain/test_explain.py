"""Explanations checked against the model itself and NumPy: each row's SHAP values add up to the model's own
predict_proba minus the background's mean output (exactly for trees, by construction of the permutation
game for others); for a linear model on the log-odds scale of independent features they equal
coef * (x - mean); where an event's values fall in the reference equals NumPy's percentile of the raw rows."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import loopwise as lw
from loopwise.explain import explain, furthest, positions


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    n = 1500
    X = pd.DataFrame(
        {
            "income": rng.normal(50, 10, n),
            "age": rng.normal(40, 12, n),
            "debt": rng.gamma(2.0, 5.0, n),
            "city": rng.choice(["north", "south", "east"], n, p=[0.6, 0.3, 0.1]),
        }
    )
    logit = 0.15 * (X.income - 50) - 0.1 * (X.debt - 10) + np.where(X.city == "east", 1.0, 0.0)
    return X, pd.Series(rng.random(n) < 1 / (1 + np.exp(-logit)), name="approved")


def test_tree_shap_adds_up_to_the_models_probability_of_its_answer(
    data: tuple[pd.DataFrame, pd.Series],
) -> None:
    X, y = data
    num = X.drop(columns="city")
    model = GradientBoostingClassifier(n_estimators=50, random_state=0).fit(num, y)
    rows = num.tail(5)
    found = explain(model, rows, num)
    proba = model.predict_proba(rows)
    background_mean = model.predict_proba(num.sample(100, random_state=0)).mean(axis=0)
    for e, p in zip(found, proba, strict=True):
        k = int(np.argmax(p))
        assert e.method == "tree_shap" and e.output == f"probability of {model.classes_[k].item()!r}"
        assert e.value == pytest.approx(p[k], abs=1e-6)  # shap's sum, against scikit-learn's own answer
        assert e.base == pytest.approx(background_mean[k], abs=1e-6)
        assert {f for f, _ in e.contributions} == set(num.columns)
        assert [abs(v) for _, v in e.contributions] == sorted(
            (abs(v) for _, v in e.contributions), reverse=True
        )
    # A regressor: its prediction.
    forest = RandomForestRegressor(20, random_state=0).fit(num, num.income * 2 + num.age)
    (r,) = explain(forest, num.head(1), num)
    assert r.output == "prediction" and r.value == pytest.approx(forest.predict(num.head(1))[0], rel=1e-7)


def test_a_pipeline_with_categories_gets_permutation_values_that_add_up(
    data: tuple[pd.DataFrame, pd.Series],
) -> None:
    X, y = data
    pipe = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["city"]), remainder=StandardScaler()
        ),
        LogisticRegression(),
    ).fit(X, y)
    rows = X.tail(3)
    found = explain(pipe, rows, X, max_seconds=60)  # the first call compiles shap's numba code
    proba = pipe.predict_proba(rows)
    for e, p in zip(found, proba, strict=True):
        assert e.method == "permutation_shap"
        assert e.value == pytest.approx(p.max(), abs=1e-9)
        assert dict(e.contributions).keys() == set(X.columns)


def test_linear_log_odds_values_equal_coef_times_distance_from_the_mean(
    data: tuple[pd.DataFrame, pd.Series],
) -> None:
    """For f(x) = w.x + b and independent features, the Shapley value of feature j is w_j (x_j - E[x_j]):
    checked with a model whose output is its decision function."""
    X, y = data
    num = X.drop(columns="city")
    lr = LogisticRegression().fit(num, y)

    class LogOdds:  # a regressor-shaped view of the model: explain() explains predict()
        def predict(self, frame: pd.DataFrame) -> np.ndarray:
            return lr.decision_function(frame)

    background = num.sample(100, random_state=0)
    (e,) = explain(LogOdds(), num.head(1), num, max_evals=500)
    expected = lr.coef_[0] * (num.head(1).to_numpy()[0] - background.to_numpy().mean(axis=0))
    got = dict(e.contributions)
    np.testing.assert_allclose([got[c] for c in num.columns], expected, rtol=1e-6, atol=1e-9)


def test_a_slow_model_is_stopped_and_bad_input_named(data: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = data
    num = X.drop(columns="city")
    lr = LogisticRegression().fit(num, y)

    class Slow:
        classes_ = lr.classes_

        def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
            start = time.perf_counter()  # a model that takes 50 ms a call (busy, as a real one is)
            while time.perf_counter() - start < 0.05:
                pass
            return lr.predict_proba(frame)

    with pytest.raises(lw.errors.NotComputableError, match=r"more than 0\.1 s; 4 row"):
        explain(Slow(), num.head(5), num, max_seconds=0.1)
    with pytest.raises(lw.DataError, match="'debt'"):
        explain(lr, num.head(1), num.drop(columns="debt"))
    with pytest.raises(lw.errors.NotComputableError, match="no predict_proba or predict"):
        explain(object(), num.head(1), num)


def test_positions_in_the_reference_equal_numpys_on_the_raw_rows(
    data: tuple[pd.DataFrame, pd.Series],
) -> None:
    X, _ = data
    ref = lw.profile(X)
    row = {"income": 71.3, "age": 40.0, "debt": 2.0, "city": "west"}
    found = {p.feature: p for p in positions(ref, row)}
    for col in ("income", "age", "debt"):
        exact = 100.0 * float(np.mean(X[col].to_numpy() < row[col]))
        assert found[col].percentile == pytest.approx(exact, abs=100 * ref[col].rank_error + 0.1)
    assert found["city"].new and str(found["city"]) == "new category (not in the reference)"
    east = positions(ref, {"city": "east"})[0]
    assert east.share == pytest.approx(float(np.mean(X.city == "east")))
    order = [p.feature for p in furthest(ref, row)]
    assert order[0] == "city" and order[-1] == "age"  # a new category first, the median last


def test_a_common_category_is_not_unusual(data: tuple[pd.DataFrame, pd.Series]) -> None:
    """A category's unusualness is 1 - its count / the commonest's (0 for the commonest), from the raw rows:
    a trial found every seen category at 1.00, as unusual as one the reference never held."""
    X, _ = data
    ref = lw.profile(X)
    counts = X.city.value_counts()
    for city, n in counts.items():
        (p,) = positions(ref, {"city": city})
        assert p.unusual == pytest.approx(1.0 - n / counts.max())
    assert positions(ref, {"city": counts.idxmax()})[0].unusual == 0.0
    assert positions(ref, {"city": "west"})[0].unusual == 1.0


def test_hist_gradient_boosting_is_explained_exactly_to_its_own_output(
    data: tuple[pd.DataFrame, pd.Series],
) -> None:
    """shap's tree reading of HistGradientBoosting is up to 2e-3 off its predict_proba: it gets permutation
    values, which add up to the model's own answer."""
    X, y = data
    num = X.drop(columns="city")
    model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(num, y)
    (e,) = explain(model, num.tail(1), num, max_seconds=60)
    assert e.method == "permutation_shap"
    assert e.value == pytest.approx(model.predict_proba(num.tail(1)).max(), abs=1e-9)
