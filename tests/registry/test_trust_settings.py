"""The operator's trust setting (``LOOPWISE_TRUSTED_TYPES``) is one setting: the server, the local client and
the HTTP client's own ``load_version`` all read it from the environment unless given settings in code (the
trial: the HTTP client ignored it and refused a random forest the server had accepted)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.ensemble import RandomForestClassifier
from tests._fixtures import Running
from tests._fixtures.registry import OPENED, SCHEMA, applicants, http_client

import loopwise as lw
from loopwise.errors import UntrustedArtifactError
from loopwise.registry import RegistrySettings


@pytest.fixture
def forest() -> RandomForestClassifier:
    X, y = applicants(400, 5)
    return RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)


@pytest.fixture
def tree_types(forest: RandomForestClassifier) -> list[str]:
    listed: list[str] = sio.get_untrusted_types(data=sio.dumps(forest))
    assert listed  # skops lists the trees' type: the allow-list decides
    return listed


@pytest.fixture
def trusting_server(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tree_types: list[str],
    db_url: str,
    request: pytest.FixtureRequest,
) -> Running:
    monkeypatch.setenv("LOOPWISE_ARTIFACT_DIR", str(tmp_path / "served"))
    monkeypatch.setenv("LOOPWISE_TRUSTED_TYPES", ",".join(tree_types))  # read when the server starts
    running: Running = request.getfixturevalue("server")
    return running


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_both_clients_read_the_trusted_types_from_the_environment(
    db_url: str,
    trusting_server: Running,
    monkeypatch: pytest.MonkeyPatch,
    forest: RandomForestClassifier,
    tree_types: list[str],
    tmp_path: Path,
) -> None:
    server = trusting_server
    admin = http_client(server.url, server.admin_key)
    admin.register("credit", SCHEMA)
    X, _ = applicants(100, 6)
    admin.model("credit").register_version("rf", forest, sample=X)

    viewer = http_client(server.url, server.key("viewer")).model("credit")
    loaded = viewer.load_version("rf")  # the environment still trusts the trees: so does this client
    assert np.array_equal(loaded.predict_proba(X), forest.predict_proba(X))

    monkeypatch.delenv("LOOPWISE_TRUSTED_TYPES")
    with pytest.raises(UntrustedArtifactError, match=tree_types[0].replace(".", r"\.")):
        viewer.load_version("rf")
    # Settings given in code win over the environment, for either client.
    settings = RegistrySettings(trusted_types=tuple(tree_types))
    given = http_client(server.url, server.key("viewer"), registry=settings)
    assert np.array_equal(given.model("credit").load_version("rf").predict(X), forest.predict(X))

    # The local client on the same database reads the same variables.
    local = lw.Client.local(server.db_url)
    OPENED.append(local)
    with pytest.raises(UntrustedArtifactError, match="LOOPWISE_TRUSTED_TYPES"):
        local.model("credit").load_version("rf")
    monkeypatch.setenv("LOOPWISE_TRUSTED_TYPES", ",".join(tree_types))
    trusting = lw.Client.local(server.db_url)
    OPENED.append(trusting)
    assert np.array_equal(trusting.model("credit").load_version("rf").predict(X), forest.predict(X))
    assert trusting.transport.registry.artifact_dir == tmp_path / "served"  # one artifact folder too


#: The table of docs/registry.md ("Which scikit-learn types need trusting"): a step or model, and the types
#: skops lists for a pipeline holding it (beside a LogisticRegression where it is a transformer).
DOCUMENTED = {
    "StandardScaler": [],
    "OneHotEncoder": [],
    "OrdinalEncoder": [],
    "LogisticRegression": [],
    "SimpleImputer": ["numpy.dtype"],
    "DecisionTreeClassifier": ["sklearn.tree._tree.Tree"],
    "RandomForestClassifier": ["sklearn.tree._tree.Tree"],
    "ExtraTreesClassifier": ["sklearn.tree._tree.Tree"],
    "GradientBoostingClassifier": ["sklearn.tree._tree.Tree"],
    "HistGradientBoostingClassifier": ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"],
}


def test_the_documented_untrusted_types_are_what_skops_lists(tmp_path: Path) -> None:
    """The trial: docs/registry.md named only OneHotEncoder as needing a type trusted, and a pipeline with a
    SimpleImputer was refused over ``numpy.dtype``. The docs' table is checked here against
    ``skops.io.get_untrusted_types`` on real fitted pipelines, the table is in the docs as written, and a
    SimpleImputer pipeline registers once ``numpy.dtype`` is trusted, as the docs say."""
    import re

    from sklearn import ensemble, linear_model, preprocessing, tree
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    X, y = applicants(300, 8)
    X = X.assign(purpose=np.where(X.age > 40, "car", "home"))
    X.loc[X.index % 9 == 0, "income"] = np.nan
    numeric = make_pipeline(SimpleImputer(), preprocessing.StandardScaler())
    steps = {
        "StandardScaler": make_column_transformer((preprocessing.StandardScaler(), ["age"])),
        "OneHotEncoder": make_column_transformer((preprocessing.OneHotEncoder(), ["purpose"])),
        "OrdinalEncoder": make_column_transformer((preprocessing.OrdinalEncoder(), ["purpose"])),
        "SimpleImputer": make_column_transformer((SimpleImputer(), ["income", "age"])),
    }
    found: dict[str, list[str]] = {}
    for name, step in steps.items():
        pipe = make_pipeline(step, linear_model.LogisticRegression()).fit(X, y)
        found[name] = sio.get_untrusted_types(data=sio.dumps(pipe))
    plain = make_column_transformer((preprocessing.StandardScaler(), ["age"]))
    for module, name in [
        (linear_model, "LogisticRegression"),
        (tree, "DecisionTreeClassifier"),
        (ensemble, "RandomForestClassifier"),
        (ensemble, "ExtraTreesClassifier"),
        (ensemble, "GradientBoostingClassifier"),
        (ensemble, "HistGradientBoostingClassifier"),
    ]:
        kw = {"max_iter": 5} if name.startswith("Hist") else {}
        if name in ("RandomForestClassifier", "ExtraTreesClassifier", "GradientBoostingClassifier"):
            kw = {"n_estimators": 5}
        pipe = make_pipeline(plain, getattr(module, name)(**kw)).fit(X, y)
        found[name] = sio.get_untrusted_types(data=sio.dumps(pipe))
    assert found == DOCUMENTED
    # The docs' table says the same, row for row.
    doc = (Path(__file__).parents[2] / "docs" / "registry.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)` \| (.*?) \|$", doc, re.M))
    for name, types in DOCUMENTED.items():
        assert rows[name] == (", ".join(f"`{t}`" for t in types) or "nothing"), name
    # A SimpleImputer pipeline: refused, naming numpy.dtype; registered once the operator trusts it.
    pipe = make_pipeline(
        make_column_transformer((numeric, ["income", "age"])), linear_model.LogisticRegression()
    )
    pipe.fit(X[["income", "age"]], y)
    sample = X[["income", "age"]].head(50)
    refusing = lw.Client.local(tmp_path / "a.db", registry=RegistrySettings(artifact_dir=tmp_path / "a"))
    OPENED.append(refusing)
    with pytest.raises(UntrustedArtifactError, match=r"numpy\.dtype"):
        refusing.register("credit", SCHEMA).register_version("v1", pipe, sample=sample)
    settings = RegistrySettings(artifact_dir=tmp_path / "b", trusted_types=("numpy.dtype",))
    trusting = lw.Client.local(tmp_path / "b.db", registry=settings)
    OPENED.append(trusting)
    trusting.register("credit", SCHEMA).register_version("v1", pipe, sample=sample)
    loaded = trusting.model("credit").load_version("v1")
    assert np.array_equal(loaded.predict(sample), pipe.predict(sample))
