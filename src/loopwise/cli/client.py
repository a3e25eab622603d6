"""``loopwise models``, ``log``, ``metrics``: the SDK from the shell (a server, or a local database)."""

from __future__ import annotations

import datetime as dt
import json as jsonlib
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from loopwise.cli.common import console, from_environment, out, row_progress, user_errors

UrlOpt = Annotated[str | None, typer.Option("--url", envvar="LOOPWISE_URL", help="Server URL.")]
KeyOpt = Annotated[str | None, typer.Option("--api-key", envvar="LOOPWISE_API_KEY", help="API key.")]
LocalOpt = Annotated[
    Path | None, typer.Option("--local", help="Use a local database file instead of a server.")
]
CreateOpt = Annotated[
    bool, typer.Option("--create", help="With --local: create the database file if it does not exist.")
]

models_app = typer.Typer(
    help="Register, list and describe models (on a server, or a local database).", no_args_is_help=False
)


def connect(url: str | None, key: str | None, local: Path | None, create: bool = False) -> Any:
    """A client: ``--local`` opens an existing database file (a new one only with ``--create``).

    ``--local`` and ``--url`` both typed is refused (which was meant cannot be guessed); ``--local`` with
    ``LOOPWISE_URL`` set in the environment uses the local database (the flag typed for this command wins
    over a setting of the shell)."""
    import loopwise as lw

    if server_url(url, local) is None and local is not None:
        return lw.Client.local(local, create=create)
    if not url:
        raise lw.ParameterError("--url", url, "a server URL (or LOOPWISE_URL), or --local PATH")
    if not key:
        raise lw.ParameterError("--api-key", key, f"an API key for {url} (or LOOPWISE_API_KEY)")
    return lw.Client(url, key)


def server_url(
    url: str | None, local: Path | None, database_url: str | None = None, *, database_option: bool = False
) -> str | None:
    """The server a command talks to, or None for a database (``--local`` or ``--database-url``).

    A target typed on the command line wins over one from the environment (``--local`` with
    ``LOOPWISE_URL`` set uses the database); two targets at the same level (both typed, or
    ``LOOPWISE_URL`` with ``LOOPWISE_DATABASE_URL``) are refused: which was meant cannot be guessed."""
    import loopwise as lw

    database = local is not None or bool(database_url)
    if not url or not database:
        return None if database else url
    url_typed = not from_environment(url, "LOOPWISE_URL")
    database_typed = local is not None or not from_environment(database_url, "LOOPWISE_DATABASE_URL")
    if url_typed == database_typed:
        other = "--local or --database-url" if database_option else "--local"
        # Say where the two came from: both typed, or both from the shell's settings.
        source = "" if url_typed else " (LOOPWISE_URL and LOOPWISE_DATABASE_URL are both set)"
        raise lw.ParameterError(
            "--url", url, f"left out with {other}{source}: a server, or a database, not both"
        )
    return url if url_typed else None


@models_app.callback(invoke_without_command=True)
def models(ctx: typer.Context, url: UrlOpt = None, api_key: KeyOpt = None, local: LocalOpt = None) -> None:
    """List the registered models (``loopwise models`` alone is ``loopwise models list``)."""
    if ctx.invoked_subcommand is None:
        list_models(url, api_key, local)


@models_app.command("list")
def list_models(url: UrlOpt = None, api_key: KeyOpt = None, local: LocalOpt = None) -> None:
    """List the registered models."""
    with user_errors():
        for name in connect(url, api_key, local).models():
            out.print(name, highlight=False, markup=False)


@models_app.command("register")
def register(
    name: Annotated[str, typer.Argument(help="The model's name.")],
    schema: Annotated[Path, typer.Option("--schema", "-s", help="Schema YAML file.")],
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
    create: CreateOpt = False,
) -> None:
    """Register a model with its schema (registering it again with the same schema changes nothing)."""
    import loopwise as lw

    with user_errors():
        sch = lw.Schema.from_yaml(schema)
        connect(url, api_key, local, create).register(name, sch)
    console.print(f"model {name!r} registered with {len(sch)} columns", highlight=False, markup=False)


@models_app.command("describe")
def describe(
    name: Annotated[str, typer.Argument(help="The model's name.")],
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """Print a model's schema as YAML (what ``loopwise models register`` was given, kinds filled in)."""
    import loopwise as lw

    with user_errors():
        client = connect(url, api_key, local)
        text = lw.Schema.from_dict(client.describe(name)["schema"]).to_yaml()
    out.print(text, end="", highlight=False, markup=False)


def log(
    data: Annotated[Path, typer.Argument(help="Parquet or CSV file of predictions.")],
    model: Annotated[str, typer.Option(help="The model's name.")],
    version: Annotated[str | None, typer.Option(help="The model version that made them.")] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """Log predictions from a file (in batches, idempotently)."""
    with user_errors(), row_progress(f"logging {data.name}") as progress:
        result = connect(url, api_key, local).model(model).log(data, version=version, progress=progress)
    console.print(f"accepted {result['accepted']:,}, already stored {result['duplicates']:,}")


def _window(text: str) -> dt.timedelta:
    m = re.fullmatch(r"(\d+)([hdw])", text.strip())
    if not m:
        import loopwise as lw

        raise lw.ParameterError("--window", text, "a length like 24h, 7d or 2w")
    n, unit = int(m.group(1)), m.group(2)
    return {"h": dt.timedelta(hours=n), "d": dt.timedelta(days=n), "w": dt.timedelta(weeks=n)}[unit]


def _time(text: str | None, name: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        import loopwise as lw

        raise lw.ParameterError(
            name, text, "an ISO 8601 date or time, e.g. 2026-01-31 or 2026-01-31T12:00Z"
        ) from None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def span(
    window: str, start: str | None, end: str | None, now: dt.datetime | None = None
) -> tuple[dt.datetime, dt.datetime]:
    """The hours to read: ``--start``/``--end`` where given; a missing end is now, a missing start is
    ``--window`` before the end (so ``--end 2026-03-01 --window 7d`` is the week before March)."""
    t0, t1 = _time(start, "--start"), _time(end, "--end")
    t1 = t1 or now or dt.datetime.now(dt.UTC)
    t0 = t0 or t1 - _window(window)
    if t0 >= t1:
        import loopwise as lw

        raise lw.ParameterError("--start", start, f"a time before the end ({t1.isoformat()})")
    return t0, t1


def metrics(
    model: Annotated[str, typer.Option(help="The model's name.")],
    window: Annotated[str, typer.Option(help="How far back from the end: 24h, 7d, 2w.")] = "24h",
    start: Annotated[
        str | None, typer.Option(help="Start of the window (ISO 8601; else --window before the end).")
    ] = None,
    end: Annotated[str | None, typer.Option(help="End of the window (ISO 8601; else now).")] = None,
    reference: Annotated[str, typer.Option(help="Reference name.")] = "default",
    json: Annotated[Path | None, typer.Option("--json", help="Write the full result here.")] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """Drift, performance and operations of the model's traffic in a window (the last 24h by default)."""
    with user_errors():
        t0, t1 = span(window, start, end)
        result = connect(url, api_key, local).model(model).metrics(t0, t1, reference=reference)
    if json is not None:
        json.write_text(jsonlib.dumps(result, indent=2), encoding="utf-8")
    when = (
        f"in the last {window}"
        if start is None and end is None
        else f"from {t0.isoformat(timespec='minutes')} to {t1.isoformat(timespec='minutes')}"
    )
    out.print(f"{model}: {result['window']['n']:,} predictions {when}", highlight=False, soft_wrap=True)
    for w in result.get("warnings") or []:
        console.print(f"warning: {w}", highlight=False, markup=False, soft_wrap=True)
    table = Table()
    table.add_column("what")
    table.add_column("value", justify="right")
    drift = result.get("drift")
    if drift:
        d = drift["dataset"]
        table.add_row("drifted columns", f"{len(d['drifted_columns'])} of {d['n_columns_compared']}")
        if d["drifted_columns"]:  # which ones: the first thing a person asks next
            table.add_row("drifted", ", ".join(map(str, d["drifted_columns"])))
    for name, r in (result.get("performance") or {}).items():
        if r.get("value") is not None:
            table.add_row(name, f"{r['value']:.4g} (label coverage {r['label_coverage']:.0%})")
    for name, r in (result.get("estimated_performance") or {}).items():
        if isinstance(r, dict) and r.get("estimate") is not None:
            table.add_row(f"estimated {name}", f"{r['estimate']:.4g} [{r['ci_low']:.3g}, {r['ci_high']:.3g}]")
    ops = result.get("operations") or {}
    table.add_row("feedback", f"{ops.get('feedback', 0):,}")
    out.print(table)


def feedback(
    data: Annotated[Path, typer.Argument(help="Parquet or CSV file of event ids and their labels.")],
    model: Annotated[str, typer.Option(help="The model's name.")],
    id_column: Annotated[
        str | None, typer.Option(help="Column of event ids (default: the model's id column).")
    ] = None,
    label_column: Annotated[
        str | None, typer.Option(help="Column of labels (default: the model's target column).")
    ] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """Log ground truth from a file: each row's label joins the prediction with its event id."""
    import loopwise as lw

    with user_errors(), row_progress(f"logging {data.name}") as progress:
        table = lw.to_table(data)
        handle = connect(url, api_key, local).model(model)
        if id_column is None or label_column is None:
            # Only a key that may read the model learns its columns; an ingest key names them.
            roles = lw.Schema.from_dict(handle.transport.describe(model)["schema"])
            id_column = id_column or next((c.name for c in roles.columns if c.role.value == "id"), None)
            label_column = label_column or next(
                (c.name for c in roles.columns if c.role.value == "target"), None
            )
        for option, column in (("--id-column", id_column), ("--label-column", label_column)):
            if column is None or column not in table.column_names:
                raise lw.ParameterError(
                    option, column, f"a column of {data.name} ({', '.join(table.column_names)})"
                )
        assert id_column is not None and label_column is not None
        result = handle.log_feedback(
            table.column(id_column).to_pylist(), table.column(label_column).to_pylist(), progress=progress
        )
    console.print(
        f"stored {result['stored']:,} label(s), replaced {result['replaced']:,}, "
        f"joined to a prediction {result['joined']:,}"
    )


@models_app.command("reference")
def reference(
    name: Annotated[str, typer.Argument(help="The model's name.")],
    data: Annotated[Path, typer.Argument(help="A profile file (.lwp) or Parquet/CSV training data.")],
    ref_name: Annotated[str, typer.Option("--name", help="The reference's name.")] = "default",
    chunk_size: Annotated[
        int | None, typer.Option(help="With data: rows per chunk, for calibrated drift thresholds.")
    ] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """Store a model's reference: drift and estimation compare each window with it."""
    import loopwise as lw

    with user_errors():
        ref: Any = data
        if data.suffix == ".lwp":
            if not data.is_file():
                raise lw.DataError(f"no such file or directory: {data}")
            ref = lw.Profile.from_bytes(data.read_bytes())
        stored = connect(url, api_key, local).model(name).set_reference(ref, ref_name, chunk_size=chunk_size)
    console.print(
        f"reference {stored['name']!r} of {name!r}: {stored['rows']:,} rows"
        + (f", {stored['chunks']} chunks of {stored['chunk_size']:,}" if stored.get("chunks") else ""),
        highlight=False,
        markup=False,
    )
