"""Generated data and a CLI runner shared by tests in every folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``loopwise ARGS`` in a fresh process, as a user runs it: no LOOPWISE_ settings of the test run, a wide
    terminal (Rich wraps tables at the terminal's width)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPWISE_")}
    return subprocess.run(
        [sys.executable, "-m", "loopwise.cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=cwd,
        env={**env, "COLUMNS": "400"},
    )


def mixed_frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Numeric columns of several shapes (with NaN), categoricals, a boolean and a segment."""
    rng = np.random.default_rng(seed)
    x_nan = rng.normal(shift, 1, n)
    x_nan[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "normal": rng.normal(shift, 1, n),
            "lognormal": rng.lognormal(0, 0.5 + shift / 4, n),
            "ints": rng.poisson(3 + shift, n),
            "with_nan": x_nan,
            "cat": rng.choice(["a", "b", "c", "d"], n, p=[0.4 - shift / 10, 0.3, 0.2, 0.1 + shift / 10]),
            "flag": rng.random(n) < 0.3 + shift / 10,
            "group": rng.choice(["g1", "g2", "g3"], n),
        }
    )


@pytest.fixture(scope="session")
def ref_df() -> pd.DataFrame:
    return mixed_frame(20_000, 1)


@pytest.fixture(scope="session")
def cur_df() -> pd.DataFrame:
    return mixed_frame(15_000, 2, shift=0.1)
