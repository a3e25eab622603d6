"""The wheel, built once with ``pip wheel .`` as docs/ci.md recommends: it builds, it holds every package file
the source tree has, and the package runs from it alone (migrations and report templates found inside it).

The full check (a new virtual environment, ``loopwise demo`` and a server round trip from the install) is
``make wheel-check``, which .ci/run runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # pip's own cache serves the build backend after the first run; nothing else is fetched (--no-deps).
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("loopwise-*.whl")
    return built


def test_the_wheel_holds_every_file_of_the_package(wheel: Path) -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "src/loopwise"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    expected = {p.removeprefix("src/") for p in tracked}
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        license_text = next(z.read(n) for n in names if n.endswith(".dist-info/licenses/LICENSE"))
    assert expected <= set(names), sorted(expected - set(names))
    assert len(names) == len(set(names))  # each file once (the force-include had added the migrations twice)
    assert {n for n in names if "/migrations/versions/0" in n} == {
        p for p in expected if "/migrations/versions/0" in p
    }
    assert license_text == (ROOT / "LICENSE").read_bytes()


def test_the_package_runs_from_the_wheel_alone(wheel: Path, tmp_path: Path) -> None:
    unpacked = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(unpacked)
    script = f"""
import sys
sys.path.insert(0, {str(unpacked)!r})
from importlib import resources
import pandas as pd
import loopwise as lw
from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit
assert lw.__file__.startswith({str(unpacked)!r}), lw.__file__
print(resources.files("loopwise.store") / "migrations")
schema = lw.Schema.from_yaml(CREDIT_SCHEMA_YAML)
model = lw.Client.local("monitor.db").register("credit", schema)  # migrates a new file
data = make_credit(500, seed=2)
data["ts"] = pd.Timestamp.now(tz="UTC").floor("h")
print(model.log(data.drop(columns=["repaid"]))["accepted"])
lw.compare(data, make_credit(500, seed=3, drift=True), schema=schema).to_html("report.html")
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    migrations, accepted = run.stdout.split()
    assert Path(migrations) == unpacked / "loopwise" / "store" / "migrations"
    assert accepted == "500"
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in html and "income" in html
