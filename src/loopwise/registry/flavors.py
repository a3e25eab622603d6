"""Flavors: how an artifact becomes a predictor, and what must hold before it is loaded (decision 0025).

``sklearn``: an skops file, loaded only when every type ``skops.io.get_untrusted_types`` lists is in the
operator's allow-list (or a pickle/joblib file, only when the operator trusts pickles). ``onnx``: an
onnxruntime ``InferenceSession``, which runs no Python code from the file. ``external``: recorded, never
loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from loopwise._lazy import lazy
from loopwise.errors import DataError, LoopwiseError, ParameterError, UntrustedArtifactError
from loopwise.registry.artifacts import PICKLE, SKOPS
from loopwise.registry.settings import RegistrySettings

if TYPE_CHECKING:
    import pandas as pd
else:
    pd = lazy("pandas")

FLAVORS = ("sklearn", "onnx", "external")
#: Rows on which a classifier's label is checked to be its most probable class
#: (``Predictor.check_label_from_scores``) before the label is taken from the probabilities.
CHECK_ROWS = 2000

PICKLE_REFUSED = (
    "refused: the artifact is a pickle or joblib file, and loading one runs whatever code it holds; "
    "save the model with skops (skops.io.dump) or export it to ONNX, or have the operator set "
    "trust_pickle (LOOPWISE_TRUST_PICKLE=1) and register it with an admin key"
)


class Predictor:
    """A loaded version: ``predict(X)`` and, when the model has it, ``predict_proba(X)`` on a DataFrame.

    ``features`` are the input columns, in the order the artifact takes them; ``model`` is the loaded
    object itself (the estimator, or the onnxruntime session).
    """

    def __init__(
        self, version: str, flavor: str, model: Any, features: Sequence[str], *, by_name: bool = True
    ) -> None:
        self.version, self.flavor, self.model = version, flavor, model
        self.features = list(features)
        #: Whether the model takes a DataFrame (it was fitted on named columns) or an array in order.
        self.by_name = by_name
        #: Whether ``outputs`` may take the label as the most probable class (one model call, not two):
        #: None until ``check_label_from_scores`` looked.
        self.label_from_scores: bool | None = None

    def __repr__(self) -> str:
        return (
            f"Predictor(version={self.version!r}, flavor={self.flavor!r}, model={type(self.model).__name__})"
        )

    @property
    def classes(self) -> list[Any] | None:
        """The class labels in ``predict_proba``'s column order (None: a regressor, or not known)."""
        if self.flavor == "onnx":
            return _onnx_classes(self.model)
        found = getattr(self.model, "classes_", None)
        return None if found is None else list(found)

    def inputs(self, X: pd.DataFrame) -> Any:
        """``X``'s feature columns as the model takes them: a DataFrame, or an array in the schema's order
        for an estimator fitted without column names (which warns when given names)."""
        missing = [c for c in self.features if c not in X.columns]
        if missing:
            raise DataError(f"the input has no column {missing[0]!r}, which version {self.version!r} takes")
        return X[self.features] if self.by_name or self.flavor == "onnx" else X[self.features].to_numpy()

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if self.flavor == "onnx":
            return np.asarray(self._call("run", _onnx_run, X)[0]).ravel()
        return np.asarray(self._call("predict", self.model.predict, X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray | None:
        if self.flavor == "onnx":
            outputs = self._call("run", _onnx_run, X)
            return _probabilities(outputs[1]) if len(outputs) > 1 else None
        if not hasattr(self.model, "predict_proba"):
            return None
        return np.asarray(self._call("predict_proba", self.model.predict_proba, X))

    def _call(self, name: str, method: Any, X: pd.DataFrame) -> Any:
        """``method`` on ``X``'s inputs; the team's model failing on them (NaN where it takes none, a category
        its encoder never saw) is a DataError naming the version, the call and the first line of the model's
        own message, not a bare exception that a server would answer with 500 (and a client retry)."""
        inputs = self.inputs(X)
        try:
            if self.flavor == "onnx":
                return method(self.model, inputs)
            return method(inputs)
        except LoopwiseError:
            raise
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            missing = [c for c in self.features if X[c].isna().any()]
            hint = f" (missing values in {', '.join(map(repr, missing))})" if missing else ""
            raise DataError(
                f"version {self.version!r} failed in {name} on {len(X)} rows{hint}: "
                f"{type(exc).__name__}: {first}"
            ) from exc

    def outputs(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """``predict`` and ``predict_proba`` together, with one model call where that gives the same answer:
        an ONNX session's one run returns both; a scikit-learn classifier checked by
        ``check_label_from_scores`` gives its label as the most probable class."""
        if self.flavor == "onnx":
            out = self._call("run", _onnx_run, X)
            return np.asarray(out[0]).ravel(), _probabilities(out[1]) if len(out) > 1 else None
        proba = self.predict_proba(X)
        classes = self.classes
        if self.label_from_scores is None and proba is not None:
            # The first call checks on its own first rows, with the probabilities it has (one predict).
            self.check_label_from_scores(X.head(CHECK_ROWS), proba[:CHECK_ROWS])
        if proba is None or classes is None or not self.label_from_scores:
            return self.predict(X), proba
        return np.asarray(classes)[proba.argmax(axis=1)], proba

    def check_label_from_scores(self, X: pd.DataFrame, proba: np.ndarray | None = None) -> bool:
        """Whether the label may be taken from the probabilities: the estimator (a Pipeline's last step) is
        one whose ``predict`` is defined as the most probable class, and on ``X`` the two agree.

        ``proba``: ``predict_proba(X)`` when the caller has it already (else it is computed here).
        """
        final = self.model.steps[-1][1] if hasattr(self.model, "steps") else self.model
        kind = type(final)
        known = kind.__module__.startswith("sklearn.") and kind.__name__ in LABEL_IS_ARGMAX
        if self.flavor != "sklearn" or not known or self.classes is None or not len(X):
            self.label_from_scores = False
            return False
        if proba is None:
            proba = self.predict_proba(X)
        assert proba is not None
        derived = np.asarray(self.classes)[proba.argmax(axis=1)]
        self.label_from_scores = bool(np.array_equal(derived, self.predict(X)))
        return self.label_from_scores


#: scikit-learn classifiers whose ``predict`` is the class of the largest ``predict_proba`` (read in their
#: source: an argmax of the probabilities, or of a decision function the probabilities are monotone in).
LABEL_IS_ARGMAX = frozenset(
    {
        "HistGradientBoostingClassifier",
        "GradientBoostingClassifier",
        "RandomForestClassifier",
        "ExtraTreesClassifier",
        "DecisionTreeClassifier",
        "ExtraTreeClassifier",
        "LogisticRegression",
        "GaussianNB",
        "MLPClassifier",
    }
)


def load(
    path: Path, fmt: str, flavor: str, version: str, features: Sequence[str], trust: RegistrySettings
) -> Predictor:
    """The predictor of an artifact on disk, under the operator's trust rules (``trust``)."""
    if flavor == "sklearn":
        if fmt == PICKLE:
            if not trust.trust_pickle:
                raise UntrustedArtifactError(PICKLE_REFUSED)
            import joblib

            model = joblib.load(path)  # the operator trusts pickles: decision 0025
        elif fmt == SKOPS:
            model = load_skops(path, trust.trusted_types)
        else:
            raise DataError(
                f"a sklearn artifact must be an skops file (skops.io.dump); got {fmt or 'unknown'}"
            )
        names = getattr(model, "feature_names_in_", None)
        if names is None:
            return Predictor(version, flavor, model, features, by_name=False)
        return Predictor(version, flavor, model, [str(n) for n in names])
    if flavor == "onnx":
        session = load_onnx(path)
        return Predictor(version, flavor, session, _onnx_features(session, features))
    raise ParameterError("flavor", flavor, "'sklearn' or 'onnx' (an external artifact is never loaded)")


def load_skops(path: Path, trusted_types: Sequence[str]) -> Any:
    """The object in an skops file, when every type it holds outside skops' defaults is in
    ``trusted_types``. One pass over the file: ``skops.io.load`` audits it against the allow-list itself;
    the file's untrusted types are listed (a second pass) only to name those refused (decision 0053)."""
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        return sio.load(path, trusted=list(trusted_types))
    except UntrustedTypesFoundException:
        pass  # named below
    except Exception as exc:  # a zip holding schema.json, but not one skops can read
        raise DataError(f"the skops file cannot be read: {type(exc).__name__}: {exc}") from None
    untrusted = sio.get_untrusted_types(file=path)
    refused = [t for t in untrusted if t not in set(trusted_types)]
    one = len(refused) == 1
    raise UntrustedArtifactError(
        f"refused: the skops file holds {'a type' if one else 'types'} outside the allow-list: "
        f"{', '.join(refused)}; if you trust {'it' if one else 'them'}, the operator adds "
        f"{'it' if one else 'them'} to trusted_types (LOOPWISE_TRUSTED_TYPES)"
    )


def load_onnx(path: Path) -> Any:
    """An InferenceSession of the file, opened from a folder of its own.

    An ONNX model may keep tensors in "external data" files named relative to the model's folder; opened in
    place, one artifact could read another's bytes (onnxruntime already refuses paths that leave the folder).
    Alone in a new folder it can read nothing: such a model is refused as one that does not load.
    """
    import os
    import shutil
    import tempfile

    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="lw-onnx-") as folder:
        alone = Path(folder) / "model.onnx"
        try:
            os.link(path, alone)  # no copy when on the same filesystem
        except OSError:
            shutil.copyfile(path, alone)
        try:
            # The session reads the whole model now; the folder may go when the block ends.
            return ort.InferenceSession(str(alone), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own classes for a file that is not a model
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"not an ONNX model onnxruntime can load: {first}") from None


def _onnx_features(session: Any, features: Sequence[str]) -> list[str]:
    inputs = session.get_inputs()
    if len(inputs) == 1 and len(inputs[0].shape) == 2 and inputs[0].shape[1] not in (1, None):
        # One matrix input: the schema's feature columns, in the schema's order (docs/registry.md).
        width = inputs[0].shape[1]
        if isinstance(width, int) and width != len(features):
            raise DataError(
                f"the ONNX model takes {width} inputs in one tensor, the schema has {len(features)} features"
            )
        return list(features)
    return [i.name for i in inputs]


_ONNX_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(string)": object,
}


def _onnx_run(session: Any, X: pd.DataFrame) -> list[Any]:
    inputs = session.get_inputs()
    if len(inputs) == 1 and len(inputs[0].shape) == 2 and inputs[0].shape[1] not in (1, None):
        dtype = _ONNX_TYPES.get(inputs[0].type, np.float32)
        feed = {inputs[0].name: X.to_numpy(dtype=dtype)}
    else:
        feed = {
            i.name: X[i.name].to_numpy(dtype=_ONNX_TYPES.get(i.type, np.float32)).reshape(-1, 1)
            for i in inputs
        }
    out: list[Any] = session.run(None, feed)
    return out


def _probabilities(out: Any) -> np.ndarray:
    if isinstance(out, list) and out and isinstance(out[0], dict):  # skl2onnx's ZipMap: one dict a row
        keys = list(out[0])
        return np.array([[row[k] for k in keys] for row in out], dtype=np.float64)
    return np.asarray(out)


def _onnx_classes(session: Any) -> list[Any] | None:
    meta = session.get_modelmeta().custom_metadata_map
    if "classes" in meta:
        return list(meta["classes"].split(","))
    return None
