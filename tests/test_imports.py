"""`import loopwise` and `loopwise --help` load no heavy library; every public name still resolves."""

from __future__ import annotations

import subprocess
import sys

import pytest

import loopwise

HEAVY = ("pandas", "scipy", "sklearn", "pyarrow", "fastapi", "sqlalchemy")


def modules_after(statement: str) -> set[str]:
    """The top-level modules a fresh interpreter holds after running ``statement``."""
    code = f"{statement}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_import_loads_no_heavy_library() -> None:
    assert not modules_after("import loopwise") & set(HEAVY)


def test_the_cli_help_loads_no_heavy_library() -> None:
    loaded = modules_after(
        "from loopwise.cli import app\nfrom typer.main import get_command\nget_command(app)"
    )
    assert not loaded & set(HEAVY)


def test_every_public_name_resolves_to_its_module_object() -> None:
    import loopwise.metrics
    import loopwise.profiles
    import loopwise.schema

    for name in loopwise.__all__:
        assert getattr(loopwise, name) is not None, name
    assert loopwise.profile is loopwise.profiles.profile
    assert loopwise.Schema is loopwise.schema.Schema
    assert loopwise.fairness is loopwise.metrics.fairness
    assert set(loopwise.__all__) <= set(dir(loopwise))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        loopwise.no_such_thing  # noqa: B018
