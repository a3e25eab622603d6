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
