"""``loopwise demo``: the whole library on a generated credit-risk dataset, in one command."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from loopwise.cli.common import console, out, size_of

#: The demo's gate: the data-quality, classification and fairness presets for the credit schema.
DEMO_GATE_YAML = """suite: credit-risk-demo-gate
presets: [data_quality, classification, fairness]
"""


def _model_files(out_dir: Path, today: Any) -> None:
    """What the README's monitoring and champion-vs-challenger commands read: today's served predictions
    without labels, the labels of a third of them, and two versions' outputs on the same requests (the
    challenger's scores a little sharper)."""
    import numpy as np

    today.drop(columns=["repaid"]).to_parquet(out_dir / "predictions.parquet", index=False)
    today[["request_id", "repaid"]].iloc[: len(today) // 3].to_parquet(
        out_dir / "labels.parquet", index=False
    )
    today[["request_id", "approved", "p_approve"]].to_parquet(out_dir / "champ.parquet", index=False)
    rng = np.random.default_rng(0)
    sharper = np.clip(
        today["p_approve"] + np.where(today["repaid"], 0.05, -0.05) * rng.random(len(today)), 0, 1
    )
    today.assign(p_approve=sharper, approved=sharper >= 0.5).to_parquet(
        out_dir / "chall.parquet", index=False
    )


def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the data and reports.")] = Path(
        "demo-output"
    ),
    rows: Annotated[int, typer.Option(help="Rows in the reference (the current has 40%).")] = 200_000,
) -> None:
    import numpy as np
    import pandas as pd

    import loopwise as lw
    from loopwise.cli.app import _print_report
    from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit

    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    console.print(
        f"generating a credit-risk dataset: {rows:,} reference rows, {int(rows * 0.4):,} current rows "
        "(the economy has turned: incomes fall, more medical loans)"
    )
    ref, cur = make_credit(rows, seed=7), make_credit(int(rows * 0.4), seed=7, drift=True)
    # The files carry the names README.md's Python and command-line blocks use, so that those blocks run
    # as written from this folder.
    ref.to_parquet(out_dir / "train.parquet", index=False)
    cur.to_parquet(out_dir / "today.parquet", index=False)
    (out_dir / "schema.yaml").write_text(CREDIT_SCHEMA_YAML, encoding="utf-8")
    _model_files(out_dir, cur)
    schema = lw.Schema.from_yaml(CREDIT_SCHEMA_YAML)
    ref_profile = lw.profile(out_dir / "train.parquet", schema=schema)
    (out_dir / "ref.lwp").write_bytes(ref_profile.to_bytes())
    report = lw.compare(out_dir / "train.parquet", out_dir / "today.parquet", schema=schema)
    report.to_html(out_dir / "report.html")
    report.to_json(out_dir / "report.json")
    _print_report(report)
    by_group = ", ".join(f"{k}: {p.n:,}" for k, p in sorted(ref_profile.segments["race"].items()))
    out.print(f"\nreference profile per segment 'race': {by_group}")

    # A CI gate on the same data: quality, model quality against the reference, fairness. (The README's
    # `loopwise check` adds the challenger_gate preset, to compare champ.parquet with chall.parquet.)
    from loopwise.checks import Suite, to_junit, to_markdown

    (out_dir / "gate.yaml").write_text(DEMO_GATE_YAML, encoding="utf-8")
    gate = Suite.from_yaml(out_dir / "gate.yaml", schema).run(cur, ref, schema=schema)
    (out_dir / "gate.md").write_text(to_markdown(gate), encoding="utf-8")
    (out_dir / "gate.xml").write_text(to_junit(gate), encoding="utf-8")
    c = gate.counts
    out.print(
        f"\ncheck gate: [bold]{gate.status.upper()}[/] ({c['pass']} passed, {c['warn']} warned, "
        f"{c['fail']} failed, {c['error']} not computable)",
        soft_wrap=True,
    )
    for r in gate.results:
        if r.status in ("fail", "error"):
            out.print(f"  {r.status}: {r.message or r.reason}", highlight=False)

    # Monitoring: the current traffic logged into an embedded monitor, labels arriving for a third of it.
    monitor_path = out_dir / "monitor.db"
    monitor_path.unlink(missing_ok=True)
    client = lw.Client.local(monitor_path)
    model = client.register("credit-risk", schema)
    model.set_reference(ref_profile)
    traffic = cur.copy()
    traffic["ts"] = (
        pd.Timestamp.now(tz="UTC").floor("h")
        - pd.Timedelta(hours=3)
        + pd.to_timedelta(np.arange(len(traffic)) * (3 * 3600 / len(traffic)), unit="s")
    )
    model.log(traffic.drop(columns=["repaid"]))
    labelled = traffic.iloc[: len(traffic) // 3]  # as labels.parquet holds
    model.log_feedback(labelled["request_id"], labelled["repaid"])
    m = model.metrics()
    acc, est = m["performance"]["accuracy"], m["estimated_performance"]["accuracy"]
    out.print(
        f"\nmonitor ({monitor_path}): {m['window']['n']:,} predictions, label coverage "
        f"{acc['label_coverage']:.0%}; accuracy {acc['value']:.3f} on the labelled third, estimated "
        f"{est['estimate']:.3f} [{est['ci_low']:.3f}, {est['ci_high']:.3f}] from the scores; "
        f"{len(m['drift']['dataset']['drifted_columns'])} drifted columns",
        soft_wrap=True,
    )
    client.close()  # folds the write-ahead log into monitor.db, so the size listed below is the file's
    # The embedded database's lock files (monitor.db-writer.lock) serialise writers while it is open; the
    # demo's client was the only one and is closed, so they go: the folder holds what the list below says.
    for lock in out_dir.glob(f"{monitor_path.name}-*.lock"):
        lock.unlink(missing_ok=True)
    out.print(f"\n[bold]{report.headline()}[/]")
    for name in (
        "train.parquet",
        "today.parquet",
        "schema.yaml",
        "predictions.parquet",
        "labels.parquet",
        "champ.parquet",
        "chall.parquet",
        "ref.lwp",
        "report.html",
        "report.json",
        "gate.yaml",
        "gate.md",
        "gate.xml",
        "monitor.db",
    ):
        out.print(f"  {out_dir / name} ({size_of(out_dir / name)})", highlight=False, soft_wrap=True)
    out.print(f"done in {time.perf_counter() - t0:.1f} s. Open {out_dir / 'report.html'} in a browser.")
