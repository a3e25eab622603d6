"""Both clients raise the same classes of loopwise.errors, with every issue the server found; the CLI shows
them; unknown references are errors naming those that exist; references from data; key revocation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests._fixtures import Running
from tests._fixtures import run_cli as cli
from tests._fixtures.http import sdk

import loopwise as lw
from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit

SCHEMA = yaml.safe_load(CREDIT_SCHEMA_YAML)


def _errors(c: lw.Client) -> dict[str, BaseException]:
    """The exception each mistake raises through client ``c``."""
    model = c.register("credit", SCHEMA)
    frame = make_credit(300, seed=3)  # January 2026: backfilled history
    seen: dict[str, BaseException] = {}
    for what, call in {
        "target in predictions": lambda: model.log(frame),
        "unknown model": lambda: c.model("nope"),
        "schema conflict": lambda: c.register(
            "credit", {"columns": {"request_id": {"role": "id"}, "ts": {"role": "timestamp"}}}
        ),
        "unknown reference": lambda: model.metrics("2026-01-01", "2026-02-01", reference="nope"),
    }.items():
        with pytest.raises(lw.LoopwiseError) as err:
            call()
        seen[what] = err.value
    model.log(frame.drop(columns=["repaid"]))
    # A reference from data (profiled with the model's schema), then an unknown name lists it.
    out = model.set_reference(make_credit(2000, seed=1), name="training")
    assert out["rows"] == 2000
    with pytest.raises(lw.NotFoundError) as err:
        model.metrics("2026-01-01", "2026-02-01", reference="nope")
    assert "'training'" in str(err.value)
    m = model.metrics("2026-01-01", "2026-02-01", reference="training")
    assert m["window"]["n"] == 300 and m["drift"]["dataset"]["n_columns_compared"] > 0
    return seen


def test_the_http_and_local_clients_raise_the_same_errors(server: Running, tmp_path: Path) -> None:
    remote = _errors(sdk(server))
    local = _errors(lw.Client.local(tmp_path / "lw.db"))
    for what in local:
        assert type(remote[what]) is type(local[what]), what
    assert isinstance(remote["target in predictions"], lw.SchemaValidationError)
    assert isinstance(remote["unknown model"], lw.NotFoundError)
    assert isinstance(remote["schema conflict"], lw.ConflictError)
    # Every issue the server found reaches the caller, as the local client words it.
    local_issues = [str(i) for i in local["target in predictions"].issues]  # type: ignore[attr-defined]
    remote_issues = [str(i) for i in remote["target in predictions"].issues]  # type: ignore[attr-defined]
    assert remote_issues == local_issues and local_issues
    assert all(i in str(remote["target in predictions"]) for i in local_issues)


def test_the_cli_shows_the_servers_explanation_and_admin_keys(server: Running, tmp_path: Path) -> None:
    sdk(server).register("credit", SCHEMA)
    frame = make_credit(200, seed=4)
    frame.to_parquet(tmp_path / "with_target.parquet")
    conn = ["--url", server.url, "--api-key", server.admin_key]
    r = cli("log", str(tmp_path / "with_target.parquet"), "--model", "credit", *conn)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "column 'repaid'" in r.stderr and "nothing was stored" in r.stderr
    frame.drop(columns=["repaid"]).to_parquet(tmp_path / "p.parquet")
    assert cli("log", str(tmp_path / "p.parquet"), "--model", "credit", *conn).returncode == 0
    # Backfilled traffic: nothing in the last 24 hours, all of it in January 2026.
    recent = cli("metrics", "--model", "credit", *conn)
    assert recent.returncode == 2 and "no traffic in that window" in recent.stderr
    jan = cli("metrics", "--model", "credit", "--start", "2026-01-01", "--end", "2026-02-01", *conn)
    assert jan.returncode == 0, jan.stderr
    assert "200 predictions from 2026-01-01" in jan.stdout
    bad = cli("metrics", "--model", "credit", "--start", "2026-01-01", "--reference", "nope", *conn)
    assert bad.returncode == 2 and "no reference named 'nope'" in bad.stderr
    # Keys: a model-limited maintainer may not register models (403); revoked keys stop working.
    limited = server.key("maintainer", "credit")
    with pytest.raises(lw.ServerError) as err:
        sdk(server, limited).register("other", SCHEMA)
    assert err.value.status == 403
    viewer = server.key("viewer")
    prefix = viewer.split("_")[1]
    db = ["--database-url", server.db_url]
    listing = cli("admin", "list-keys", *db)
    assert listing.returncode == 0 and prefix in listing.stdout
    row = next(ln for ln in listing.stdout.splitlines() if prefix in ln)
    assert "viewer" in row and "never" in row
    limited_row = next(ln for ln in listing.stdout.splitlines() if limited.split("_")[1] in ln)
    assert "credit" in limited_row and "never" not in limited_row.split("│")[6]  # its 403 was a use
    r = cli("admin", "revoke-key", prefix, *db)
    assert r.returncode == 0, r.stderr
    with pytest.raises(lw.ServerError) as err:
        sdk(server, viewer).models()
    assert err.value.status == 401
    assert prefix not in cli("admin", "list-keys", *db).stdout
    assert "yes" in next(
        ln for ln in cli("admin", "list-keys", "--all", *db).stdout.splitlines() if prefix in ln
    )
    missing = cli("admin", "revoke-key", "nope", *db)
    assert missing.returncode == 2 and "no API key with prefix 'nope'" in missing.stderr


def test_the_key_admin_block_of_docs_server_md(tmp_path: Path) -> None:
    """docs/server.md's key commands as written, in a folder holding its loopwise.db; the revoke line's
    example prefix is replaced by the prefix of the key the first line created."""
    import re

    text = (Path(__file__).resolve().parents[2] / "docs/server.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(loopwise admin create-key.*?)```", text, re.S)
    assert block is not None
    lines = [ln.split("  #")[0].strip() for ln in block.group(1).splitlines() if ln.strip()]
    lw.Client.local(tmp_path / "loopwise.db").register("credit", SCHEMA)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPWISE_")}

    def sh(line: str) -> subprocess.CompletedProcess[str]:
        args = [sys.executable, "-m", "loopwise.cli", *line.split()[1:]]
        return subprocess.run(
            args,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**env, "COLUMNS": "300"},
        )

    created = sh(lines[0])
    assert created.returncode == 0, created.stderr
    prefix = created.stdout.strip().split("_")[1]
    listed = sh(lines[1])
    row = next(ln for ln in listed.stdout.splitlines() if prefix in ln)
    assert "ingest" in row and "credit" in row and "scorer" in row and "never" in row
    example = lines[2].split()[3]
    revoked = sh(lines[2].replace(example, prefix))
    assert revoked.returncode == 0, revoked.stderr
    assert prefix not in sh(lines[1]).stdout


def test_an_ingest_key_logs_through_the_sdk_and_the_cli(server: Running, tmp_path: Path) -> None:
    """The key docs/server.md gives a scorer (role ingest, limited to its model) logs predictions and
    feedback; in the trial `client.model()` first read the model, which that role may not, so both clients
    refused."""
    sdk(server).register("credit", SCHEMA)
    key = server.key("ingest", "credit")
    frame = make_credit(200, seed=5)
    labels = frame.pop("repaid")
    model = sdk(server, key).model("credit")
    assert model.log(frame.iloc[:100]) == {"accepted": 100, "duplicates": 0}
    assert model.log_feedback(frame["request_id"][:100], labels[:100])["joined"] == 100
    with pytest.raises(lw.errors.ForbiddenError):  # it still may not read
        model.metrics("2026-01-01", "2026-02-01")
    frame.iloc[100:].to_parquet(tmp_path / "rest.parquet")
    r = cli("log", str(tmp_path / "rest.parquet"), "--model", "credit", "--url", server.url, "--api-key", key)
    assert r.returncode == 0, r.stderr
    assert "accepted 100" in r.stderr
    admin = sdk(server).model("credit")
    assert admin.metrics("2026-01-01", "2026-02-01")["window"]["n"] == 200


def test_sdk_mistakes_are_loopwise_errors(server: Running, tmp_path: Path) -> None:
    """A schema file's path registers (as `model.check("gate.yaml")` reads a suite file); ids and labels of
    different lengths, a missing suite file and a missing schema are one-line loopwise errors."""
    (tmp_path / "schema.yaml").write_text(CREDIT_SCHEMA_YAML)
    c = sdk(server)
    model = c.register("credit", tmp_path / "schema.yaml")
    assert c.describe("credit")["schema"]["columns"]["request_id"] == {"role": "id", "kind": "categorical"}
    with pytest.raises(lw.ParameterError, match="schema"):
        c.register("other", None)
    with pytest.raises(lw.DataError, match="3 event id"):
        model.log_feedback(["a", "b", "c"], [True])
    with pytest.raises(lw.SchemaError, match=r"no such suite file: gaet\.yaml"):
        model.check("gaet.yaml")


@pytest.mark.parametrize("where", ["local", "server"])
def test_the_feedback_hint_names_only_a_target(where: str, server: Running, tmp_path: Path) -> None:
    """A misspelt feature was answered "(targets go to /feedback)"; only a target column gets that hint."""
    c = lw.Client.local(tmp_path / "m.db") if where == "local" else sdk(server)
    model = c.register("credit", SCHEMA)
    frame = make_credit(50, seed=4)
    with pytest.raises(lw.SchemaValidationError) as err:
        model.log(frame.drop(columns="repaid").rename(columns={"income": "incme"}))
    assert "column 'incme': not in the model's schema; did you mean 'income'" in str(err.value)
    assert "/feedback" not in str(err.value)
    with pytest.raises(lw.SchemaValidationError, match=r"column 'repaid': .*\(targets go to /feedback\)"):
        model.log(frame)
    if where == "local":
        c.close()


def test_a_missing_api_key_is_named_as_such(server: Running) -> None:
    r = cli("models", "list", "--url", server.url)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "parameter '--api-key' must be an API key for http://127.0.0.1" in r.stderr
