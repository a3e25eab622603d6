"""YAML a user writes by hand with a value the parser cannot build (a date that does not exist) or a check
naming its column with a list: one SchemaError naming the problem, never a traceback or a 500 (the server's
fuzz test found both; decision 0047)."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

import loopwise as lw
from loopwise.checks import Suite
from loopwise.monitors import MonitorSpec
from loopwise.schema.yamlfile import load_yaml_text


def test_a_date_that_does_not_exist_is_a_schema_error() -> None:
    with pytest.raises(ValueError, match="day is out of range for month"):  # PyYAML's own, not a YAMLError
        yaml.safe_load("anchor: 2026-02-30")
    text = (
        "name: m\nsuite: {suite: s, checks: [{metric: row_count, condition: {ge: 1}}]}\n"
        "window: 1d\nstep: 1d\nanchor: 2026-02-30\n"
    )
    with pytest.raises(lw.SchemaError, match=r"the monitor is not valid YAML: day is out of range for month"):
        MonitorSpec.from_yaml(text)
    assert load_yaml_text("anchor: 2026-02-28", "monitor") == {"anchor": dt.date(2026, 2, 28)}


@pytest.mark.parametrize("key", ["column", "segment", "name"])
@pytest.mark.parametrize("value", [[], ["income"], 3, {"a": 1}])
def test_a_check_name_that_is_not_text_is_a_schema_error(key: str, value: object) -> None:
    spec = {"suite": "s", "checks": [{"metric": "accuracy", "condition": {"lt": 0}, key: value}]}
    with pytest.raises(
        lw.SchemaError, match=rf"checks\[0\]: '{key}' must be text \(a name; quote a number\)"
    ):
        Suite.from_dict(spec)
