"""What the commands share: the console, error handling with exit code 2, loading inputs."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from loopwise.errors import LoopwiseError

if TYPE_CHECKING:
    from loopwise.schema import Schema

# The commands import the library inside their bodies, so `loopwise --help` does not load pandas or SciPy.


def _width(stream: Any) -> int | None:
    """Rich's width on a terminal (or COLUMNS); otherwise (a CI log, a pipe) wide enough that tables keep
    whole column names instead of cutting them at Rich's default of 80 characters."""
    if os.environ.get("COLUMNS") or stream.isatty():
        return None
    return 200


console = Console(stderr=True, width=_width(sys.stderr))
out = Console(width=_width(sys.stdout))

EXIT_FAIL, EXIT_USAGE = 1, 2


def from_environment(value: str | None, envvar: str) -> bool:
    """Whether an option's ``value`` is the one its environment variable ``envvar`` holds: taken from the
    environment rather than typed (Typer does not say which; a typed value equal to the environment's is
    the same target either way)."""
    return value is not None and os.environ.get(envvar) == value


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn loopwise's own errors into a one-line message and exit code 2 (no traceback)."""
    try:
        yield
    except (LoopwiseError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_USAGE) from None


#: ``--plotly``: how an HTML report gets plotly.js (see loopwise.report.html.PLOTLY_CHOICES).
PLOTLY_HELP = "How the HTML file gets plotly.js: inline (4.8 MB, works offline) or cdn (needs a network)."


def check_plotly(plotly: str) -> None:
    from loopwise.errors import ParameterError

    if plotly not in ("inline", "cdn"):
        raise ParameterError("--plotly", plotly, "inline or cdn")


def size_of(path: Path) -> str:
    """A file's size as a person reads it (1.2 MB, 340 kB)."""
    n = path.stat().st_size
    for unit in ("bytes", "kB", "MB"):
        if n < 1000 or unit == "MB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n:.1f} GB"


def is_profile_file(path: Path) -> bool:
    if path.is_dir() or not path.exists():
        return False
    from loopwise.profiles.serialize import MAGIC

    with path.open("rb") as fh:
        return fh.read(4) == MAGIC


def load_side(path: Path, schema: Schema | None) -> Any:
    """A profile file as a Profile, anything else as an Arrow table."""
    from loopwise.profiles import Profile
    from loopwise.schema import to_table

    if is_profile_file(path):
        return Profile.from_bytes(path.read_bytes())
    with spinner(f"reading {path}"):
        return to_table(path)


def load_schema(path: Path | None) -> Schema | None:
    from loopwise.schema import Schema

    return Schema.from_yaml(path) if path is not None else None


@contextmanager
def spinner(text: str) -> Iterator[None]:
    if not sys.stderr.isatty():
        yield
        return
    with console.status(text):
        yield


def _bar(*extra: ProgressColumn) -> Progress:
    """The CLI's progress bar: drawn on a terminal only, gone when done."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        *extra,
        console=console,
        disable=not sys.stderr.isatty(),
        transient=True,
    )


@contextmanager
def column_progress(total: int, what: str) -> Iterator[Callable[[str], None]]:
    """A progress bar over columns; yields the callback that advances it."""
    progress = _bar()
    with progress:
        task = progress.add_task(what, total=total)

        def advance(name: str) -> None:
            progress.update(task, advance=1, description=f"{what}: {name}")

        yield advance


@contextmanager
def row_progress(what: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar over rows, on a terminal only; yields the SDK's ``progress(done, total)`` callback."""
    progress = _bar(TimeRemainingColumn())
    with progress:
        task = progress.add_task(what, total=None)

        def update(done: int, total: int) -> None:
            first = progress.tasks[0].total is None
            progress.update(task, completed=done, total=total)
            if first:  # draw "0/N" now: a fast first batch would otherwise go before Rich's next refresh
                progress.refresh()

        yield update


class _Listed(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


L = TypeVar("L", bound=_Listed | dict[str, Any])


def print_json_list(found: Sequence[_Listed | dict[str, Any]]) -> None:
    """A listing's ``--json``: each item as the API answers it (its ``to_dict()``, or the dict itself)."""
    out.print_json(json.dumps([x if isinstance(x, dict) else x.to_dict() for x in found]))


def print_listing(
    found: Sequence[L],
    as_json: bool,
    columns: Sequence[str],
    row: Callable[[L], Sequence[str]],
    empty: str | None = None,
) -> None:
    """A list command's answer: every item (its ``to_dict()``, or a dict as the API answered it) as JSON with
    ``--json``, else a table of ``row``s, or ``empty`` alone (on stderr: pipes see no table) when there is
    nothing to list."""
    if as_json:
        print_json_list(found)
        return
    if not found and empty is not None:
        console.print(empty, highlight=False, markup=False)
        return
    table = Table(*columns)
    for x in found:
        table.add_row(*row(x))
    out.print(table)
