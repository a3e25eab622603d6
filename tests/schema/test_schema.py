from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import loopwise as lw
from loopwise.schema import Kind, Role

ISSUE_YAML = """\
columns:
  request_id: {role: id}
  ts:         {role: timestamp}
  income:     {kind: numeric}
  purpose:    {kind: categorical}
  race:       {role: segment, kind: categorical}
  approved:   {role: prediction}
  p_approve:  {role: score}
  repaid:     {role: target}
"""


def test_the_issue_schema_file_loads_and_round_trips() -> None:
    s = lw.Schema.from_yaml(ISSUE_YAML)
    assert s["request_id"].role is Role.ID
    assert s["request_id"].kind is Kind.CATEGORICAL
    assert s["ts"].kind is Kind.DATETIME
    assert s["race"].role is Role.SEGMENT
    assert s["approved"].kind is None  # resolved from data later
    assert lw.Schema.from_yaml(s.to_yaml()) == s


def test_infer_kinds_and_roles() -> None:
    df = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(100)],
            "ts": pd.date_range("2026-01-01", periods=100, freq="h", tz="UTC"),
            "income": np.arange(100.0),
            "count": np.arange(100),
            "purpose": ["car", "home"] * 50,
            "flag": [True, False] * 50,
            "comment": [f"this is a long free-text comment number {i}" for i in range(100)],
            "prediction": [0, 1] * 50,
            "p_yes": np.linspace(0, 1, 100),
            "label": [1, 0] * 50,
        }
    )
    s = lw.Schema.infer(df, segments=["purpose"])
    got = {c.name: (c.role.value, c.kind.value if c.kind else None) for c in s}
    assert got == {
        "request_id": ("id", "categorical"),
        "ts": ("timestamp", "datetime"),
        "income": ("feature", "numeric"),
        "count": ("feature", "numeric"),
        "purpose": ("segment", "categorical"),
        "flag": ("feature", "boolean"),
        "comment": ("feature", "text"),
        "prediction": ("prediction", "numeric"),
        "p_yes": ("score", "numeric"),
        "label": ("target", "numeric"),
    }
    assert lw.Schema.from_yaml(s.to_yaml()) == s


@pytest.mark.parametrize("kind", ["pandas", "polars", "lazy", "arrow", "batch", "parquet", "csv", "dir"])
def test_every_input_form_gives_the_same_profile(kind: str, tmp_path: object, ref_df: pd.DataFrame) -> None:
    df = ref_df[["normal", "cat", "ints"]]
    table = pa.Table.from_pandas(df, preserve_index=False)
    path = tmp_path  # type: ignore[assignment]
    data: object
    if kind == "pandas":
        data = df
    elif kind == "polars":
        data = pl.from_pandas(df)
    elif kind == "lazy":  # a Polars LazyFrame is collected
        data = pl.from_pandas(df).lazy()
    elif kind == "arrow":
        data = table
    elif kind == "batch":
        data = (
            table.to_batches()[0] if len(table.to_batches()) == 1 else table.combine_chunks().to_batches()[0]
        )
    elif kind == "parquet":
        data = path / "d.parquet"  # type: ignore[operator]
        pq.write_table(table, data)
    elif kind == "csv":
        data = path / "d.csv"  # type: ignore[operator]
        df.to_csv(data, index=False)
    else:
        data = path / "parts"  # type: ignore[operator]
        data.mkdir()  # type: ignore[attr-defined]
        pq.write_table(table.slice(0, 5000), data / "a.parquet")  # type: ignore[operator]
        pq.write_table(table.slice(5000), data / "b.parquet")  # type: ignore[operator]
    p = lw.profile(data)
    assert p.n == len(df)
    assert p["normal"].moments.mean == pytest.approx(df["normal"].mean(), rel=1e-12)
    assert p["cat"].frequencies() == df["cat"].value_counts().to_dict()


def test_validation_reports_every_problem_with_column_and_row() -> None:
    schema = lw.Schema.from_yaml("""
columns:
  x: {kind: numeric, nullable: false}
  y: {kind: categorical, values: [a, b]}
  z: {kind: numeric}
  w: {kind: boolean}
""")
    df = pd.DataFrame(
        {
            "x": [1.0, np.nan, 3.0, np.inf],
            "y": ["a", "b", "c", None],
            "z": ["1", "2", "3", "4"],
        }
    )
    issues = lw.validate(schema, df)
    found = {(i.column, i.problem, i.rows) for i in issues}
    assert found == {
        ("w", "missing_column", ()),
        ("x", "null", (1,)),  # pandas NaN arrives as an Arrow null
        ("x", "infinite", (3,)),
        ("y", "unknown_category", (2,)),
        ("z", "wrong_type", ()),
    }
    with pytest.raises(lw.SchemaValidationError) as err:
        lw.check(schema, df)
    assert "column 'x', row 1" in str(err.value)
    (wrong,) = [i for i in issues if i.problem == "wrong_type"]  # the whole column: counted, not listed
    assert wrong.count == 4  # pandas' strings arrive as string or large_string: the message names which
    assert str(wrong).startswith("column 'z', all 4 values: expected numeric values, got Arrow type ")
    assert len(err.value.issues) == 5


def test_schema_typos_are_errors_that_list_valid_keys() -> None:
    with pytest.raises(lw.SchemaError, match=r"unknown key.*'knd'.*valid keys: role, kind"):
        lw.Schema.from_yaml("columns:\n  x: {knd: numeric}\n")
    with pytest.raises(lw.SchemaError, match="kind must be one of numeric, categorical"):
        lw.Schema.from_yaml("columns:\n  x: {kind: number}\n")
    with pytest.raises(lw.SchemaError, match="role must be one of"):
        lw.Schema.from_yaml("columns:\n  x: {role: feature_col}\n")


def test_bad_inputs_get_clear_errors(tmp_path: object) -> None:
    bad = tmp_path / "notes.txt"  # type: ignore[operator]
    bad.write_text("hello")
    with pytest.raises(lw.DataError, match="not a Parquet or CSV file"):
        lw.to_table(bad)
    with pytest.raises(lw.DataError, match="no such file"):
        lw.to_table(tmp_path / "missing.parquet")  # type: ignore[operator]
    mixed = pd.DataFrame({"ok": [1, 2, 3], "mixed": [1, "two", 3]})
    with pytest.raises(lw.DataError, match=r"column 'mixed' has mixed types.*row 1 holds str 'two'"):
        lw.to_table(mixed)
    with pytest.raises(lw.DataError, match="expected a pandas or Polars DataFrame"):
        lw.to_table([1, 2, 3])
    with pytest.raises(lw.EmptyDataError, match="no rows"):
        lw.profile(pd.DataFrame({"x": pd.Series([], dtype=float)}))


def test_print_shows_a_schema_as_its_yaml_and_a_profile_in_a_few_lines(ref_df: pd.DataFrame) -> None:
    """print(schema) and print(profile) were kilobytes of dataclass repr on one line (the trial)."""
    schema = lw.Schema.infer(ref_df)
    assert str(schema) == schema.to_yaml().rstrip("\n")
    assert lw.Schema.from_yaml(str(schema)) == schema
    df = ref_df.assign(g=np.where(np.arange(len(ref_df)) % 3 == 0, "a", "b"))
    p = lw.profile(df, segments=["g"], chunk_size=1000)
    lines = str(p).splitlines()
    assert lines[0] == f"Profile of {len(df):,} rows, {len(p.columns)} columns: {', '.join(p.columns)}"
    counts = df["g"].value_counts()
    assert lines[1] == f"segment g: a: {counts['a']:,}, b: {counts['b']:,}"
    assert lines[2].startswith(f"profiled in {-(-len(df) // 1000)} chunks of 1,000 rows")
