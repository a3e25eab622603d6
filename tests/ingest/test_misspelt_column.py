"""A new-user trial: one misspelt column was "2 schema violations" through the local client (a column the
schema has not, and one it misses) and "1 problem" over HTTP (the server's early check of the column names
answered the unknown column alone). Both paths now answer one violation naming the column and the schema's
column it most likely meant, in the same words (decision 0059); the server still refuses many unknown
columns by their names alone before building the batch (decision 0016)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests._fixtures import Running, run_cli
from tests._fixtures.http import sdk

import loopwise as lw
from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit

SCHEMA = yaml.safe_load(CREDIT_SCHEMA_YAML)
ONE = (
    "schema violation (nothing was stored): column 'incom': not in the model's schema; did you mean "
    "'income', which the data lacks?"
)


def _refused(c: lw.Client, frame: object) -> lw.SchemaValidationError:
    model = c.model("credit") if "credit" in c.models() else c.register("credit", SCHEMA)
    with pytest.raises(lw.SchemaValidationError) as err:
        model.log(frame)
    return err.value


def test_a_misspelt_column_is_one_violation_on_both_paths(server: Running, tmp_path: Path) -> None:
    frame = make_credit(40, seed=2).drop(columns="repaid")
    misspelt = frame.rename(columns={"income": "incom"})
    local = lw.Client.local(tmp_path / "lw.db")
    try:
        here, there = _refused(local, misspelt), _refused(sdk(server), misspelt)
        assert str(here) == str(there) == ONE
        assert [i.to_dict() for i in here.issues] == [i.to_dict() for i in there.issues]
        (issue,) = here.issues
        assert (issue.column, issue.problem) == ("incom", "unknown_column")

        # With other problems beside it, both count and word every one alike (the server no longer answers
        # the unknown names alone before validating the rest).
        worse = misspelt.rename(columns={"region": "Region"}).assign(request_id="r1", colour="red")
        here, there = _refused(local, worse), _refused(sdk(server), worse)
        assert str(here) == str(there)
        text = str(here)
        assert text.startswith("4 schema violations (nothing was stored):\n")
        assert (
            "column 'Region': not in the model's schema; did you mean 'region', which the data lacks?" in text
        )
        assert "column 'colour': column(s) not in the model's schema" in text  # nothing close: no guess
        assert "an event id appears twice" in text and "column 'region'" not in text
    finally:
        local.close()

    # The shell, local and over HTTP: the same line.
    misspelt.to_parquet(tmp_path / "batch.parquet")
    by_file = run_cli(
        "log", str(tmp_path / "batch.parquet"), "--model", "credit", "--local", str(tmp_path / "lw.db")
    )
    by_url = run_cli(
        "log", str(tmp_path / "batch.parquet"), "--model", "credit", "--url", server.url,
        "--api-key", server.admin_key,
    )  # fmt: skip
    assert by_file.returncode == by_url.returncode == 2
    assert ONE in by_file.stderr and ONE in by_url.stderr, (by_file.stderr, by_url.stderr)


def test_validate_names_the_misspelling_whether_extra_columns_are_allowed_or_not() -> None:
    schema = lw.Schema.from_yaml(CREDIT_SCHEMA_YAML)
    data = make_credit(20, seed=1).rename(columns={"income": "Income", "age": "agee"})
    for allow in (True, False):
        issues = lw.validate(schema, data, allow_extra_columns=allow)
        assert [(i.column, i.message) for i in issues] == [
            ("agee", "not in the schema; did you mean 'age', which the data lacks?"),
            ("Income", "not in the schema; did you mean 'income', which the data lacks?"),
        ]
    # A missing column with nothing like it sent stays a missing column; an unrelated extra one is no guess.
    issues = lw.validate(schema, make_credit(20, seed=1).drop(columns="income").assign(zzz=1))
    assert [(i.column, i.problem) for i in issues] == [("income", "missing_column")]
