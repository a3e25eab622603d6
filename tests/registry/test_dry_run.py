"""What the registration's dry run reports: the columns it actually fed the version (by name or by
position, and the schema's features it does not take) and what came back (the prediction's values, the
classes, the class each score column holds); a version that does not fit is refused naming the column
(the trial: the report listed the schema's features, whatever the version took)."""

from __future__ import annotations

from pathlib import Path

import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from tests._fixtures import run_cli
from tests._fixtures.registry import SCHEMA, applicants

import loopwise as lw
from loopwise.client.base import ModelHandle


def test_the_report_names_what_was_fed_and_what_came_back(model: ModelHandle, pipeline: Pipeline) -> None:
    X, y = applicants(300, 3)
    v = model.register_version("v1", pipeline, sample=X)
    classes = [str(c).lower() for c in pipeline.classes_]
    assert v.dry_run == {
        "rows": 200,
        "fed": ["income", "age"],
        "by": "name",
        "unused": [],
        "got": {
            "prediction": "approved",
            "values": sorted({str(p).lower() for p in pipeline.predict(X.head(200))}),
            "classes": classes,
            "scores": {"p_approved": "true"},
        },
        "output": "bool",
    }
    # A version that reads income only, by name: age is not fed, and the report says so.
    narrow = LogisticRegression().fit(X[["income"]], y)
    v2 = model.register_version("v2", narrow, sample=X)
    assert (v2.dry_run["fed"], v2.dry_run["unused"]) == (["income"], ["age"])
    # Fitted on an array: the schema's features by position.
    positional = LogisticRegression().fit(X.to_numpy(), y)
    v3 = model.register_version("v3", positional, sample=X)
    assert (v3.dry_run["fed"], v3.dry_run["by"]) == (["income", "age"], "position")


def test_a_version_that_does_not_fit_is_refused_naming_the_column(model: ModelHandle) -> None:
    X, y = applicants(300, 3)
    wide = LogisticRegression().fit(X.assign(extra=1.0).to_numpy(), y)
    with pytest.raises(lw.DataError) as refused:
        model.register_version("w", wide, sample=X)
    assert str(refused.value) == (
        "version 'w' takes 3 columns by position (it was fitted without column names), but the schema of "
        "model 'credit' has 2 features: income, age"
    )
    # A score column of a class the version does not predict (the declared positive class).
    client = lw.Client.local(model.transport.engine.url.render_as_string(hide_password=False))
    words = client.register(
        "loans",
        {
            "positive": "approve",
            "columns": {
                **SCHEMA["columns"],
                "approved": {"role": "prediction"},
                "p_approved": {"role": "score"},
            },
        },
    )
    yes_no = LogisticRegression().fit(X, y.map({True: "yes", False: "no"}))
    with pytest.raises(lw.DataError) as refused:
        words.register_version("y", yes_no, sample=X)
    assert str(refused.value) == (
        "score column 'p_approved' of model 'loans' holds the probability of 'approve', which version 'y' "
        "does not predict (its classes: no, yes)"
    )
    client.close()


def test_the_cli_prints_the_dry_run(tmp_path: Path, pipeline: Pipeline) -> None:
    X, _ = applicants(300, 3)
    with lw.Client.local(tmp_path / "lw.db") as client:
        client.register("credit", SCHEMA)
    sio.dump(pipeline, tmp_path / "model.skops")
    X.to_parquet(tmp_path / "sample.parquet")
    r = run_cli(
        "versions", "register", "credit", "v1", "--artifact", "model.skops", "--sample", "sample.parquet",
        "--local", "lw.db", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    values = ", ".join(sorted({str(p).lower() for p in pipeline.predict(X.head(200))}))
    assert r.stderr.splitlines()[-1] == (
        f"dry run on 200 rows: fed income, age (by name); got approved = {values}; "
        "p_approved = probability of true"
    )


def test_the_sample_needs_only_what_the_version_takes(tmp_path: Path) -> None:
    """The trial: ``loopwise versions register ... --sample`` demanded every feature of the schema, those the
    estimator never used too. A version fitted by name needs its own ``feature_names_in_``; one fitted on an
    array takes the schema's features by position, so it still needs them all."""
    X, y = applicants(300, 3)
    with lw.Client.local(tmp_path / "lw.db") as client:
        client.register("credit", SCHEMA)
    narrow = LogisticRegression().fit(X[["income"]], y)
    assert list(narrow.feature_names_in_) == ["income"]
    sio.dump(narrow, tmp_path / "narrow.skops")
    X[["income"]].to_parquet(tmp_path / "income_only.parquet")  # no age: the schema's other feature
    r = run_cli(
        "versions", "register", "credit", "v1", "--artifact", "narrow.skops", "--sample",
        "income_only.parquet", "--local", "lw.db", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "fed income (by name)" in r.stderr.splitlines()[-1]
    with lw.Client.local(tmp_path / "lw.db") as client:
        (v,) = [x for x in client.model("credit").versions() if x.name == "v1"]
        assert (v.dry_run["fed"], v.dry_run["unused"]) == (["income"], ["age"])
    # Fitted by position: the schema's features in order, so the sample must hold age too.
    positional = LogisticRegression().fit(X[["income", "age"]].to_numpy(), y)
    sio.dump(positional, tmp_path / "positional.skops")
    r = run_cli(
        "versions", "register", "credit", "v2", "--artifact", "positional.skops", "--sample",
        "income_only.parquet", "--local", "lw.db", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert (
        r.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "the sample has no column 'age', a feature of the schema of model 'credit' that version 'v2' "
            "takes"
        )
    )


def test_a_version_may_take_a_segment_column_and_replay_feeds_it(tmp_path: Path) -> None:
    """Credit models often take the column the team slices by: a pipeline one-hot encoding ``region``,
    declared a segment, registers, and its outputs on the logged events (read back from the stored batches)
    are its own predict_proba on those rows (the trial: refused as "not a feature of the schema")."""
    import numpy as np
    import pandas as pd
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from tests._fixtures.registry import open_model
    from tests.registry.test_replay import stored

    from loopwise.store import sqlite_url

    schema = {"columns": {**SCHEMA["columns"], "region": {"role": "segment", "kind": "categorical"}}}
    client = lw.Client.local(sqlite_url(tmp_path / "lw.db"))
    client.register("credit", schema)
    client.close()
    model = open_model(sqlite_url(tmp_path / "lw.db"), tmp_path / "artifacts")
    rng = np.random.default_rng(5)
    X, _ = applicants(2000, 4)
    X = X.assign(region=rng.choice(["north", "south", "west"], len(X)))
    y = X.income + 8 * (X.region == "west") + rng.normal(0, 5, len(X)) > 55
    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["region"]), (StandardScaler(), ["income", "age"])
    )
    v2 = make_pipeline(encode, LogisticRegression()).fit(X, y)
    v1 = LogisticRegression().fit(X[["income", "age"]], y)
    model.register_version("v1", v1, sample=X)
    got = model.register_version("v2", v2, sample=X)
    assert (got.dry_run["fed"], got.dry_run["unused"]) == (["income", "age", "region"], [])

    events, _ = applicants(300, 6)
    events = events.assign(region=rng.choice(["north", "south", "west"], 300))
    ids = [f"e{i}" for i in range(300)]
    t0 = pd.Timestamp("2026-12-01 09:00", tz="UTC")
    logged = events.assign(
        id=ids,
        ts=t0 + pd.to_timedelta(np.arange(300) * 20, unit="s"),
        approved=v1.predict(events[["income", "age"]]),
        p_approved=v1.predict_proba(events[["income", "age"]])[:, 1],
    )
    model.log(logged, version="v1")
    result = model.evaluate_version("v2", start="2026-12-01T00:00:00Z", end="2026-12-02T00:00:00Z")
    assert (result.events, result.evaluated) == (300, 300)
    answers = stored(model, "v2").loc[ids]
    proba = v2.predict_proba(events)
    np.testing.assert_allclose([s["true"] for s in answers.scores], proba[:, 1], rtol=1e-12)
    np.testing.assert_array_equal(answers.prediction.to_numpy(bool), v2.predict(events))
    # A column neither a feature nor a segment is still refused, naming it.
    wider = make_pipeline(
        make_column_transformer((StandardScaler(), ["income", "zip"])), LogisticRegression()
    )
    wider.fit(X.assign(zip=1.0), y)
    with pytest.raises(
        lw.DataError, match="takes column 'zip', which is not a feature or segment of the schema"
    ):
        model.register_version("v3", wider, sample=X.assign(zip=1.0))
