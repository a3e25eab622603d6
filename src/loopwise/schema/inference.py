"""What a column is, guessed from its values and its name; what the task is, guessed from the outputs.

The rules are documented in docs/schema.md ("Inference"). They are a start, never the last word: a
schema file says what inference cannot know, and a served model fixes whatever was inferred into its
stored schema the first time data arrives, so the guess is made once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

import pyarrow as pa
import pyarrow.compute as pc

from loopwise.schema.columns import Column, Kind, Role, Task, canonical_label

#: Strings with at least this share of distinct values and this mean length are text, not categories.
TEXT_DISTINCT_SHARE = 0.5
TEXT_MEAN_LENGTH = 20.0
#: Integer outputs with at most this many distinct values (in prediction and target both) are classes.
MAX_CLASSES = 10
#: The task, and score columns' classes, are inferred from the first rows only.
TASK_ROWS = 10_000

ID_NAMES = {"id", "event_id", "request_id", "uuid", "row_id", "prediction_id", "identifier"}
TIME_NAMES = {
    "ts",
    "timestamp",
    "time",
    "event_time",
    "created_at",
    "datetime",
    "date",
    "event_timestamp",
    "prediction_time",
    "prediction_timestamp",
}
PREDICTION_NAMES = {
    "prediction",
    "predictions",
    "pred",
    "y_pred",
    "y_hat",
    "yhat",
    "predicted",
    "predicted_label",
    "predicted_class",
    "predicted_value",
    "prediction_label",
    "pred_label",
    "output",
    "decision",
    "approved",
}
SCORE_NAMES = {
    "score",
    "proba",
    "prob",
    "probability",
    "y_score",
    "y_proba",
    "y_prob",
    "y_pred_proba",
    "y_pred_prob",
    "predicted_probability",
    "predicted_proba",
    "prediction_probability",
    "prediction_score",
    "confidence",
}
#: Names that hold one class's probability: the class is what the pattern captures.
SCORE_PATTERNS = (
    re.compile(r"^(?:p|prob|proba|probability|score|y_pred_proba)_(.+)$"),
    re.compile(r"^(.+)_(?:prob|proba|probability)$"),
)
TARGET_NAMES = {
    "target",
    "label",
    "labels",
    "y",
    "y_true",
    "ground_truth",
    "groundtruth",
    "gt",
    "truth",
    "true_label",
    "actual",
    "actuals",
    "actual_label",
    "outcome",
    "class",
    "repaid",
    "defaulted",
    "churned",
    "is_fraud",
}


def infer_kind(arr: pa.ChunkedArray | pa.Array) -> Kind:
    """The kind of one Arrow column, from its type (and, for strings, its values)."""
    t = arr.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_boolean(t):
        return Kind.BOOLEAN
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return Kind.NUMERIC
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return Kind.DATETIME
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return Kind.TEXT if _looks_like_text(arr) else Kind.CATEGORICAL
    return Kind.CATEGORICAL


def _looks_like_text(arr: pa.ChunkedArray | pa.Array) -> bool:
    sample = arr.slice(0, 10_000)
    valid = sample.drop_null() if hasattr(sample, "drop_null") else sample
    if len(valid) < 50:
        return False
    distinct = len(pc.unique(valid))
    mean_len = pc.mean(pc.utf8_length(valid)).as_py() or 0.0
    return distinct >= TEXT_DISTINCT_SHARE * len(valid) and mean_len >= TEXT_MEAN_LENGTH


def looks_like_time(name: str, arr: pa.ChunkedArray) -> bool:
    """A string or number column named like a time (``ts``, ``*_time``, ...) whose values convert as times
    (ISO 8601 strings, epoch numbers of an unambiguous unit: see ``loopwise.schema.timestamps``)."""
    low = name.lower()
    if low not in TIME_NAMES and not low.endswith(("_ts", "_time", "_timestamp", "_at")):
        return False
    t = arr.type
    if not (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_integer(t)
        or pa.types.is_floating(t)
    ):
        return False
    from loopwise.errors import DataError
    from loopwise.schema.timestamps import to_utc_us

    try:
        to_utc_us(arr.slice(0, 10_000), name)
    except DataError:
        return False
    return True


def infer_role(name: str, kind: Kind, arr: pa.ChunkedArray) -> Role:
    """The role a column's name suggests (see docs/schema.md for the lists); a feature by default."""
    low = name.lower()
    if (low in ID_NAMES or low.endswith("_id")) and kind in (Kind.CATEGORICAL, Kind.NUMERIC, Kind.TEXT):
        n_valid = len(arr) - arr.null_count
        if n_valid and len(pc.unique(arr)) == len(arr):
            return Role.ID
    if kind is Kind.DATETIME and (low in TIME_NAMES or low.endswith(("_ts", "_time", "_timestamp", "_at"))):
        return Role.TIMESTAMP
    if low in PREDICTION_NAMES:
        return Role.PREDICTION
    if low in TARGET_NAMES:
        return Role.TARGET
    if kind is Kind.NUMERIC and (low in SCORE_NAMES or any(p.match(low) for p in SCORE_PATTERNS)):
        return Role.SCORE
    return Role.FEATURE


def score_class(name: str) -> str | None:
    """The class a score column's name names (``proba_cat``, ``cat_proba`` -> ``cat``), if any."""
    low = name.lower()
    if low in SCORE_NAMES:
        return None
    for pattern in SCORE_PATTERNS:
        m = pattern.match(low)
        if m:
            # The class keeps the case it has in the name: labels are compared as written.
            start = m.start(1)
            return name[start : start + len(m.group(1))]
    return None


def score_labels(columns: list[Column], classes: set[str]) -> list[Column]:
    """Give score columns the class their name names: always when there are several (each score must say
    whose probability it is), and for a lone score only when that class is one the outputs hold."""
    scores = [c for c in columns if c.role is Role.SCORE and c.label is None]
    out = []
    for c in columns:
        if c in scores:
            found = score_class(c.name)
            if found is not None and (len(scores) > 1 or canonical_label(found) in classes):
                c = replace(c, label=canonical_label(found))
        out.append(c)
    return out


def output_classes(table: pa.Table, columns: list[Column]) -> set[str]:
    """The distinct values (canonical) of the prediction and target columns, for naming score classes."""
    out: set[str] = set()
    for c in columns:
        if c.role in (Role.PREDICTION, Role.TARGET) and c.name in table.column_names:
            values = pc.unique(table.column(c.name).slice(0, TASK_ROWS)).drop_null()
            if len(values) <= 1000:
                out |= {canonical_label(v) for v in values.to_pylist()}
    return out


def infer_task(table: pa.Table, columns: list[Column]) -> tuple[Task | None, str | None, str]:
    """The task, its positive class (binary 0/1 or boolean outputs only) and the reason, from the data.

    Classification when the outputs are booleans or categories, when there are score columns, or when
    prediction and target both hold integers with at most ``MAX_CLASSES`` distinct values; regression
    when both are numeric otherwise. Without a prediction and a target (or their values) the task is
    left open (None) and the kinds decide, as before.
    """
    preds = [c for c in columns if c.role is Role.PREDICTION]
    targets = [c for c in columns if c.role is Role.TARGET]
    scores = [c for c in columns if c.role is Role.SCORE]
    if len(preds) != 1 or len(targets) != 1:
        return None, None, "no single prediction and target column"
    outputs = [c for c in (preds[0], targets[0]) if c.name in table.column_names]
    values = [table.column(c.name).slice(0, TASK_ROWS).drop_null() for c in outputs]
    if not values or any(len(v) == 0 for v in values):
        return None, None, "the prediction or target has no values to infer the task from"
    kinds = {c.kind for c in outputs}
    if kinds & {Kind.BOOLEAN, Kind.CATEGORICAL, Kind.TEXT}:
        reason = "the outputs are categories"
    elif scores:
        reason = "there are score columns"
    elif len(values) == 2 and all(_few_integers(v) for v in values):
        reason = f"prediction and target hold at most {MAX_CLASSES} distinct integers"
    else:
        return Task.REGRESSION, None, "prediction and target are numbers"
    classes: set[str] = set()
    for v in values:
        classes |= {canonical_label(x) for x in pc.unique(v).slice(0, MAX_CLASSES * 100).to_pylist()}
    binary = len(classes) <= 2 and (not scores or len(scores) == 1)
    positive = None
    if binary:
        for neg, pos in (("false", "true"), ("0", "1")):
            if classes <= {neg, pos}:
                positive = pos
    return (Task.BINARY if binary else Task.MULTICLASS), positive, reason


def _few_integers(values: pa.Array | pa.ChunkedArray) -> bool:
    t = values.type
    if pa.types.is_floating(t):
        finite = values.filter(pc.is_finite(values))
        if len(finite) != len(values) or not pc.all(pc.equal(pc.floor(finite), finite)).as_py():
            return False
    elif not pa.types.is_integer(t):
        return False
    return len(pc.unique(values)) <= MAX_CLASSES


def missing_outputs_message(what: str, schema: Sequence[Column], declared: bool) -> str:
    """One line for an API that needs a prediction and a target and did not find them: what it found, and
    the Python argument that says which columns they are (not a CLI flag: this is the library)."""
    found = {
        role: [c.name for c in schema if c.role is role]
        for role in (Role.PREDICTION, Role.TARGET, Role.SCORE)
    }
    listed = "; ".join(f"{role.value}: {', '.join(names) or 'none'}" for role, names in found.items())
    how = (
        "the schema passed"
        if declared
        else "roles inferred from the column names (docs/schema.md lists them)"
    )
    fix = (
        "give exactly one column role: prediction and one role: target in it"
        if declared
        else "pass schema=lw.Schema.from_yaml(...) naming them (role: prediction, role: target)"
    )
    return f"{what} needs a prediction and target column (one of each); {how} has {listed}: {fix}"
