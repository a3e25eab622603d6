"""``loopwise check``: run a Suite as a CI/CD gate. Exit 0 when nothing fails, 1 when a check fails
(or cannot be computed: a gate that could not run has not passed), 2 on a usage or input error."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from loopwise.cli.common import (
    EXIT_FAIL,
    PLOTLY_HELP,
    check_plotly,
    console,
    load_schema,
    load_side,
    out,
    size_of,
    spinner,
    user_errors,
)

_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "error": "magenta"}


def check(
    suite: Annotated[Path | None, typer.Argument(help="Suite YAML file (or use --preset).")] = None,
    current: Annotated[Path | None, typer.Option(help="Current data or profile file.")] = None,
    reference: Annotated[Path | None, typer.Option(help="Reference data or profile file.")] = None,
    schema: Annotated[Path | None, typer.Option("--schema", "-s", help="Schema YAML file.")] = None,
    preset: Annotated[
        list[str] | None, typer.Option(help="A preset suite from the schema (repeatable).")
    ] = None,
    champion: Annotated[
        Path | None, typer.Option(help="Champion's predictions (same rows as --labels).")
    ] = None,
    challenger: Annotated[Path | None, typer.Option(help="Challenger's predictions.")] = None,
    labels: Annotated[
        Path | None, typer.Option(help="Labels for the challenger test (default: --current).")
    ] = None,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML here.")] = None,
    json: Annotated[Path | None, typer.Option("--json", help="Write the JSON result here.")] = None,
    markdown: Annotated[Path | None, typer.Option(help="Write a Markdown summary here (PR comment).")] = None,
    html: Annotated[Path | None, typer.Option(help="Write an HTML report here.")] = None,
    plotly: Annotated[str, typer.Option(help=PLOTLY_HELP)] = "inline",
) -> None:
    """Run a Suite of Checks on a current dataset (against a reference) and gate on the result."""
    import loopwise as lw
    from loopwise.checks import presets, to_json, to_junit, to_markdown

    with user_errors():
        check_plotly(plotly)
        if current is None:
            raise lw.ParameterError("--current", None, "a data path or profile file")
        sch = load_schema(schema)
        if suite is None and not preset:
            raise lw.ParameterError("SUITE", None, "a suite file, or at least one --preset")
        if preset and sch is None:
            raise lw.ParameterError("--schema", None, "a schema file: presets are generated from it")
        s = lw.Suite.from_yaml(suite, schema=sch) if suite is not None else None
        if preset:
            assert sch is not None
            extra = presets(preset, sch)
            s = extra if s is None else s + extra
        assert s is not None
        if (champion is not None or challenger is not None) and not _compares_versions(s):
            raise lw.ParameterError(
                "--champion" if champion is not None else "--challenger",
                None,
                f"read by a check, and no check of suite {s.name!r} compares a challenger with its champion "
                "(add the challenger_gate preset, or a challenger_* check)",
            )
        cur = load_side(current, sch)
        ref = load_side(reference, sch) if reference is not None else None
        with spinner(f"running {len(s.checks)} checks"):
            result = s.run(cur, ref, schema=sch, champion=champion, challenger=challenger, labels=labels)
        if json is not None:
            json.write_text(to_json(result) + "\n", encoding="utf-8")
        if junit is not None:
            junit.write_text(to_junit(result), encoding="utf-8")
        if markdown is not None:
            markdown.write_text(to_markdown(result), encoding="utf-8")
        if html is not None:
            from loopwise.report.checks import render_suite

            html.write_text(render_suite(result, plotly=plotly), encoding="utf-8")
    _print(result)
    if html is not None:
        console.print(f"HTML report: {html} ({size_of(html)}, plotly.js {plotly})", soft_wrap=True)
    if result.status in ("fail", "error"):
        raise typer.Exit(EXIT_FAIL)


def _compares_versions(suite: object) -> bool:
    """Whether a check of ``suite`` (its presets included) reads the champion's and challenger's outputs:
    without one, files given for them would be read by nothing, and the gate would pass without them."""
    presets = getattr(suite, "presets", ())
    checks = getattr(suite, "checks", ())
    return "challenger_gate" in presets or any(c.metric.startswith("challenger_") for c in checks)


def _print(result: object) -> None:
    from loopwise.checks import SuiteResult

    assert isinstance(result, SuiteResult)
    c = result.counts
    table = Table(
        title=f"{result.suite}: {result.status.upper()} ({c['pass']} pass, {c['warn']} warn, "
        f"{c['fail']} fail, {c['error']} error)",
        title_justify="left",
    )
    for col in ("status", "check", "actual", "condition", "note"):
        table.add_column(col, overflow="fold")
    order = {"fail": 0, "error": 1, "warn": 2, "pass": 3}
    for r in sorted(result.results, key=lambda r: order[r.status]):
        table.add_row(
            f"[{_STYLE[r.status]}]{r.status}[/]",
            escape(r.check.title),
            r.actual_text,
            escape(r.condition),
            escape(r.reason or ""),
        )
    out.print(table)
    console.print(f"checks ran in {result.seconds:.2f} s")
