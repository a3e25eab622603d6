"""Why the model answered what it did for one event: SHAP values of a loaded scikit-learn model (issue 18's
reviewer workspace shows them beside the event).

A tree model (a forest, gradient boosting, a single tree; not inside a Pipeline; see ``TREE_MODELS``) gets
shap's ``TreeExplainer``: exact, fast, on the model's probability (interventional, against a background
sample).
Any other model, a Pipeline included, gets shap's permutation explainer on its ``predict_proba`` (or
``predict`` for a regressor), bounded in model evaluations and in time. Both satisfy additivity: the
contributions sum to the explained output minus the background's mean output (``base``), which the tests
check against the model's own ``predict_proba``.

What is explained: a classifier's probability of the row's predicted class (the answer the reviewer judges),
a regressor's prediction. ``shap`` is the optional extra ``loopwise[explain]``; without it ``explain`` says
so in one line (a ``NotComputableError``), and the workspace shows ``reference_distance`` instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from loopwise.errors import DataError, NotComputableError, ParameterError

#: Background rows kept for the expectations (shap's own default for its maskers is 100).
BACKGROUND_ROWS = 100
#: Tree models TreeExplainer reads from scikit-learn (by class name: no import of each at start-up).
TREE_MODELS = frozenset(
    {
        "DecisionTreeClassifier",
        "DecisionTreeRegressor",
        "RandomForestClassifier",
        "RandomForestRegressor",
        "ExtraTreesClassifier",
        "ExtraTreesRegressor",
        "GradientBoostingClassifier",
        "GradientBoostingRegressor",
    }
)
# Not HistGradientBoosting: shap's reading of its trees gives probabilities up to 2e-3 away from the model's
# own predict_proba (its binned thresholds), so its values would not add up to the answer the reviewer sees;
# it gets the permutation explainer, exact to the model's output.


@dataclass(frozen=True)
class Explanation:
    """One row's explanation: each feature's contribution to ``output`` (largest magnitude first), the
    background's mean output ``base`` (``base + sum(contributions) == value``), and the method."""

    method: str
    output: str
    value: float
    base: float
    contributions: list[tuple[str, float]]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "output": self.output,
            "value": self.value,
            "base": self.base,
            "contributions": [{"feature": f, "value": v} for f, v in self.contributions],
            "seconds": self.seconds,
        }


def explain(
    model: Any,
    rows: Any,
    background: Any,
    *,
    max_evals: int | None = None,
    max_seconds: float = 2.0,
    seed: int = 0,
) -> list[Explanation]:
    """SHAP values of ``model`` for each of ``rows`` (a pandas DataFrame of its input columns), against
    ``background`` (a DataFrame of the same columns: the model's reference, sampled to 100 rows).

    ``max_evals``: model evaluations per row for the permutation explainer (default ``2 * features + 1``
    rounded up to shap's minimum, at least 100); ``max_seconds``: a row started after this much time is
    refused (``NotComputableError``), so a slow model cannot hold a page; so is a call without shap
    installed.

    Example:
        >>> import numpy as np, pandas as pd
        >>> from sklearn.ensemble import RandomForestClassifier
        >>> from loopwise.explain import explain
        >>> rng = np.random.default_rng(0)
        >>> X = pd.DataFrame({"income": rng.normal(50, 10, 300), "age": rng.normal(40, 10, 300)})
        >>> forest = RandomForestClassifier(20, random_state=0).fit(X, X.income > 50)
        >>> (e,) = explain(forest, X.head(1), X)
        >>> e.method, e.contributions[0][0], abs(e.base + sum(v for _, v in e.contributions) - e.value) < 1e-9
        ('tree_shap', 'income', True)
    """
    try:
        import shap
    except ImportError:
        raise NotComputableError(
            "no explanation: shap is not installed (pip install 'loopwise[explain]')"
        ) from None
    import pandas as pd

    if not isinstance(rows, pd.DataFrame) or not isinstance(background, pd.DataFrame):
        raise ParameterError("rows", type(rows).__name__, "pandas DataFrames of the model's input columns")
    if len(background) == 0:
        raise DataError("the background has no rows: explanations are relative to the reference's rows")
    if not (hasattr(model, "predict_proba") or hasattr(model, "predict")):
        raise NotComputableError(f"no explanation: a {type(model).__name__} has no predict_proba or predict")
    columns = list(rows.columns)
    missing = [c for c in columns if c not in background.columns]
    if missing:
        raise DataError(f"the background lacks the column(s) {', '.join(map(repr, missing))}")
    bg = background[columns].sample(min(len(background), BACKGROUND_ROWS), random_state=seed)
    classifier = hasattr(model, "predict_proba")
    classes = list(getattr(model, "classes_", []))
    if classifier:
        answered = np.asarray(model.predict_proba(rows)).argmax(axis=1)
    started = time.perf_counter()
    out: list[Explanation] = []
    tree = type(model).__name__ in TREE_MODELS
    explainer: Any
    if tree:
        explainer = shap.TreeExplainer(
            model, data=bg, model_output="probability" if classifier else "raw",
            feature_perturbation="interventional",
        )  # fmt: skip
    for i in range(len(rows)):
        if time.perf_counter() - started > max_seconds:
            raise NotComputableError(
                f"explanations took more than {max_seconds} s; {len(rows) - i} row(s) left"
            )
        row = rows.iloc[[i]]
        t0 = time.perf_counter()
        k = int(answered[i]) if classifier else 0
        if tree:
            e = explainer(row, check_additivity=False)
            values = np.asarray(e.values)[0]
            base_all = np.asarray(e.base_values).reshape(-1)
            if values.ndim == 2:
                values, base = values[:, k], float(base_all[k])
            elif classifier and k == 0:  # one output, the second class's probability: the first is 1 - it
                values, base = -values, 1.0 - float(base_all[0])
            else:
                base = float(base_all[0])
            method = "tree_shap"
        else:
            codes = _Codes(bg, rows)
            f = _output(model, codes, k, classifier)
            masker = shap.maskers.Independent(codes.encode(bg), max_samples=BACKGROUND_ROWS)
            evals = max_evals or max(2 * len(columns) + 1, 100)
            permutation = shap.PermutationExplainer(f, masker, seed=seed)
            e = permutation(codes.encode(row), max_evals=evals, silent=True)
            values = np.asarray(e.values)[0]
            base = float(np.asarray(e.base_values).reshape(-1)[0])
            method = "permutation_shap"
        value = float(base + float(np.sum(values)))
        contributions = sorted(
            ((c, float(v)) for c, v in zip(columns, values, strict=True)), key=lambda cv: -abs(cv[1])
        )
        what = "prediction"
        if classifier and classes:
            label = classes[k].item() if isinstance(classes[k], np.generic) else classes[k]
            what = f"probability of {label!r}"
        out.append(Explanation(method, what, value, base, contributions, time.perf_counter() - t0))
    return out


class _Codes:
    """Columns that are not numbers, as numbers: shap's maskers mix rows arithmetically, so each such
    column travels as the code of its category and is read back before the model sees it."""

    def __init__(self, background: Any, rows: Any) -> None:
        import pandas as pd

        self.columns = list(rows.columns)
        self.dtypes = dict(rows.dtypes)
        self.categories: dict[str, list[Any]] = {}
        for c in self.columns:
            if not pd.api.types.is_numeric_dtype(rows[c]) or pd.api.types.is_bool_dtype(rows[c]):
                seen = pd.concat([background[c], rows[c]]).astype(object)
                self.categories[c] = list(dict.fromkeys(seen.tolist()))

    def encode(self, frame: Any) -> np.ndarray:
        out = np.empty((len(frame), len(self.columns)), dtype=np.float64)
        for j, c in enumerate(self.columns):
            if c in self.categories:
                index = {v: i for i, v in enumerate(self.categories[c])}
                out[:, j] = [index[v] for v in frame[c].astype(object).tolist()]
            else:
                out[:, j] = frame[c].to_numpy(dtype=np.float64)
        return out

    def decode(self, x: np.ndarray) -> Any:
        import pandas as pd

        data: dict[str, Any] = {}
        for j, c in enumerate(self.columns):
            if c in self.categories:
                cats = self.categories[c]
                data[c] = pd.Series([cats[int(i)] for i in x[:, j]], dtype=object).astype(self.dtypes[c])
            else:
                data[c] = pd.Series(x[:, j]).astype(self.dtypes[c])
        return pd.DataFrame(data)


def _output(model: Any, codes: _Codes, k: int, classifier: bool) -> Any:
    """The explained output as a function of coded rows (a Pipeline selecting columns by name needs the
    frame back, with the columns' types)."""

    def f(x: np.ndarray) -> np.ndarray:
        frame = codes.decode(x)
        if classifier:
            return np.asarray(model.predict_proba(frame))[:, k]
        return np.asarray(model.predict(frame), dtype=np.float64)

    return f
