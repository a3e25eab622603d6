"""Serving from the registry: the champion answers a batch, its answers are logged with its version, and the
version holding ``shadow`` answers the same events beside it (decision 0029).

``predict`` resolves ``champion`` at every call (one indexed read), so a moved alias serves from the next
request on; loaded versions are kept in a small per-process cache keyed by version and artifact digest
(``registry.predictors``).
``shadow`` stores the shadow version's outputs for the events ``predict`` logged, with the other versions'
outputs (source ``shadow``; decision 0039), as ``log_shadow`` does for a caller that runs its own shadow.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from sqlalchemy.orm import Session, sessionmaker

from loopwise._lazy import lazy
from loopwise.errors import DataError, LimitError
from loopwise.ingest import get_model, log_predictions
from loopwise.profiles.canonical import canonical
from loopwise.registry.aliases import aliases
from loopwise.registry.artifacts import ArtifactStore
from loopwise.registry.flavors import Predictor
from loopwise.registry.outputs import encode_predictions, output_table, probabilities, store_outputs
from loopwise.registry.predictors import PredictorCache
from loopwise.registry.replay import event_times, positive_class
from loopwise.registry.settings import RegistrySettings
from loopwise.schema import Role, Schema
from loopwise.schema.validate import check
from loopwise.store import transaction
from loopwise.store.types import utcnow

if TYPE_CHECKING:
    import pandas as pd
else:
    pd = lazy("pandas")


@dataclass(frozen=True)
class Served:
    """What ``predict`` answered and logged: one entry per row, in the request's order."""

    model: str
    version: str
    event_ids: list[str]
    predictions: list[Any]
    #: Per row ``{class: probability}`` (None: the version gives no probabilities).
    scores: list[dict[str, float]] | None
    accepted: int
    duplicates: int
    #: The version holding ``shadow`` that will answer the same events (None: none does).
    shadow: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def champion_and_shadow(s: Session, model_name: str) -> tuple[str, str | None]:
    held = aliases(s, model_name)
    if "champion" not in held:
        raise DataError(
            f"model {model_name!r} has no champion: point the alias at a version first "
            "(set_alias('champion', version))"
        )
    shadow = held.get("shadow")
    return held["champion"], shadow if shadow != held["champion"] else None


def answer(predictor: Predictor, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """The predictor's labels and probabilities, with one model call once it is known to give the same
    (``Predictor.outputs`` checks that on its first call)."""
    return predictor.outputs(frame)


def predict(
    sessions: sessionmaker[Session],
    read_sessions: sessionmaker[Session],
    settings: RegistrySettings,
    store: ArtifactStore,
    cache: PredictorCache,
    model_name: str,
    table: pa.Table,
    *,
    max_rows: int = 100_000,
) -> tuple[Served, pd.DataFrame]:
    """Run the champion on the rows (their feature columns; an id and a time are added when missing), log
    the rows with its prediction and scores under its version, and return what it answered with the logged
    frame (the shadow's input)."""
    if table.num_rows == 0:
        raise DataError("the batch has no rows")
    if table.num_rows > max_rows:
        raise LimitError(f"the batch has {table.num_rows} rows; the limit is {max_rows} per batch")
    with read_sessions() as s:
        schema = Schema.from_dict(get_model(s, model_name).schema_json)
        version, shadow = champion_and_shadow(s, model_name)
        predictor = cache.get(s, settings, store, model_name, version)
    outputs_of = [c.name for c in schema.by_role(Role.PREDICTION, Role.SCORE)]
    given = [c for c in outputs_of if c in table.column_names]
    if given:
        raise DataError(f"the rows hold {given[0]!r}, an output of the model: predict computes it")
    # The rows are checked before the model sees them: a bad value is the caller's error (one line naming
    # the column), not the estimator's.
    inputs = schema.with_columns(
        c
        for c in schema
        if c.role == Role.FEATURE or (c.name in table.column_names and c.name not in outputs_of)
    )
    frame = check(inputs, table, allow_extra_columns=False).to_pandas()
    labels, proba = answer(predictor, frame)
    classes = predictor.classes
    scores = _score_dicts(classes, proba)
    logged = _with_outputs(schema, frame, labels, proba, classes)
    with transaction(sessions) as s:
        out = log_predictions(
            s,
            model_name,
            pa.Table.from_pandas(logged, preserve_index=False),
            version=version,
            max_rows=max_rows,
        )
    ids = [str(e) for e in logged[_id_column(schema)]]
    served = Served(
        model_name,
        version,
        ids,
        np.asarray(labels).tolist(),
        scores,
        int(out["accepted"]),
        int(out["duplicates"]),
        shadow,
    )
    return served, logged


def shadow(
    sessions: sessionmaker[Session],
    read_sessions: sessionmaker[Session],
    settings: RegistrySettings,
    store: ArtifactStore,
    cache: PredictorCache,
    model_name: str,
    version: str,
    event_ids: list[str],
    frame: pd.DataFrame,
) -> int:
    """Run the shadow version on the rows the champion served and store its outputs (source ``shadow``);
    an (event, version) stored before keeps its first answer. Returns the rows answered."""
    with read_sessions() as s:
        model_id = get_model(s, model_name).id
        predictor = cache.get(s, settings, store, model_name, version)
    labels, proba = answer(predictor, frame)
    classes = predictor.classes
    scores = {} if proba is None or classes is None else probabilities(classes, np.asarray(proba, float))
    table = output_table(event_ids, encode_predictions(labels), scores)
    with transaction(sessions) as s:
        times = event_times(s, model_id, event_ids)
        if times is not None:
            store_outputs(s, model_id, version, "shadow", table, *times)
    return len(event_ids)


def _id_column(schema: Schema) -> str:
    found = schema.by_role(Role.ID)
    if not found:
        raise DataError("the model's schema has no id column: predict needs one to return event ids")
    return found[0].name


def _score_dicts(classes: list[Any] | None, proba: np.ndarray | None) -> list[dict[str, float]] | None:
    if proba is None or classes is None:
        return None
    keys = [canonical(c) for c in classes]
    return [dict(zip(keys, row, strict=True)) for row in np.asarray(proba, float).tolist()]


def _with_outputs(
    schema: Schema,
    frame: pd.DataFrame,
    labels: np.ndarray,
    proba: np.ndarray | None,
    classes: list[Any] | None,
) -> pd.DataFrame:
    """The rows as they are logged: an id and a time where missing, the prediction, the score columns."""
    out = frame.copy()
    id_name = _id_column(schema)
    if id_name not in out.columns:
        out[id_name] = [uuid.uuid4().hex for _ in range(len(out))]
    for c in schema.by_role(Role.TIMESTAMP):
        if c.name not in out.columns:
            out[c.name] = pd.Timestamp(utcnow())
    for c in schema.by_role(Role.PREDICTION):
        out[c.name] = labels
    score_columns = schema.by_role(Role.SCORE)
    if score_columns and (proba is None or classes is None):
        raise DataError(
            f"the schema has score column {score_columns[0].name!r} but the champion gives no probabilities"
        )
    if score_columns and proba is not None and classes is not None:
        keys = [canonical(c) for c in classes]
        for c in score_columns:
            wanted = c.label if c.label is not None else positive_class(schema)
            if wanted is None and len(keys) == 2:
                wanted = keys[1]  # scikit-learn's convention: the second class is the positive one
            if wanted not in keys:
                raise DataError(f"score column {c.name!r} is for class {wanted!r}; the champion has {keys}")
            out[c.name] = np.asarray(proba, float)[:, keys.index(wanted)]
    return out
