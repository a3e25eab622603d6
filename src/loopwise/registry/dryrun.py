"""The dry prediction a registration runs: does a version take the model's inputs and give its outputs?"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from loopwise._lazy import lazy
from loopwise.errors import DataError
from loopwise.profiles.canonical import canonical
from loopwise.registry.flavors import Predictor
from loopwise.schema import Kind, Role, Schema, Task

if TYPE_CHECKING:
    import pandas as pd
else:
    pd = lazy("pandas")

#: Rows of a sample used for the dry prediction (more are ignored: the run checks shapes, not quality).
SAMPLE_ROWS = 200


def dry_run(model: str, schema: Schema, predictor: Predictor, sample: pd.DataFrame) -> dict[str, Any]:
    """Run ``predictor`` on ``sample`` and refuse it, naming the column, when the version does not fit.

    Checked: the version takes no column the schema does not have as a feature or segment; the sample holds
    every column the version takes (by name, or the schema's features by position); it predicts one value a
    row, of the prediction column's kind (and within its ``values``); it gives probabilities when the schema
    has score columns, one column a score. Returns what was checked (stored with the version).
    """
    v = predictor.version
    if sample.empty:
        raise DataError(f"the sample for version {v!r} has no rows")
    features = [c.name for c in schema.by_role(Role.FEATURE)]
    # A segment may be an input too (a region the model one-hot encodes): it is logged with each event like
    # a feature, so serving, replay and the gate read it back the same way.
    inputs = [c.name for c in schema.by_role(Role.FEATURE, Role.SEGMENT)]
    for name in predictor.features:
        if name not in inputs:
            raise DataError(
                f"version {v!r} takes column {name!r}, which is not a feature or segment of the schema of "
                f"model {model!r}"
            )
    # The sample needs what the version takes: the columns it was fitted on by name (its own
    # ``feature_names_in_``), else every feature of the schema, by position. A schema feature the version
    # does not use need not be in the sample (it is reported ``unused``).
    for name in predictor.features:
        if name not in sample.columns:
            role = "feature" if name in features else "segment"
            raise DataError(
                f"the sample has no column {name!r}, a {role} of the schema of model {model!r} that "
                f"version {v!r} takes"
            )
    _fits_width(model, predictor)
    rows = sample.head(SAMPLE_ROWS).reset_index(drop=True)
    try:
        predicted = predictor.predict(rows)
        proba = predictor.predict_proba(rows) if schema.by_role(Role.SCORE) else None
    except DataError as exc:  # the team's model failing on the sample (Predictor says how, in one line)
        raise DataError(f"the dry prediction on the sample failed: {exc}") from exc
    if predicted.ndim != 1 or len(predicted) != len(rows):
        raise DataError(
            f"version {v!r} predicted an array of shape {predicted.shape} for {len(rows)} rows; "
            "one value a row expected"
        )
    for column in schema.by_role(Role.PREDICTION):
        _fits_kind(model, v, column.name, column.kind, column.values, predicted, schema.task)
    scores = schema.by_role(Role.SCORE)
    if scores:
        if proba is None:
            raise DataError(
                f"the schema of model {model!r} has score column {scores[0].name!r}, "
                f"but version {v!r} gives no probabilities (predict_proba)"
            )
        _fits_scores(model, v, [c.name for c in scores], [c.label for c in scores], proba, predictor)
        # A lone score without a label holds the declared positive class: the version must predict it.
        held = schema.score_classes()
        _predicts(model, v, list(held), list(held.values()), predictor)
    return {
        "rows": len(rows),
        # What the version was given, in the order given (by name, or by position for an estimator
        # fitted without column names), and the schema's features it does not take.
        "fed": list(predictor.features),
        "by": "name" if predictor.by_name or predictor.flavor == "onnx" else "position",
        "unused": [f for f in features if f not in predictor.features],
        "got": _got(schema, predictor, predicted, proba),
        "output": str(predicted.dtype),
    }


def _got(
    schema: Schema, predictor: Predictor, predicted: np.ndarray, proba: np.ndarray | None
) -> dict[str, Any]:
    """What the dry prediction answered: the prediction column's values (up to ten), the classes the
    version gives probabilities for, and the class each score column will hold."""
    preds = schema.by_role(Role.PREDICTION)
    values = sorted({canonical(x) for x in pd.unique(predicted).tolist()})
    got: dict[str, Any] = {
        "prediction": None if not preds else preds[0].name,
        "values": values[:10],
        "classes": None if predictor.classes is None else [canonical(c) for c in predictor.classes],
    }
    if proba is not None and schema.by_role(Role.SCORE):
        got["scores"] = _score_classes(schema, got["classes"])
    return got


def _score_classes(schema: Schema, classes: list[str] | None) -> dict[str, str | None]:
    """The class each score column holds: its label, the declared positive class, else the positive class
    two classes imply (``true`` of false/true, ``1`` of 0/1, as the comparisons read it); None: not known
    (a model whose classes are words declares ``positive``)."""
    out = schema.score_classes()
    if len(out) == 1 and None in out.values():
        preds = schema.by_role(Role.PREDICTION)
        seen = set(classes or ()) | ({"false", "true"} if preds and preds[0].kind == Kind.BOOLEAN else set())
        implied = next((hi for lo, hi in (("false", "true"), ("0", "1")) if seen and seen <= {lo, hi}), None)
        out = dict.fromkeys(out, implied)
    return out


def _fits_width(model: str, predictor: Predictor) -> None:
    """An estimator fitted without column names takes the schema's features by position: their number
    must be the one it was fitted on (else it fails inside scikit-learn with an error naming no column)."""
    if predictor.by_name or predictor.flavor != "sklearn":
        return
    width = getattr(predictor.model, "n_features_in_", None)
    fed = predictor.features
    if isinstance(width, int) and width != len(fed):
        raise DataError(
            f"version {predictor.version!r} takes {width} columns by position (it was fitted without column "
            f"names), but the schema of model {model!r} has {len(fed)} features: {', '.join(fed)}"
        )


def _fits_kind(
    model: str,
    v: str,
    name: str,
    kind: Kind | None,
    values: tuple[str, ...] | None,
    predicted: np.ndarray,
    task: Task | None,
) -> None:
    numeric = np.issubdtype(predicted.dtype, np.number) or predicted.dtype == np.bool_
    if (kind is Kind.NUMERIC or task is Task.REGRESSION) and not numeric:
        raise DataError(
            f"version {v!r} predicts {predicted.dtype} values, but prediction column {name!r} of model "
            f"{model!r} is numeric"
        )
    if kind is Kind.BOOLEAN:
        found = {str(x).lower() for x in pd.unique(predicted)}
        if not found <= {"true", "false", "0", "1"}:
            raise DataError(
                f"version {v!r} predicts {sorted(found)[:3]}, but prediction column {name!r} of model "
                f"{model!r} is boolean"
            )
    if values is not None:
        outside = sorted({str(x) for x in pd.unique(predicted)} - set(values))
        if outside:
            raise DataError(
                f"version {v!r} predicts {outside[0]!r}, which is not among the values of prediction "
                f"column {name!r} of model {model!r} ({', '.join(values)})"
            )


def _fits_scores(
    model: str, v: str, names: list[str], labels: list[str | None], proba: np.ndarray, predictor: Predictor
) -> None:
    width = proba.shape[1] if proba.ndim == 2 else 1
    _predicts(model, v, names, labels, predictor)
    if len(names) == 1 and labels[0] is None:
        if width > 2:
            raise DataError(
                f"model {model!r} has one score column ({names[0]!r}), for a binary task, but version {v!r} "
                f"gives {width} class probabilities"
            )
    elif width < len(names):
        raise DataError(
            f"model {model!r} has {len(names)} score columns, but version {v!r} gives {width} probabilities"
        )


def _predicts(model: str, v: str, names: list[str], labels: list[str | None], predictor: Predictor) -> None:
    """Each score column's class is one the version predicts (when its classes are known)."""
    classes = predictor.classes
    if classes is None:
        return
    known = {canonical(c) for c in classes}
    for name, label in zip(names, labels, strict=True):
        if label is not None and canonical(label) not in known:
            raise DataError(
                f"score column {name!r} of model {model!r} holds the probability of {label!r}, "
                f"which version {v!r} does not predict (its classes: {', '.join(sorted(known))})"
            )
