"""``loopwise schema infer``: write a schema file to start from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from loopwise.cli.common import console, out, user_errors

schema_app = typer.Typer(help="Infer and check schema files.", no_args_is_help=True)


@schema_app.command("infer")
def infer(
    data: Annotated[Path, typer.Argument(help="Parquet or CSV file, or a directory of them.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    segment: Annotated[list[str] | None, typer.Option(help="Segment column (repeatable).")] = None,
) -> None:
    """Infer a Schema from data and print it as YAML."""
    from loopwise.schema import Schema

    with user_errors():
        text = Schema.infer(data, segments=segment or ()).to_yaml()
    if output is None:
        out.print(text, end="", highlight=False, markup=False, soft_wrap=True)  # YAML: never wrapped
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"schema written to {output}")


@schema_app.command("check")
def check(
    schema: Annotated[Path, typer.Argument(help="Schema YAML file.")],
    data: Annotated[Path, typer.Argument(help="Data to validate against it.")],
) -> None:
    """Validate data against a schema; exit 1 listing every violation."""
    import loopwise as lw

    with user_errors():
        issues = lw.validate(lw.Schema.from_yaml(schema), data)
    for issue in issues:
        out.print(str(issue), highlight=False, markup=False)
    if issues:
        raise typer.Exit(1)
    console.print("data conforms to the schema")
