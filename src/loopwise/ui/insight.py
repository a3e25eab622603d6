"""What the task page shows beside an event: where each value falls in the model's default reference
(``loopwise.explain.positions``), and an explanation of the prediction.

The explanation is SHAP values of the champion (``loopwise.explain.explain``) when the registry holds a
loadable scikit-learn or ONNX version (loaded under the operator's trust rules, decision 0025; an ONNX
session through shap's permutation explainer on its own outputs, ``as_estimator``) and shap is installed;
computed on the first view of the event and kept in memory, per process, keyed by (model, version,
artifact digest, reference digest, event) (decision 0042). The background is a sample of the reference's
rows when the default reference was pinned from a window of logged traffic; a reference uploaded as a
Profile keeps no rows, so the background is then the logged traffic of the latest hour, and the page says
so. Without a loadable champion or without shap, the page shows the features furthest from the reference,
labelled as what they are (not the model's reasons), with the reason in one line.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy.orm import Session

from loopwise._lazy import lazy
from loopwise.errors import LoopwiseError, UntrustedArtifactError
from loopwise.explain import explain, furthest, positions
from loopwise.explain.shapley import BACKGROUND_ROWS as BACKGROUND
from loopwise.ingest import get_model, model_schema, stored_reference, window_table
from loopwise.profiles import Profile
from loopwise.registry.aliases import aliases
from loopwise.registry.artifacts import ArtifactStore
from loopwise.registry.flavors import Predictor
from loopwise.registry.predictors import PredictorCache
from loopwise.registry.settings import RegistrySettings
from loopwise.registry.versions import describe, recent_rows
from loopwise.schema import Role

if TYPE_CHECKING:
    import pandas as pd
else:
    pd = lazy("pandas")

log = logging.getLogger("loopwise.ui")

#: Explanations kept per process (each a few hundred bytes).
CACHED_EXPLANATIONS = 4096
#: Rows kept as an explanation's background (explain samples 100 of them).
BACKGROUND_ROWS = 500
#: Contributions drawn on the page (the largest in magnitude).
SHOWN = 12


@dataclass
class Insight:
    """What the page draws: ``positions`` (feature -> Position as a dict), and either ``shap`` (an
    Explanation as a dict, with ``background``: what it was computed against) or ``nearest`` (the
    features furthest from the reference) with ``reason``: why there is no explanation."""

    positions: dict[str, dict[str, Any]] = field(default_factory=dict)
    reference: str | None = None
    shap: dict[str, Any] | None = None
    background: str | None = None
    cached: bool = False
    furthest: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None


class _Lru:
    def __init__(self, size: int) -> None:
        self.size, self.items, self.lock = size, OrderedDict[Any, Any](), threading.Lock()

    def get(self, key: Any) -> Any:
        with self.lock:
            found = self.items.get(key)
            if found is not None:
                self.items.move_to_end(key)
            return found

    def put(self, key: Any, value: Any) -> None:
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)


class Insights:
    """One per application: the caches of profiles, backgrounds and explanations."""

    def __init__(self, registry: RegistrySettings, store: ArtifactStore, predictors: PredictorCache) -> None:
        self.registry, self.store, self.predictors = registry, store, predictors
        self.profiles = _Lru(64)
        self.backgrounds = _Lru(16)
        self.explanations = _Lru(CACHED_EXPLANATIONS)

    def _reference(self, s: Session, model: str) -> tuple[Profile, dict[str, Any], str] | None:
        found = stored_reference(s, model)
        if found is None:
            return None
        blob, meta = found
        digest = hashlib.sha256(blob).hexdigest()
        key = (model, digest)
        prof = self.profiles.get(key)
        if prof is None:
            prof = Profile.from_bytes(blob)
            self.profiles.put(key, prof)
        return prof, meta, digest

    def of(self, s: Session, model: str, event_id: str, features: dict[str, Any]) -> Insight:
        out = Insight()
        ref = self._reference(s, model)
        if ref is not None:
            prof = ref[0]
            out.reference = "default"
            out.positions = {p.feature: p.to_dict() for p in positions(prof, features)}
        try:
            shap_values = self._explained(s, model, event_id, features, ref)
        except LoopwiseError as e:
            out.reason = e.args[0] if e.args else str(e)
        except Exception as e:  # a model that fails on the row must not take the page down
            log.warning("explanation of %s/%s failed: %r", model, event_id, e)
            out.reason = f"the explanation failed ({type(e).__name__}); the model's own output is above"
        else:
            out.shap, out.background, out.cached = shap_values
            return out
        if ref is not None:
            # Segment columns (who the event is about: a region, a group) are shown with the event but
            # not ranked as the model's inputs: ranking a protected group as "unusual" would steer review.
            segments = {c.name for c in model_schema(get_model(s, model)).by_role(Role.SEGMENT)}
            ranked = {k: v for k, v in features.items() if k not in segments}
            out.furthest = [p.to_dict() for p in furthest(ref[0], ranked)][:SHOWN]
        else:
            out.reason = (out.reason or "") + "; the model has no default reference to compare with"
        return out

    def _explained(
        self,
        s: Session,
        model: str,
        event_id: str,
        features: dict[str, Any],
        ref: tuple[Profile, dict[str, Any], str] | None,
    ) -> tuple[dict[str, Any], str, bool]:
        held = aliases(s, model)
        if "champion" not in held:
            raise LoopwiseError("no explanation: the registry holds no champion for this model")
        version = held["champion"]
        info = describe(s, model, version)
        if info.flavor not in ("sklearn", "onnx"):
            raise LoopwiseError(
                f"no explanation: the champion {version!r} is {info.flavor} (recorded, never loaded), not a "
                "scikit-learn or ONNX model loopwise loads"
            )
        # The reference's digest too: a re-pinned reference is another background, so other values.
        key = (model, version, info.sha256, None if ref is None else ref[2], event_id)
        found = self.explanations.get(key)
        if found is not None:
            return found[0], found[1], True
        try:
            import shap  # noqa: F401
        except ImportError:
            raise LoopwiseError(
                "no explanation: shap is not installed on the server (pip install 'loopwise[explain]')"
            ) from None
        try:
            predictor = self.predictors.get(s, self.registry, self.store, model, version)
        except UntrustedArtifactError as refused:
            why = refused.args[0] if refused.args else str(refused)
            raise LoopwiseError(
                f"no explanation: the champion {version!r} is not loaded here: {why}"
            ) from None
        background, said = self._background(s, model, predictor.features, ref, features)
        row = pd.DataFrame([{f: features.get(f) for f in predictor.features}])
        for c in predictor.features:  # the background's types (an int logged where floats were fitted)
            with contextlib.suppress(TypeError, ValueError):
                row[c] = row[c].astype(background[c].dtype)
        target = predictor.model if predictor.flavor == "sklearn" else as_estimator(predictor, background)
        (e,) = explain(target, row, background)
        d = e.to_dict()
        d["version"] = version
        d["contributions"] = d["contributions"][:SHOWN]
        d["others"] = sum(v for _, v in e.contributions[SHOWN:])
        self.explanations.put(key, (d, said))
        return d, said, False

    def _background(
        self,
        s: Session,
        model: str,
        columns: list[str],
        ref: tuple[Profile, dict[str, Any], str] | None,
        features: dict[str, Any],
    ) -> tuple[pd.DataFrame, str]:
        if ref is not None and ref[1].get("source") == "window":
            meta = ref[1]
            key = (model, ref[2])
            bg = self.backgrounds.get(key)
            if bg is None:
                start, end = (_time(meta[k]) for k in ("start", "end"))
                bg = _sample(window_table(s, model, start, end).to_pandas(), columns)
                self.backgrounds.put(key, bg)
            return (
                bg,
                f"against {min(len(bg), BACKGROUND)} rows of the reference "
                f"(its window {meta['start']} to {meta['end']})",
            )
        key = (model, "recent")
        found = self.backgrounds.get(key)
        if found is None:
            rows = recent_rows(s, model)
            found = (_sample(rows, columns), _hour(rows))
            self.backgrounds.put(key, found)
        bg, hour = found
        why = "its reference keeps no rows" if ref is not None else "the model has no default reference"
        n = min(len(bg), BACKGROUND)
        return bg, f"against {n} logged events of the latest hour{hour}, not the reference ({why})"


def _hour(rows: pd.DataFrame) -> str:
    times = [c for c in rows.columns if pd.api.types.is_datetime64_any_dtype(rows[c])]
    if not times or rows.empty:
        return ""
    return f" ({rows[times[0]].min():%Y-%m-%d %H:00} UTC)"


def _time(value: Any) -> dt.datetime:
    t = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _sample(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise LoopwiseError(f"no explanation: the logged rows lack the model's input {missing[0]!r}")
    frame = frame[columns].dropna()
    if frame.empty:
        raise LoopwiseError("no explanation: no complete logged rows to explain against")
    return frame.sample(min(len(frame), BACKGROUND_ROWS), random_state=0).reset_index(drop=True)


class _Regressor:
    """A loaded version that is not a scikit-learn estimator (an ONNX session), as ``explain`` takes a
    model: ``predict`` on a frame of its input columns."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.predictor.predict(X), dtype=np.float64)


class _Classifier(_Regressor):
    """The same for a classifier: ``predict_proba`` and ``classes_`` (the label of each probability
    column, so the page names the class explained)."""

    def __init__(self, predictor: Predictor, classes: list[Any]) -> None:
        super().__init__(predictor)
        self.classes_ = np.asarray(classes, dtype=object)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.predictor.predict(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        proba = self.predictor.predict_proba(X)
        assert proba is not None
        return np.asarray(proba, dtype=np.float64)


def as_estimator(predictor: Predictor, background: pd.DataFrame) -> _Regressor:
    """An ONNX version as ``explain`` takes a model (shap's permutation explainer on its outputs).

    A classifier's probability columns are named by its ``classes`` metadata when the file has it; else by
    the label the model itself answers where that column is the largest, on the background rows (skl2onnx
    writes no such metadata). A column that is never the largest there is named ``column j``.
    """
    labels, proba = predictor.outputs(background)
    if proba is None:
        return _Regressor(predictor)
    proba = np.asarray(proba)
    classes: list[Any] | None = predictor.classes
    if classes is None or len(classes) != proba.shape[1]:
        top = proba.argmax(axis=1)
        classes = []
        for j in range(proba.shape[1]):
            seen = {_plain(v) for v in np.asarray(labels)[top == j].tolist()}
            classes.append(seen.pop() if len(seen) == 1 else f"column {j}")
    return _Classifier(predictor, classes)


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v
