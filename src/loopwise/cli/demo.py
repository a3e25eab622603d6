"""``loopwise demo``: the whole library on a generated credit-risk dataset, in one command."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from loopwise.cli.common import console, out


def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the data and reports.")] = Path(
        "demo-output"
    ),
    rows: Annotated[int, typer.Option(help="Rows in the reference (the current has 40%).")] = 200_000,
) -> None:
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
    ref.to_parquet(out_dir / "reference.parquet", index=False)
    cur.to_parquet(out_dir / "current.parquet", index=False)
    (out_dir / "schema.yaml").write_text(CREDIT_SCHEMA_YAML, encoding="utf-8")
    schema = lw.Schema.from_yaml(CREDIT_SCHEMA_YAML)
    ref_profile = lw.profile(out_dir / "reference.parquet", schema=schema)
    (out_dir / "reference.lwp").write_bytes(ref_profile.to_bytes())
    report = lw.compare(out_dir / "reference.parquet", out_dir / "current.parquet", schema=schema)
    report.to_html(out_dir / "report.html")
    report.to_json(out_dir / "report.json")
    _print_report(report)
    by_group = ", ".join(f"{k}: {p.n:,}" for k, p in sorted(ref_profile.segments["race"].items()))
    out.print(f"\nreference profile per segment 'race': {by_group}")
    out.print(f"\n[bold]{report.headline()}[/]")
    for name in (
        "reference.parquet",
        "current.parquet",
        "schema.yaml",
        "reference.lwp",
        "report.html",
        "report.json",
    ):
        out.print(f"  {out_dir / name}")
    out.print(f"done in {time.perf_counter() - t0:.1f} s. Open {out_dir / 'report.html'} in a browser.")
