"""Every command's ``--help`` as a new user reads it (decision 0047): no reStructuredText double backquotes
(``--replace`` showed as such) and no line break in the middle of a sentence (Typer keeps a docstring's
line breaks, so the command lists cut sentences where the source wrapped)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import typer
from tests._fixtures.data import run_cli
from typer.testing import CliRunner

from loopwise.cli.app import app


def _commands(a: typer.Typer, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    for c in a.registered_commands:
        name = c.name or (c.callback.__name__.replace("_", "-") if c.callback else "")
        yield (*path, name), c.help or ""
    for g in a.registered_groups:
        assert g.typer_instance is not None and g.name
        yield (
            (*path, g.name),
            g.typer_instance.info.help if isinstance(g.typer_instance.info.help, str) else "",
        )
        yield from _commands(g.typer_instance, (*path, g.name))


def test_every_help_is_plain_text_without_broken_lines() -> None:
    found = list(_commands(app))
    assert len(found) > 50  # every noun's commands, versions twice (under models too)
    for path, text in found:
        assert text, f"loopwise {' '.join(path)} has no help"
        assert "``" not in text, (path, text)
        assert not re.search(r"\S\n\S", text), (path, text)  # paragraphs are one line each


def test_help_pages_render() -> None:
    runner = CliRunner()
    for path in (("monitors", "add"), ("versions", "promotions"), ("review", "policy"), ("versions",)):
        r = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert r.exit_code == 0, r.output
        assert "``" not in r.output
    r = runner.invoke(app, ["versions", "--help"], env={"COLUMNS": "200"})
    line = next(x for x in r.output.splitlines() if " gate " in x)
    assert "exit 0 when it passes, 1 when it fails or is inconclusive" in line  # one line, not cut


def test_the_commands_are_listed_in_the_loops_order() -> None:
    """The trial: ``loopwise --help`` listed history, serve, log ... profile, then the nouns in the order
    they were registered. Now the loop's order: the model and its traffic, what it says, checks and
    monitors, review, versions; then the offline tools and the server's administration."""
    r = run_cli("--help")
    assert r.returncode == 0, r.stderr
    listed = [n for n in re.findall(r"^│ (\S+)\s{2,}", r.stdout, re.M) if not n.startswith("-")]
    assert listed[:10] == [
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
    ]
    assert listed[-3:] == ["serve", "db", "admin"]
    assert sorted(listed) == sorted(n for n in typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def test_no_help_page_shows_types_in_angle_brackets() -> None:
    """The trial: ``<bool>`` beside every flag (``--help`` included), ``<list[str]>`` beside a repeatable
    option. Types read as click spells them (PATH, TEXT, INTEGER); a flag shows none."""
    runner = CliRunner()
    pages = [(), *(path for path, _ in _commands(app))]
    seen = set()
    for path in pages:
        r = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert r.exit_code == 0, (path, r.output)
        assert not re.search(r"<(bool|str|int|float|path|list\[|datetime|file|dir)", r.output), (
            path,
            r.output,
        )
        seen |= set(re.findall(r"--[\w-]+\s+(PATH|TEXT|INTEGER|FLOAT)\b", r.output))
    assert {"PATH", "TEXT", "INTEGER"} <= seen
    r = run_cli("check", "--help")
    assert re.search(r"--help\s+Show this message", r.stdout) and re.search(r"--current\s+PATH", r.stdout)


def test_version_prints_the_installed_distributions_version() -> None:
    from importlib.metadata import version

    r = run_cli("--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"loopwise {version('loopwise')}\n"
