"""docs/detectors.md's Python blocks run as written, and say what they print."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_detectors_page_runs_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "detectors.md").read_text(), re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, "docs/detectors.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    # What the comments claim.
    assert out[0].endswith("[3000]")
    assert out[1] == "error rate changed at value 4013 (alarm at 4224)"
    assert out[2] == "(array([3029]), array([3000]))"
    assert out[3:5] == ["(array([], dtype=int64), array([], dtype=int64))", "(array([423]), array([405]))"]
    assert out[5:7] == ["(array([1139]), array([1005]))", "(array([1343]), array([1005]))"]
    assert out[7] == "(array([ 221, 1343, 1610]), array([ 171, 1005, 1484]))"
    assert out[8:10] == ["[[301], [300], []]", "(array([329]), array([300])) (1,)"]
    assert out[10:13] == ["h 40.3 0.9 True", "146 6", "20026 20003"]
