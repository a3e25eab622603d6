"""Each input error the first-day trial hit is one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from tests._fixtures import run_cli as run

from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit


def one_line_error(r: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("errors")
    make_credit(2000, seed=1).to_parquet(d / "ref.parquet")
    cur = make_credit(1000, seed=2)
    cur.to_parquet(d / "cur.parquet")
    cur = cur.astype({"income": object})
    cur.loc[7, "income"] = "forty"
    cur.to_csv(d / "forty.csv", index=False)
    (d / "schema.yaml").write_text(CREDIT_SCHEMA_YAML)
    (d / "misspelt.yaml").write_text(CREDIT_SCHEMA_YAML.replace("income:", "incme:"))
    return d


def test_a_misspelt_schema_column_names_the_close_match(data: Path) -> None:
    r = run(
        "compare",
        str(data / "ref.parquet"),
        str(data / "cur.parquet"),
        "--schema",
        str(data / "misspelt.yaml"),
    )
    one_line_error(r, "incme (did you mean 'income'?)", "reference")


def test_text_in_a_numeric_column_is_named_with_its_row(data: Path) -> None:
    r = run(
        "compare", str(data / "ref.parquet"), str(data / "forty.csv"), "--schema", str(data / "schema.yaml")
    )
    one_line_error(r, "'income'", "'forty' (row 7)")
    r = run(
        "profile", str(data / "forty.csv"), "--schema", str(data / "schema.yaml"), "-o", str(data / "x.lwp")
    )
    one_line_error(r, "'forty' (row 7)")


def test_logging_text_in_a_numeric_column_names_its_row(data: Path, tmp_path: Path) -> None:
    """`loopwise log` said "all 1000 values: expected numeric values, got Arrow type string" (the trial)."""
    db = str(tmp_path / "m.db")
    r = run("models", "register", "credit", "--schema", str(data / "schema.yaml"), "--local", db, "--create")
    assert r.returncode == 0, r.stderr
    one_line_error(run("log", str(data / "forty.csv"), "--model", "credit", "--local", db), "'forty' (row 7)")
    # Nothing was stored: with the bad cell blanked the numbers in text convert and every row is accepted.
    frame = pd.read_csv(data / "forty.csv").drop(columns=["repaid"])  # targets go to feedback
    frame.loc[7, "income"] = ""
    frame.to_csv(tmp_path / "blank.csv", index=False)
    r = run("log", str(tmp_path / "blank.csv"), "--model", "credit", "--local", db)
    assert r.returncode == 0 and f"accepted {len(frame):,}, already stored 0" in r.stderr, r.stdout + r.stderr


def test_blank_numbers_in_a_text_column_convert(data: Path, tmp_path: Path) -> None:
    # The same CSV with the bad cell blanked: text that is numbers or blank converts, as pandas reads it.
    frame = pd.read_csv(data / "forty.csv")
    frame.loc[7, "income"] = ""
    frame.to_csv(tmp_path / "blank.csv", index=False)
    r = run(
        "profile",
        str(tmp_path / "blank.csv"),
        "--schema",
        str(data / "schema.yaml"),
        "-o",
        str(tmp_path / "b.lwp"),
    )
    assert r.returncode == 0, r.stderr
    import loopwise as lw

    p = lw.Profile.from_bytes((tmp_path / "b.lwp").read_bytes())
    income = pd.to_numeric(frame["income"], errors="coerce")
    assert p.columns["income"].missing == int(income.isna().sum())
    assert p.columns["income"].moments.mean == pytest.approx(income.mean())


def test_an_unreachable_database_url(data: Path) -> None:
    url = "postgresql://loopwise@127.0.0.1:1/nowhere"
    one_line_error(
        run("admin", "create-key", "--database-url", url), "cannot open the database", "127.0.0.1:1"
    )
    one_line_error(run("db", "upgrade", "--database-url", url), "cannot open the database")


def test_a_server_that_is_down(data: Path) -> None:
    r = run(
        "log",
        str(data / "cur.parquet"),
        "--model",
        "credit",
        "--url",
        "http://127.0.0.1:1",
        "--api-key",
        "lw_a_b",
    )
    one_line_error(r, "cannot reach the server at http://127.0.0.1:1")


def test_a_missing_database_file_is_not_created(tmp_path: Path, data: Path) -> None:
    typo = tmp_path / "monitr.db"
    one_line_error(run("models", "list", "--local", str(typo)), "no database at", "monitr.db")
    one_line_error(
        run("log", str(data / "cur.parquet"), "--model", "credit", "--local", str(typo)), "no database at"
    )
    # admin create-key without --database-url: the default ./loopwise.db, which does not exist here.
    one_line_error(run("admin", "create-key", cwd=tmp_path), "no database at", "loopwise.db")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    # Created only when asked.
    r = run(
        "models",
        "register",
        "credit",
        "--schema",
        str(data / "schema.yaml"),
        "--local",
        str(typo),
        "--create",
    )
    assert r.returncode == 0, r.stderr
    assert run("models", "--local", str(typo)).stdout.split() == ["credit"]
    assert run("db", "upgrade", "--database-url", f"sqlite:///{tmp_path / 'new.db'}").returncode == 0
    assert (tmp_path / "new.db").exists()


def test_a_misspelt_segment_against_a_profile_is_one_line(data: Path) -> None:
    """The trial's `compare ref.lwp today.parquet --segment rase=group_b` was a KeyError traceback, exit 1."""
    ref = data / "seg.lwp"
    r = run("profile", str(data / "ref.parquet"), "--schema", str(data / "schema.yaml"), "-o", str(ref))
    assert r.returncode == 0, r.stderr
    r = run("compare", str(ref), str(data / "cur.parquet"), "--segment", "rase=group_b")
    one_line_error(r, "'rase' is not a segment column; segments: race")
    r = run("compare", str(ref), str(data / "cur.parquet"), "--segment", "race=group_z")
    one_line_error(r, "no rows with race = 'group_z'", "group_a")


def test_serve_refuses_a_port_that_does_not_exist() -> None:
    """`serve --port 99999` listened on 34463 (the port number wrapped) and said nothing."""
    r = run("serve", "--port", "99999")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "--port" in r.stderr and "65535" in r.stderr


def test_logging_times_that_do_not_read_names_every_bad_row(data: Path, tmp_path: Path) -> None:
    """The trial's CSV with two bad times was refused naming only the first, by value and without its row."""
    db = str(tmp_path / "m.db")
    r = run("models", "register", "credit", "--schema", str(data / "schema.yaml"), "--local", db, "--create")
    assert r.returncode == 0, r.stderr
    frame = make_credit(20, seed=4).drop(columns=["repaid"])
    frame["ts"] = frame.ts.dt.strftime("%Y-%m-%d %H:%M:%S").astype(object)
    frame.loc[3, "ts"], frame.loc[11, "ts"] = "2026-09-31 10:00:00", "last tuesday"
    frame.to_csv(tmp_path / "badts.csv", index=False)
    one_line_error(
        run("log", str(tmp_path / "badts.csv"), "--model", "credit", "--local", db),
        "column 'ts', rows 3, 11: not ISO 8601 times",
        "'2026-09-31 10:00:00', 'last tuesday'",
    )


def test_a_parquet_file_with_a_pandas_index_logs_as_pandas_reads_it(data: Path, tmp_path: Path) -> None:
    """`df.sample(...).to_parquet(f)` stores the index as `__index_level_0__`; `log` refused that column."""
    db = str(tmp_path / "m.db")
    r = run("models", "register", "credit", "--schema", str(data / "schema.yaml"), "--local", db, "--create")
    assert r.returncode == 0, r.stderr
    sampled = make_credit(500, seed=5).drop(columns=["repaid"]).sample(120, random_state=1)
    sampled.to_parquet(tmp_path / "late.parquet")
    assert "__index_level_0__" in pq.read_schema(tmp_path / "late.parquet").names
    r = run("log", str(tmp_path / "late.parquet"), "--model", "credit", "--local", db)
    assert r.returncode == 0 and "accepted 120, already stored 0" in r.stderr, r.stdout + r.stderr


def test_champion_and_challenger_files_no_check_reads_are_refused(data: Path, tmp_path: Path) -> None:
    """The trial's gate took --champion/--challenger and passed without reading them (no check compared)."""
    (tmp_path / "gate.yaml").write_text("suite: quality\npresets: [data_quality]\n")
    frame = make_credit(300, seed=6)
    frame.to_parquet(tmp_path / "v.parquet", index=False)
    r = run(
        "check", str(tmp_path / "gate.yaml"), "--schema", str(data / "schema.yaml"),
        "--current", str(data / "cur.parquet"),
        "--champion", str(tmp_path / "v.parquet"), "--challenger", str(tmp_path / "v.parquet"),
    )  # fmt: skip
    one_line_error(r, "'--champion' must be read by a check", "suite 'quality'", "challenger_gate preset")


def test_a_misspelt_column_method_is_named_by_its_option(data: Path) -> None:
    r = run("compare", str(data / "ref.parquet"), str(data / "cur.parquet"), "--column-method", "incme=ks")
    one_line_error(r, "parameter '--column-method' must be column names of the reference", "got ['incme']")


def test_a_missing_artifact_file_is_named_as_any_missing_file(data: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "m.db")
    r = run("models", "register", "credit", "--schema", str(data / "schema.yaml"), "--local", db, "--create")
    assert r.returncode == 0, r.stderr
    missing = tmp_path / "missing.skops"
    r = run("versions", "register", "credit", "v1", "--artifact", str(missing), "--local", db)
    one_line_error(r, f"no such file or directory: {missing}")
    assert "Errno" not in r.stderr


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["versions", "register"], ["missing argument 'model'", "'loopwise versions register --help'"]),
        (["versions", "register", "credit"], ["missing argument 'version'"]),
        (["monitors", "history", "credit", "m", "--limit", "abc"], ["invalid value for '--limit'"]),
        (["versions", "nosuch"], ["no such command 'nosuch'", "'loopwise versions --help'"]),
        (["check", "--bogus"], ["no such option: --bogus", "'loopwise check --help'"]),
    ],
)
def test_a_usage_error_is_one_line_not_clicks_box(args: list[str], needles: list[str]) -> None:
    """Before, an argument or option missing, unknown or of the wrong type drew click's usage line, a hint
    and a box of four lines."""
    one_line_error(run(*args), *needles)


def test_a_group_without_its_command_still_shows_its_help() -> None:
    r = run("monitors")
    assert (r.returncode, r.stderr) == (2, "")  # an empty line on stderr before: click's show() of "" help
    assert "Usage: loopwise monitors " in r.stdout and " run " in r.stdout
