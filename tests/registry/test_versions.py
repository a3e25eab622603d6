"""Registering versions: what is loaded back predicts what the original does; what could run code, does not
fit the schema or is too large is refused, naming why, and leaves nothing behind."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from skl2onnx import to_onnx
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.pipeline import Pipeline
from tests._fixtures.registry import applicants, lw_url, open_model, stored_files
from tests.registry.custom_model import IncomeRule

from loopwise.client.base import ModelHandle
from loopwise.errors import ConflictError, DataError, LimitError, NotFoundError, UntrustedArtifactError
from loopwise.registry import Lineage, RegistrySettings, register_version
from loopwise.registry.artifacts import ArtifactStore


def test_a_pipeline_loaded_back_predicts_what_the_original_predicts(
    model: ModelHandle, pipeline: Pipeline, tmp_path: Path
) -> None:
    X, _ = applicants(500, 2)
    v = model.register_version("v1", pipeline, flavor="sklearn", sample=X)
    assert (v.flavor, v.format, v.aliases) == ("sklearn", "skops", [])
    assert (v.dry_run["fed"], v.dry_run["unused"]) == (["income", "age"], [])
    loaded = model.load_version("v1")
    assert np.array_equal(loaded.predict(X), pipeline.predict(X))
    assert np.array_equal(loaded.predict_proba(X), pipeline.predict_proba(X))
    # The stored file is the skops file of the pipeline, under its own digest.
    (path,) = stored_files(tmp_path / "artifacts")
    assert path.name == v.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sio.get_untrusted_types(file=path) == []


def test_an_onnx_model_predicts_what_the_sklearn_model_predicts(model: ModelHandle, tmp_path: Path) -> None:
    X, y = applicants(2000, 5)
    # skl2onnx writes class labels as integers or strings, not booleans (and fails on HGB trees here).
    est = GradientBoostingClassifier(n_estimators=30, random_state=0).fit(
        X.to_numpy(np.float32), y.astype(int)
    )
    onx = to_onnx(est, X.to_numpy(np.float32)[:1], options={"zipmap": False})
    path = tmp_path / "model.onnx"
    path.write_bytes(onx.SerializeToString())
    v = model.register_version("v-onnx", path, flavor="onnx", sample=X)
    assert (v.flavor, v.format) == ("onnx", "onnx")
    loaded = model.load_version("v-onnx")
    Xt, _ = applicants(1000, 6)
    expected = est.predict_proba(Xt.to_numpy(np.float32))
    np.testing.assert_allclose(loaded.predict_proba(Xt), expected, atol=1e-5)
    # Labels agree except where the probability sits within float32 rounding of one half.
    unsure = np.abs(expected[:, 1] - 0.5) < 1e-5
    assert np.array_equal(loaded.predict(Xt)[~unsure], est.predict(Xt.to_numpy(np.float32))[~unsure])


def test_an_untrusted_type_is_refused_unless_the_operator_allows_it(tmp_path: Path) -> None:
    X, y = applicants(300, 7)
    rule = IncomeRule().fit(X, y)
    name = "tests.registry.custom_model.IncomeRule"
    assert sio.get_untrusted_types(data=sio.dumps(rule)) == [name]
    strict = open_model(lw_url(tmp_path), tmp_path / "artifacts")
    with pytest.raises(UntrustedArtifactError, match=f"outside the allow-list: {name}"):
        strict.register_version("v1", rule, sample=X)
    assert strict.versions() == []
    assert stored_files(tmp_path / "artifacts") == []
    allowing = open_model(lw_url(tmp_path), tmp_path / "artifacts", trusted_types=(name,))
    allowing.register_version("v1", rule, sample=X)
    assert np.array_equal(allowing.load_version("v1").predict(X), rule.predict(X))
    # The allow-list is read again at every load: an operator who withdraws it withdraws the version.
    with pytest.raises(UntrustedArtifactError, match=name):
        strict.load_version("v1")


def test_pickle_and_joblib_files_are_refused_whatever_their_name(
    model: ModelHandle, pipeline: Pipeline, tmp_path: Path
) -> None:
    X, _ = applicants(100, 8)
    joblib.dump(pipeline, tmp_path / "model.joblib")
    joblib.dump(pipeline, tmp_path / "model.joblib.gz", compress=3)
    (tmp_path / "model.skops").write_bytes(pickle.dumps(pipeline))
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(pipeline, protocol=0))
    for name in ("model.joblib", "model.joblib.gz", "model.skops", "model.pkl"):
        with pytest.raises(UntrustedArtifactError, match="pickle or joblib file, and loading one runs"):
            model.register_version("v1", tmp_path / name, sample=X)
    with pytest.raises(UntrustedArtifactError, match="pickle or joblib"):
        model.register_version("v1", pickle.dumps(pipeline), flavor="onnx", sample=X)
    assert model.versions() == []
    assert stored_files(tmp_path / "artifacts") == []


def test_a_trusted_pickle_is_loaded_for_an_admin_only(pipeline: Pipeline, tmp_path: Path) -> None:
    X, _ = applicants(100, 9)
    joblib.dump(pipeline, tmp_path / "model.joblib")
    trusting = open_model(lw_url(tmp_path), tmp_path / "artifacts", trust_pickle=True)
    settings = RegistrySettings(artifact_dir=tmp_path / "artifacts", trust_pickle=True)
    transport = trusting.transport
    with (
        pytest.raises(UntrustedArtifactError, match="from admins only"),
        (tmp_path / "model.joblib").open("rb") as f,
    ):
        register_version(
            transport.sessions, transport.read_sessions, settings, ArtifactStore(tmp_path / "artifacts"),
            "credit", "v1", flavor="sklearn", artifact=f, sample=X, actor="key:7", admin=False,
        )  # fmt: skip
    assert stored_files(tmp_path / "artifacts") == []
    v = trusting.register_version("v1", tmp_path / "model.joblib", sample=X)  # the local client is an admin
    assert v.format == "pickle"
    assert np.array_equal(trusting.load_version("v1").predict(X), pipeline.predict(X))


def test_an_oversized_artifact_is_refused_and_leaves_no_file(pipeline: Pipeline, tmp_path: Path) -> None:
    X, _ = applicants(100, 10)
    size = len(sio.dumps(pipeline))
    small = open_model(lw_url(tmp_path), tmp_path / "artifacts", max_artifact_bytes=size - 1)
    with pytest.raises(LimitError, match=f"limit of {size - 1} bytes"):
        small.register_version("v1", pipeline, sample=X)
    assert small.versions() == []
    assert stored_files(tmp_path / "artifacts") == []


def test_the_same_artifact_registered_twice_is_stored_once(
    model: ModelHandle, pipeline: Pipeline, tmp_path: Path
) -> None:
    X, _ = applicants(100, 11)
    sio.dump(pipeline, tmp_path / "m.skops")
    digest = hashlib.sha256((tmp_path / "m.skops").read_bytes()).hexdigest()
    a = model.register_version("v1", tmp_path / "m.skops", sample=X)
    b = model.register_version("v2", tmp_path / "m.skops", sample=X, sha256=digest)
    assert a.sha256 == b.sha256 == digest
    assert [p.name for p in stored_files(tmp_path / "artifacts")] == [digest]
    with pytest.raises(ConflictError, match="already has a version named 'v1'"):
        model.register_version("v1", tmp_path / "m.skops", sample=X)
    with pytest.raises(DataError, match=f"sha256 is {digest}, not {'0' * 64}"):
        model.register_version("v3", tmp_path / "m.skops", sample=X, sha256="0" * 64)


def test_a_version_that_does_not_fit_the_schema_is_refused_naming_the_column(
    model: ModelHandle, pipeline: Pipeline, tmp_path: Path
) -> None:
    X, y = applicants(100, 12)
    with pytest.raises(
        DataError, match="the sample has no column 'age', a feature of the schema of model 'credit'"
    ):
        model.register_version("v1", pipeline, sample=X.drop(columns="age"))
    wider = IncomeRule().fit(X.assign(zip_code=1.0), y)
    settings = {"trusted_types": ("tests.registry.custom_model.IncomeRule",)}
    allowing = open_model(lw_url(tmp_path), tmp_path / "artifacts", **settings)
    with pytest.raises(
        DataError,
        match="takes column 'zip_code', which is not a feature or segment of the schema of model 'credit'",
    ):
        allowing.register_version("v1", wider, sample=X.assign(zip_code=1.0))
    # The prediction column holds booleans; a regression-like output of floats is not one.
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    reg = make_pipeline(StandardScaler(), LinearRegression()).fit(X, X.income * 2)
    with pytest.raises(DataError, match="prediction column 'approved' of model 'credit' is boolean"):
        model.register_version("v1", reg, sample=X)
    assert model.versions() == []
    assert stored_files(tmp_path / "artifacts") == []


def test_without_a_sample_the_dry_run_uses_recent_traffic(model: ModelHandle, pipeline: Pipeline) -> None:
    X, _ = applicants(50, 13)
    with pytest.raises(DataError, match="no logged traffic to check the version on: give a sample"):
        model.register_version("v1", pipeline)
    served = X.assign(
        id=[f"e{i}" for i in range(50)],
        ts=pd.Timestamp("2026-12-01 10:00", tz="UTC"),
        approved=pipeline.predict(X),
        p_approved=pipeline.predict_proba(X)[:, 1],
    )
    model.log(served, version="v0")
    v = model.register_version("v1", pipeline)
    assert v.dry_run["rows"] == 50
    assert np.array_equal(model.load_version("v1").predict(X), served.approved)


def test_lineage_is_recorded_and_its_reference_set_for_the_version(
    model: ModelHandle, pipeline: Pipeline, train: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = train
    lineage = {
        "training_window": ("2026-11-01T00:00:00Z", "2026-11-30T00:00:00Z"),
        "data_fingerprint": "sha256:" + hashlib.sha256(X.to_numpy().tobytes()).hexdigest(),
        "reference": X.assign(approved=y),
        "params": {"C": 1.0, "solver": "lbfgs"},
        "code_version": "4f2a9c1",
        "metrics": {"auc": 0.91},
        "tags": {"team": "risk"},
    }
    v = model.register_version("v1", pipeline, lineage=lineage, sample=X)
    assert v.lineage["reference"] == "version:v1"
    assert v.lineage["training_window"] == ["2026-11-01T00:00:00+00:00", "2026-11-30T00:00:00+00:00"]
    assert (v.lineage["params"], v.lineage["code_version"], v.lineage["metrics"], v.lineage["tags"]) == (
        {"C": 1.0, "solver": "lbfgs"},
        "4f2a9c1",
        {"auc": 0.91},
        {"team": "risk"},
    )
    # The reference is the training data's profile, against NumPy on the same rows.
    from loopwise.ingest import get_reference

    with model.transport.read_sessions() as s:  # type: ignore[attr-defined]
        ref = get_reference(s, "credit", "version:v1")
    assert ref.n == len(X)
    assert ref["income"].summary()["mean"] == pytest.approx(X.income.mean(), rel=1e-12)
    with pytest.raises(ValueError, match="lineage"):
        Lineage.from_dict({"window": 1})


def test_an_external_version_is_recorded_and_never_loaded(model: ModelHandle) -> None:
    v = model.register_version("v9", flavor="external", uri="s3://models/credit/v9.bin", sha256="ab" * 32)
    assert (v.flavor, v.uri, v.sha256, v.size) == ("external", "s3://models/credit/v9.bin", "ab" * 32, None)
    with pytest.raises(DataError, match=r"external .* never loads it"):
        model.load_version("v9")
    with pytest.raises(NotFoundError, match="no version named 'v8'"):
        model.load_version("v8")


def test_an_onnx_model_cannot_read_files_beside_it(model: ModelHandle, tmp_path: Path) -> None:
    # ONNX keeps large tensors in "external data" files named relative to the model; the store opens each
    # model alone in a folder of its own, so such a reference finds nothing, whatever lies beside the file.
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.array([[0.1], [0.02]], dtype=np.float32), name="w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "w"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        [weights],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save_model(
        proto,
        str(tmp_path / "model.onnx"),
        save_as_external_data=True,
        location="weights.bin",
        size_threshold=0,
    )
    assert (tmp_path / "weights.bin").is_file()
    X, _ = applicants(20, 14)
    # In place, beside its weights file, the model loads and runs.
    beside = ort.InferenceSession(str(tmp_path / "model.onnx")).run(None, {"X": X.to_numpy(np.float32)})[0]
    np.testing.assert_allclose(beside[:, 0], X.income * 0.1 + X.age * 0.02, rtol=1e-5)
    with pytest.raises(DataError, match=r"not an ONNX model onnxruntime can load: .*weights\.bin"):
        model.register_version("v1", tmp_path / "model.onnx", flavor="onnx", sample=X)
    assert stored_files(tmp_path / "artifacts") == []


def test_names_from_the_caller_never_reach_the_filesystem(model: ModelHandle, pipeline: Pipeline) -> None:
    X, _ = applicants(50, 15)
    for bad in ("../../x", "a/b", "..", "", "v1\x00", "v\u0131"):
        with pytest.raises(ValueError, match="'version' must be 1-200 ASCII letters"):
            model.register_version(bad, pipeline, sample=X)
    assert model.versions() == []


def test_an_estimator_fitted_on_an_array_takes_the_features_in_schema_order(model: ModelHandle) -> None:
    import warnings

    from sklearn.linear_model import LogisticRegression

    X, y = applicants(400, 16)
    est = LogisticRegression().fit(X[["income", "age"]].to_numpy(), y)  # no column names recorded
    shuffled = X[["age", "income"]]  # the frame's own order does not matter, the schema's does
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sklearn warns when an estimator fitted without names gets them
        model.register_version("v1", est, sample=shuffled)
        loaded = model.load_version("v1")
        assert np.array_equal(
            loaded.predict_proba(shuffled), est.predict_proba(X[["income", "age"]].to_numpy())
        )


def test_a_lineage_of_the_wrong_shape_is_a_parameter_error_naming_the_field() -> None:
    """The trial: `--lineage '{"params": "oops"}'` printed a ValueError traceback from the client."""
    import loopwise as lw
    from loopwise.registry import Lineage

    for bad, field in (({"params": "oops"}, "lineage.params"), ({"tags": [1, 2]}, "lineage.tags"),
                       ({"metrics": {"auc": "high"}}, "lineage.metrics")):  # fmt: skip
        with pytest.raises(lw.ParameterError, match=f"parameter '{field}' must be a mapping"):
            Lineage.from_dict(bad)
