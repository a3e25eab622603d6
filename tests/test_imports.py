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


def test_the_server_starts_without_the_libraries_only_its_requests_use() -> None:
    """A server's start-up imported scipy, scikit-learn, pandas and httpx (12.6 s of CPU to the first
    healthy answer on a loaded machine); they load when a request first needs them (decision 0059). The
    supervising process of ``loopwise serve`` loads no app at all."""
    later = {"pandas", "scipy", "sklearn", "plotly", "skops", "onnxruntime", "statsmodels", "httpx"}
    assert not modules_after("import loopwise.server.app") & later
    supervisor = modules_after(
        "import loopwise.server.auth, loopwise.server.settings, loopwise.server.workers, loopwise.store"
    )
    assert not supervisor & (later | {"fastapi"})


def test_a_lazy_module_is_the_module_once_used() -> None:
    code = (
        "import sys\nfrom loopwise.metrics import compare\nassert 'scipy.stats' not in sys.modules\n"
        "print(compare.sps.norm.ppf(0.975))\nassert 'scipy.stats' in sys.modules"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert float(out) == pytest.approx(1.959963984540054)


def test_a_classification_comparison_imports_no_scipy() -> None:
    """McNemar (past its exact range) and DeLong need the normal distribution alone, from the standard
    library: importing scipy.stats was most of a fresh process's gate (decision 0062). The p-values against
    statsmodels and scipy are tested in tests/metrics."""
    code = (
        "import sys\nimport numpy as np\nfrom loopwise.metrics.champion import compare_models\n"
        "rng = np.random.default_rng(0)\ny = rng.random(2000) < 0.5\n"
        "a = np.where(rng.random(2000) < 0.8, y, ~y)\nb = np.where(rng.random(2000) < 0.82, y, ~y)\n"
        "sa, sb = (np.clip(v * 0.6 + 0.2 + rng.normal(0, 0.2, 2000), 0, 1) for v in (a, b))\n"
        "compare_models(a, b, y, metric='accuracy')\n"
        "compare_models(a, b, y, metric='roc_auc', champion_scores=sa, challenger_scores=sb)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


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
