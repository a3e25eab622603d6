"""The JSON report of a small, seeded, generated dataset against a committed copy, field by field.

A change in the report's shape (a key added, renamed or gone) or in its numbers shows up here, and in review
as a diff of tests/report/golden/credit.json. When the change is intended, regenerate the file with
``pytest tests/report/test_golden.py --update-golden`` and commit it with the change (CONTRIBUTING.md).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

import loopwise as lw
from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit

GOLDEN = Path(__file__).parent / "golden" / "credit.json"
#: Floats may move in their last digits with the BLAS, NumPy or SciPy build; more than this is a change.
REL, ABS = 1e-6, 1e-12


def _report() -> dict[str, Any]:
    reference = make_credit(3000, seed=1)
    current = make_credit(2000, seed=2, drift=True)
    schema = lw.Schema.from_yaml(CREDIT_SCHEMA_YAML)
    report = lw.compare(reference, current, schema, multivariate="pca")
    parsed: dict[str, Any] = json.loads(report.to_json())
    return parsed


def differences(want: Any, got: Any, path: str = "$") -> list[str]:
    """Every place where ``got`` differs from ``want``: keys, lengths, types, and floats beyond tolerance."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = [f"{path}.{k}: missing" for k in want if k not in got]
        out += [f"{path}.{k}: new key" for k in got if k not in want]
        for k in want.keys() & got.keys():
            out += differences(want[k], got[k], f"{path}.{k}")
        return out
    if isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            return [f"{path}: {len(got)} items, golden has {len(want)}"]
        return [
            d
            for i, (w, g) in enumerate(zip(want, got, strict=True))
            for d in differences(w, g, f"{path}[{i}]")
        ]
    numbers = (int, float)
    if isinstance(want, numbers) and isinstance(got, numbers) and not isinstance(want, bool | type(None)):
        if isinstance(got, bool) or not math.isclose(want, got, rel_tol=REL, abs_tol=ABS):
            return [f"{path}: {got!r}, golden has {want!r}"]
        return []
    return [] if want == got and type(want) is type(got) else [f"{path}: {got!r}, golden has {want!r}"]


def test_the_json_report_matches_the_golden_file(request: pytest.FixtureRequest) -> None:
    got = _report()
    if request.config.getoption("--update-golden"):
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    want = json.loads(GOLDEN.read_text())
    found = differences(want, got)
    assert not found, (
        f"{len(found)} difference(s) from {GOLDEN.name} (intended? rerun with --update-golden):\n"
        + "\n".join(found[:40])
    )


def test_the_comparison_sees_what_a_change_looks_like() -> None:
    # The comparison itself: it must flag a moved number, a new key, a missing one and a changed type.
    want = {"a": 1.0, "b": [1, 2], "c": {"d": "x"}, "e": True}
    assert differences(want, want) == []
    assert differences(want, {**want, "a": 1.0 + 1e-9}) == []
    assert differences(want, {**want, "a": 1.001}) == ["$.a: 1.001, golden has 1.0"]
    assert differences(want, {**want, "f": 0}) == ["$.f: new key"]
    assert differences(want, {k: v for k, v in want.items() if k != "c"}) == ["$.c: missing"]
    assert differences(want, {**want, "b": [1]}) == ["$.b: 1 items, golden has 2"]
    assert differences(want, {**want, "e": 1}) == ["$.e: 1, golden has True"]
    assert differences(want, {**want, "c": {"d": None}}) == ["$.c.d: None, golden has 'x'"]
