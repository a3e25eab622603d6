"""The one conftest. Every fixture a test in any folder may ask for is defined once in tests/_fixtures and
registered here; tests import the helpers (``Running``, ``wait_for``, ``run_cli``, ...) from
``tests._fixtures``.

- ``postgres``: a throwaway PostgreSQL cluster for the session; ``db_url``: each test on SQLite and on it;
  ``server``: a real server on loopback over ``db_url`` (tests/_fixtures/servers.py).
- ``ref_df``, ``cur_df``: generated frames of mixed column kinds (tests/_fixtures/data.py).
- ``browser``: a headless Chromium per test module (tests/_fixtures/browser.py).
"""

from __future__ import annotations

import pytest

# Before the package is first imported, so that its asserts (e.g. in the HTTP helpers) explain themselves.
pytest.register_assert_rewrite("tests._fixtures")

pytest_plugins = [
    "tests._fixtures.servers",
    "tests._fixtures.data",
    "tests._fixtures.registry",
    "tests._fixtures.browser",
]


@pytest.fixture(autouse=True, scope="session")
def _loopwise_home(tmp_path_factory: pytest.TempPathFactory) -> object:
    """Artifacts of databases with no file (PostgreSQL) go under $LOOPWISE_HOME, never the checkout."""
    mp = pytest.MonkeyPatch()
    mp.setenv("LOOPWISE_HOME", str(tmp_path_factory.mktemp("loopwise-home")))
    yield
    mp.undo()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/report/golden/*.json from the current code (review the diff before committing)",
    )
