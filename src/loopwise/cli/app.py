"""The Typer application: ``loopwise profile | compare | schema | check | demo``, ``models | log | metrics``
and ``serve | db | admin``."""

from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from loopwise._version import __version__
from loopwise.cli.check import check
from loopwise.cli.client import feedback, log, metrics, models_app
from loopwise.cli.common import (
    EXIT_FAIL,
    EXIT_USAGE,
    PLOTLY_HELP,
    check_plotly,
    column_progress,
    console,
    load_schema,
    load_side,
    out,
    size_of,
    spinner,
    user_errors,
)
from loopwise.cli.demo import demo
from loopwise.cli.gate import audit_app, history
from loopwise.cli.monitors import monitors_app
from loopwise.cli.review import review_app, users_app
from loopwise.cli.schema import schema_app
from loopwise.cli.server import admin_app, db_app, serve
from loopwise.cli.serving import job as _job  # noqa: F401  (registers predict, start-evaluation, job)
from loopwise.cli.versions import versions_app

#: ``loopwise --help`` lists the commands in the loop's order: a model and its traffic, what it says, the
#: checks and monitors on it, people's labels, its versions and their history; then the offline data tools,
#: and the server's administration. A command not named here comes last.
ORDER = (
    "demo",
    "models",
    "log",
    "feedback",
    "metrics",
    "check",
    "monitors",
    "review",
    "users",
    "versions",
    "history",
    "audit",
    "predict",
    "start-evaluation",
    "job",
    "profile",
    "compare",
    "schema",
    "serve",
    "db",
    "admin",
)
#: How a value's type reads in help, in click's spelling (``PATH``), for Typer's ``<path>``; a flag has none.
_TYPE_WORDS = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "bool": "BOOLEAN"}


def _type_word(shown: str | None) -> str | None:
    """``<path>`` -> ``PATH``, ``<list[str]>`` -> ``TEXT``, ``<a|b>`` -> ``[a|b]``; None stays None."""
    if not shown or not (shown.startswith("<") and ">" in shown):
        return shown
    label, rest = shown[1 : shown.index(">")], shown[shown.index(">") + 1 :]
    label = re.sub(r"^list\[(.*)\]$", r"\1", label)
    if "|" in label:
        return f"[{label}]{rest}"
    return _TYPE_WORDS.get(label, label.upper()) + rest


def _plain_type(param: Any) -> None:
    """``param`` shows its type as click does (``PATH``, ``INTEGER``), a flag none: Typer's rich help wrote
    ``<bool>`` beside every flag, ``--help`` included."""
    shown = getattr(param, "display_type_rich", None)
    if shown is None or getattr(param, "_lw_plain", False):
        return
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        param.display_type_rich = lambda ctx: None
    else:
        param.display_type_rich = lambda ctx: _type_word(shown(ctx))
    param._lw_plain = True


def _plain_types(command: Any) -> None:
    """Every parameter of ``command`` and the commands below it, their ``--help`` too, in plain types."""
    for param in command.params:
        _plain_type(param)
    help_option = command.get_help_option

    def plain_help(ctx: Any) -> Any:
        option = help_option(ctx)
        if option is not None:
            _plain_type(option)
        return option

    command.get_help_option = plain_help
    for sub in getattr(command, "commands", {}).values():
        _plain_types(sub)


class _LoopGroup(TyperGroup):
    """The root command: its commands in ``ORDER``, and plain types in every help page."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain_types(self)

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        rank = {n: i for i, n in enumerate(ORDER)}
        return sorted(names, key=lambda n: (rank.get(n, len(ORDER)), names.index(n)))


app = typer.Typer(
    name="loopwise",
    cls=_LoopGroup,
    help="Monitor ML models: profile data, compare it with a reference, gate on drift.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"loopwise {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print loopwise's version and exit."
        ),
    ] = False,
) -> None:
    pass


app.add_typer(schema_app, name="schema")
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
app.add_typer(models_app, name="models")
models_app.add_typer(versions_app, name="versions")
# ``loopwise versions ...`` (the spelling) is the same group; gate, promote, approve, rollback:
# cli/gate.py.
app.add_typer(versions_app, name="versions")
app.add_typer(audit_app, name="audit")
app.add_typer(review_app, name="review")
app.add_typer(users_app, name="users")
app.add_typer(monitors_app, name="monitors")
app.command("history")(history)
app.command(help="Run the loopwise server.")(serve)
app.command(help="Log predictions from a file.")(log)
app.command(help="Log labels (ground truth) from a file, joined to predictions by event id.")(feedback)
app.command(help="Drift, performance and operations of a model's recent traffic.")(metrics)
app.command(help="Generate a credit-risk dataset, drift it, and write a drift report.")(demo)
app.command(help="Run a Suite of Checks as a CI/CD gate (exit 1 when a check fails).")(check)

SchemaOpt = Annotated[Path | None, typer.Option("--schema", "-s", help="Schema YAML file (else inferred).")]


@app.command()
def profile(
    data: Annotated[Path, typer.Argument(help="Parquet or CSV file, or a directory of them.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Profile file to write (.lwp).")],
    schema: SchemaOpt = None,
    reference: Annotated[Path | None, typer.Option(help="Reference profile to anchor histograms on.")] = None,
    segment: Annotated[list[str] | None, typer.Option(help="Segment column (repeatable).")] = None,
    chunk_size: Annotated[
        int | None,
        typer.Option(help="Also keep each chunk of this many rows, to calibrate drift thresholds on."),
    ] = None,
) -> None:
    """Profile a dataset into a mergeable profile file."""
    import loopwise as lw
    from loopwise.profiles import Profile

    with user_errors():
        sch = load_schema(schema)
        ref = Profile.from_bytes(reference.read_bytes()) if reference is not None else None
        with spinner(f"reading {data}"):
            table = lw.to_table(data)
        n_cols = table.num_columns
        with column_progress(n_cols, "profiling") as advance:
            p = lw.profile(
                table, schema=sch, segments=segment, reference=ref, on_column=advance, chunk_size=chunk_size
            )
        blob = p.to_bytes()
        output.write_bytes(blob)
    console.print(f"profiled {p.n:,} rows x {len(p.columns)} columns -> {output} ({size_of(output)})")


@app.command()
def compare(
    reference: Annotated[Path, typer.Argument(help="Reference: data path or profile file.")],
    current: Annotated[Path, typer.Argument(help="Current: data path or profile file.")],
    html: Annotated[Path | None, typer.Option(help="Write the HTML report here.")] = None,
    plotly: Annotated[str, typer.Option(help=PLOTLY_HELP)] = "inline",
    json: Annotated[Path | None, typer.Option("--json", help="Write the JSON report here.")] = None,
    schema: SchemaOpt = None,
    method: Annotated[str | None, typer.Option(help="Drift method for every column it applies to.")] = None,
    column_method: Annotated[
        list[str] | None,
        typer.Option("--column-method", help="Per-column method, COLUMN=METHOD (repeatable)."),
    ] = None,
    alpha: Annotated[float, typer.Option(help="Significance level for test methods.")] = 0.05,
    thresholds: Annotated[
        str,
        typer.Option(
            help="auto (calibrated when the reference profile has chunks), calibrated, or plain (tests)."
        ),
    ] = "auto",
    false_alarm_rate: Annotated[
        float | None,
        typer.Option(help="False-alarm rate per column of calibrated thresholds (default 0.05)."),
    ] = None,
    drift_share: Annotated[
        float, typer.Option(help="Share of drifted columns that means dataset drift.")
    ] = 0.5,
    fail_on_drift: Annotated[bool, typer.Option(help="Exit 1 when the dataset verdict is drift.")] = False,
    segment: Annotated[
        str | None, typer.Option(help="Compare one segment only: COLUMN=VALUE (e.g. race=group_b).")
    ] = None,
) -> None:
    """Compare a current dataset with its reference and report drift and data quality."""
    import loopwise as lw
    from loopwise.metrics.thresholds import DEFAULT_FALSE_ALARM_RATE

    with user_errors():
        check_plotly(plotly)
        methods = {}
        for item in column_method or []:
            if "=" not in item:
                raise lw.ParameterError("--column-method", item, "COLUMN=METHOD")
            col, m = item.split("=", 1)
            methods[col.strip()] = m.strip()
        seg = None
        if segment is not None:
            if "=" not in segment:
                raise lw.ParameterError("--segment", segment, "COLUMN=VALUE")
            col, _, value = segment.partition("=")
            seg = (col.strip(), value.strip())
        sch = load_schema(schema)
        ref, cur = load_side(reference, sch), load_side(current, sch)
        with spinner("comparing"), _as_option("methods", "--column-method"):
            report = lw.compare(
                ref,
                cur,
                schema=sch,
                method=method,
                methods=methods,
                alpha=alpha,
                drift_share=drift_share,
                segment=seg,
                thresholds=thresholds,
                false_alarm_rate=DEFAULT_FALSE_ALARM_RATE if false_alarm_rate is None else false_alarm_rate,
            )
        if html is not None:
            report.to_html(html, plotly=plotly)
        if json is not None:
            report.to_json(json)
    _print_report(report)
    if html is not None:
        console.print(f"HTML report: {html} ({size_of(html)}, plotly.js {plotly})", soft_wrap=True)
    if json is not None:
        console.print(f"JSON report: {json} ({size_of(json)})", soft_wrap=True)
    if fail_on_drift and report.dataset_drift:
        raise typer.Exit(EXIT_FAIL)


@contextlib.contextmanager
def _as_option(parameter: str, option: str) -> Iterator[None]:
    """A library ParameterError about ``parameter`` named by the command-line option that set it (the
    trial read "parameter 'methods' must be ..." after typing --column-method)."""
    import loopwise as lw

    try:
        yield
    except lw.ParameterError as exc:
        if exc.name != parameter:
            raise
        exc.args = (str(exc).replace(f"parameter {parameter!r}", f"parameter {option!r}", 1),)
        exc.name = option
        raise


def _print_report(report: object, limit: int = 15) -> None:
    from loopwise.report import Report

    assert isinstance(report, Report)
    doc = report.to_dict()
    calibrated = doc["dataset"].get("thresholds") == "calibrated"
    title = report.headline()
    if calibrated:
        rate = doc["dataset"].get("false_alarm_rate")
        title += f" (calibrated thresholds, false-alarm rate {rate:g} per column)" if rate else ""
    table = Table(title=title, title_justify="left")
    names = ["column", "kind", "method", "statistic"]
    # With calibrated thresholds the statistic against its threshold decides; the plain p-value only informs.
    names += ["threshold", "drift", "p (plain)"] if calibrated else ["p (adj.)", "drift"]
    for name in (*names, "effect", "quality"):
        table.add_column(name, justify="left" if name in ("column", "kind", "method", "quality") else "right")
    cols = sorted(doc["columns"], key=lambda c: (not c["drift_detected"], -(c.get("effect_size") or 0)))
    for c in cols[:limit]:
        p = c.get("p_value") if calibrated else c.get("p_value_adjusted")
        cells = [
            escape(c["name"]),
            c["kind"],
            c["method"] or "-",
            f"{c['statistic']:.4g}" if c["statistic"] is not None else "-",
        ]
        p_cell = f"{p:.3g}" if p is not None else ""
        drift = "[bold red]DRIFT[/]" if c["drift_detected"] else ""
        if calibrated:
            t = c.get("threshold")
            cells += [f"{t:.4g}" if t is not None else "", drift, p_cell]
        else:
            cells += [p_cell, drift]
        cells += [
            f"{c['effect_size']:.3g}" if c.get("effect_size") is not None else "",
            escape("; ".join(c["quality_issues"]) or (c["warning"] or "")),
        ]
        table.add_row(*cells)
    if len(cols) > limit:
        table.caption = f"... {len(cols) - limit} more columns in the JSON/HTML report"
    out.print(table)
    for w in doc["dataset"]["warnings"]:
        console.print(f"[yellow]warning:[/] {escape(w)}")


def plain_help(text: str) -> str:
    """A docstring as ``--help`` shows it: one line per paragraph (Typer keeps a docstring's line breaks,
    which cut sentences mid-way in the command lists) and no reStructuredText double backquotes."""
    text = re.sub(r"``([^`]+)``", r"\1", text)
    return "\n\n".join(" ".join(p.split()) for p in re.split(r"\n\s*\n", text.strip()))


def _tidy(a: typer.Typer) -> None:
    if isinstance(a.info.help, str):
        a.info.help = plain_help(a.info.help)
    for c in a.registered_commands:
        doc = c.help if isinstance(c.help, str) else inspect.getdoc(c.callback) if c.callback else None
        if doc:
            c.help = plain_help(doc)
    for g in a.registered_groups:
        if isinstance(g.help, str):
            g.help = plain_help(g.help)
        if g.typer_instance is not None:
            _tidy(g.typer_instance)


_tidy(app)


def main() -> None:
    """The ``loopwise`` command. A usage error (an argument or option missing, unknown or of the wrong type)
    is one line on stderr and exit code 2, as every other error: click's own is a usage line and a box."""
    import sys

    try:  # Typer carries its own copy of click from 0.2x on; before, it raised click's exceptions
        from typer._click.exceptions import ClickException, NoArgsIsHelpError
    except ImportError:  # pragma: no cover - an older Typer
        from click.exceptions import ClickException, NoArgsIsHelpError  # type: ignore[assignment]

    try:
        code = app(standalone_mode=False, prog_name="loopwise")  # "python -m loopwise.cli" says the same
    except NoArgsIsHelpError as exc:  # a group without its command: its help, as before
        # Rich's help prints itself and returns "", which ``exc.show()`` wrote as an empty line to stderr.
        text = exc.ctx.get_help() if exc.ctx is not None else ""
        if text:
            typer.echo(text)
        sys.exit(exc.exit_code)
    except ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "loopwise"
        message = " ".join(exc.format_message().split()).rstrip(".")
        typer.echo(f"error: {message[:1].lower()}{message[1:]} (see '{where} --help')", err=True)
        sys.exit(EXIT_USAGE)
    except typer.Abort:  # Ctrl-C at a prompt
        typer.echo("aborted", err=True)
        sys.exit(EXIT_FAIL)
    sys.exit(code if isinstance(code, int) else 0)
