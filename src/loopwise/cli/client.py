"""``loopwise models``, ``log``, ``metrics``: the SDK from the shell (a server, or a local database)."""

from __future__ import annotations

import datetime as dt
import json as jsonlib
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from loopwise.cli.common import console, out, user_errors

UrlOpt = Annotated[str | None, typer.Option("--url", envvar="LOOPWISE_URL", help="Server URL.")]
KeyOpt = Annotated[str | None, typer.Option("--api-key", envvar="LOOPWISE_API_KEY", help="API key.")]
LocalOpt = Annotated[
    Path | None, typer.Option("--local", help="Use a local database file instead of a server.")
]


def connect(url: str | None, key: str | None, local: Path | None) -> Any:
    import loopwise as lw

    if local is not None:
        return lw.Client.local(local)
    if not url or not key:
        raise lw.ParameterError(
            "--url/--api-key",
            url,
            "a server URL and API key (or LOOPWISE_URL and LOOPWISE_API_KEY), or --local PATH",
        )
    return lw.Client(url, key)


def models(url: UrlOpt = None, api_key: KeyOpt = None, local: LocalOpt = None) -> None:
    """List the registered models."""
    with user_errors():
        for name in connect(url, api_key, local).models():
            out.print(name, highlight=False)


def log(
    data: Annotated[Path, typer.Argument(help="Parquet or CSV file of predictions.")],
    model: Annotated[str, typer.Option(help="The model's name.")],
    version: Annotated[str | None, typer.Option(help="The model version that made them.")] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """Log predictions from a file (in batches, idempotently)."""
    with user_errors():
        result = connect(url, api_key, local).model(model).log(data, version=version)
    console.print(f"accepted {result['accepted']:,}, already stored {result['duplicates']:,}")


def _window(text: str) -> dt.timedelta:
    m = re.fullmatch(r"(\d+)([hdw])", text.strip())
    if not m:
        import loopwise as lw

        raise lw.ParameterError("--window", text, "a length like 24h, 7d or 2w")
    n, unit = int(m.group(1)), m.group(2)
    return {"h": dt.timedelta(hours=n), "d": dt.timedelta(days=n), "w": dt.timedelta(weeks=n)}[unit]


def metrics(
    model: Annotated[str, typer.Option(help="The model's name.")],
    window: Annotated[str, typer.Option(help="How far back: 24h, 7d, 2w.")] = "24h",
    reference: Annotated[str, typer.Option(help="Reference name.")] = "default",
    json: Annotated[Path | None, typer.Option("--json", help="Write the full result here.")] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """Drift, performance and operations of the model's last WINDOW of traffic."""
    with user_errors():
        end = dt.datetime.now(dt.UTC)
        result = (
            connect(url, api_key, local).model(model).metrics(end - _window(window), end, reference=reference)
        )
    if json is not None:
        json.write_text(jsonlib.dumps(result, indent=2), encoding="utf-8")
    out.print(
        f"{model}: {result['window']['n']:,} predictions in the last {window}",
        highlight=False,
        soft_wrap=True,
    )
    table = Table()
    table.add_column("what")
    table.add_column("value", justify="right")
    drift = result.get("drift")
    if drift:
        d = drift["dataset"]
        table.add_row("drifted columns", f"{len(d['drifted_columns'])} of {d['n_columns_compared']}")
    for name, r in (result.get("performance") or {}).items():
        if r.get("value") is not None:
            table.add_row(name, f"{r['value']:.4g} (label coverage {r['label_coverage']:.0%})")
    for name, r in (result.get("estimated_performance") or {}).items():
        if isinstance(r, dict) and r.get("estimate") is not None:
            table.add_row(f"estimated {name}", f"{r['estimate']:.4g} [{r['ci_low']:.3g}, {r['ci_high']:.3g}]")
    ops = result.get("operations") or {}
    table.add_row("feedback", f"{ops.get('feedback', 0):,}")
    out.print(table)
