"""Names become one path segment each in the HTTP client (decision 0047, second round): a model, version or
alias whose name holds ``/``, ``?``, ``#``, a space or a NUL gets the server's loopwise error naming it, on
a real server on loopback, never httpx's InvalidURL or another route's answer; the model names ``.`` and
``..`` (valid ones) reach their own routes."""

from __future__ import annotations

import pytest
from tests._fixtures import Running
from tests._fixtures.http import SCHEMA, sdk

import loopwise as lw

ODD = ["a/b", "a?b=1", "a#b", "a b", "a\x00b"]


def test_dot_names_reach_their_own_routes(server: Running) -> None:
    c = sdk(server)
    for name in (".", "..", "credit"):
        c.register(name, lw.Schema.from_dict(SCHEMA))
    for name in (".", ".."):
        assert c.describe(name)["name"] == name
        handle = c.model(name)
        handle.register_version("v1", flavor="external", uri="s3://bucket/m.onnx", sha256="0" * 64)
        handle.set_alias("prod", "v1")
        assert [v.name for v in handle.versions()] == ["v1"] and handle.aliases() == {"prod": "v1"}
    assert c.model("credit").versions() == []  # nothing of "." or ".." landed on another model


@pytest.mark.parametrize("name", ODD)
def test_an_odd_name_gets_the_servers_error_naming_it(server: Running, name: str) -> None:
    c = sdk(server)
    c.register("credit", lw.Schema.from_dict(SCHEMA))
    handle = c.model("credit")
    handle.register_version("v1", flavor="external", uri="s3://bucket/m.onnx", sha256="0" * 64)
    # A NUL is named as such (decision 0046); a "/" is refused by the client (no route can take it).
    shown = "NUL" if "\x00" in name else repr(name)
    with pytest.raises(lw.errors.LoopwiseError) as model_error:
        c.describe(name)
    assert shown in str(model_error.value), model_error.value
    with pytest.raises(lw.errors.LoopwiseError) as alias_error:
        handle.set_alias(name, "v1")
    assert shown in str(alias_error.value), alias_error.value
    with pytest.raises(lw.errors.LoopwiseError) as version_error:
        handle.promote(name, "prod")
    assert shown in str(version_error.value), version_error.value
    assert handle.aliases() == {}  # no alias was set by a mangled route
