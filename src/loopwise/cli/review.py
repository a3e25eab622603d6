"""``loopwise review policy|fill|stream|queue|export|stats`` (on a server or a local database) and
``loopwise users add|list|grant|disable`` (on the database, as ``loopwise admin`` does): decisions 0036 and
0042."""

from __future__ import annotations

import json as jsonlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.markup import escape
from rich.table import Table

from loopwise.cli.client import KeyOpt, LocalOpt, UrlOpt, connect
from loopwise.cli.common import out, user_errors
from loopwise.cli.server import DbOpt, _admin_db

review_app = typer.Typer(help="The review queue: its policy, filling it, its tasks and statistics.")
users_app = typer.Typer(help="People who sign in with a password: reviewers and adjudicators.")

Model = Annotated[str, typer.Argument(help="The model's name.")]


def _print_json(doc: Any) -> None:
    out.print_json(jsonlib.dumps(doc, default=str))


@review_app.command("policy")
def policy(
    model: Model,
    file: Annotated[
        Path | None, typer.Option("--set", help="Set the policy from this YAML/JSON file.")
    ] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """Show the model's review policy, or set it (``--set policy.yaml``)."""
    with user_errors():
        handle = connect(url, api_key, local).model(model)
        if file is not None:
            _print_json(handle.set_review_policy(yaml.safe_load(file.read_text())))
        else:
            _print_json(handle.review_policy())


@review_app.command("fill")
def fill(
    model: Model,
    start: Annotated[str, typer.Option(help="Window start (ISO 8601; UTC without a zone).")],
    end: Annotated[str, typer.Option(help="Window end (exclusive).")],
    seed: Annotated[int | None, typer.Option(help="Seed of the draws (for a reproducible fill).")] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """Run the policy over a window's logged events and queue the tasks it draws."""
    with user_errors():
        done = connect(url, api_key, local).model(model).fill_review(start, end, seed=seed)
    out.print(
        f"fill {done['fill_id']}: {done['tasks']} tasks from {done['window_rows']:,} events "
        f"(budget {done['budget']:g}; {done['overlap_tasks']} for several reviewers)",
        highlight=False,
    )


@review_app.command("stream")
def stream(
    model: Model,
    until: Annotated[
        str | None, typer.Option(help="Fill only increments ending by then (ISO 8601; UTC without a zone).")
    ] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """Fill a streaming policy's due increments now (a server does it itself every few seconds)."""
    with user_errors():
        done = connect(url, api_key, local).model(model).stream_review(until=until)
    for f in done:
        out.print(
            f"{f['start']} to {f['end']}: {f['tasks']} tasks from {f['window_rows']:,} events "
            f"(budget {f['budget']:.3g})",
            highlight=False,
        )
    out.print(f"{len(done)} increment(s) filled", highlight=False)


@review_app.command("queue")
def queue(
    model: Model,
    state: Annotated[str | None, typer.Option(help="open, adjudication, suspect, resolved or gold.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many tasks.")] = 50,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """The queue's tasks in order, with their selector, probability, state and labels."""
    with user_errors():
        tasks = connect(url, api_key, local).model(model).review_tasks(state, limit=limit)
    more = f" (the first {limit}: --limit N shows more)" if len(tasks) >= limit else ""
    table = Table(title=f"{len(tasks)} task(s){more}", title_justify="left")
    for name in ("task", "event", "selector", "π", "state", "label", "labels"):
        table.add_column(name)
    for t in tasks:
        labels = ", ".join(
            f"{x['reviewer']}={x['label']}" + (" (suspect)" if x["suspect"] else "") for x in t["labels"]
        )
        pi = t["inclusion_probability"]
        table.add_row(
            t["task_id"][:8],
            escape(t["event_id"]),
            t["selector"],
            "" if pi is None else f"{pi:.3g}",
            t["state"],
            escape(str(t["label"] if t["label"] is not None else "")),
            escape(labels),
        )
    out.print(table)


@review_app.command("export")
def export(
    model: Model,
    output: Annotated[Path, typer.Option("--output", "-o", help="The Parquet file to write.")],
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """Write the queue's tasks and labels as Parquet: one row per task and reviewer, with selectors,
    inclusion probabilities, fill windows, labels (JSON text), comments and gold outcomes."""
    with user_errors():
        frame = connect(url, api_key, local).model(model).review_export(output)
    tasks = frame["task_id"].nunique()
    out.print(f"{len(frame)} rows ({tasks} tasks) written to {output}", highlight=False, markup=False)


@review_app.command("stats")
def stats(model: Model, url: UrlOpt = None, api_key: KeyOpt = None, local: LocalOpt = None) -> None:
    """Backlog, throughput, budget used, agreement, gold accuracy per reviewer, the estimate (JSON)."""
    with user_errors():
        _print_json(connect(url, api_key, local).model(model).review_stats())


@users_app.command("add")
def add_user(
    name: Annotated[str, typer.Argument(help="The user's sign-in name.")],
    role: Annotated[str, typer.Option(help="reviewer, maintainer, viewer or admin.")] = "reviewer",
    model: Annotated[list[str] | None, typer.Option(help="A model they may review (repeatable).")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    database_url: DbOpt = None,
) -> None:
    """Add a user; the password is asked for (twice), or read from standard input, never an argument."""
    from loopwise.errors import ParameterError
    from loopwise.store import transaction
    from loopwise.store.users import create_user

    with user_errors():
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        elif not sys.stdin.isatty():
            # A script without a terminal would hang on, then abort at, the prompt: say what it needs.
            raise ParameterError(
                "--password-stdin", None, "given when the password comes from a pipe or a script"
            )
        else:
            password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
        if not password:
            raise ParameterError("password", "", "a password (none was given)")
        with transaction(_admin_db(database_url)) as s:
            user = create_user(s, name, password, role, list(model or []), actor="cli")
    out.print(f"user {user.name} ({user.role}; models: {', '.join(user.models) or 'all'})", highlight=False)


@users_app.command("list")
def list_users_cmd(database_url: DbOpt = None) -> None:
    """The users, their roles and models (never a password: only its hash is kept)."""
    from loopwise.store.users import list_users

    with user_errors(), _admin_db(database_url)() as s:
        for u in list_users(s):
            state = " (disabled)" if u.disabled else ""
            out.print(
                f"{u.name}\t{u.role}\t{','.join(u.models) or '*'}{state}", highlight=False, markup=False
            )


@users_app.command("grant")
def grant_cmd(
    name: Annotated[str, typer.Argument(help="The user.")],
    model: Annotated[list[str], typer.Option(help="A model they may review (repeatable).")],
    database_url: DbOpt = None,
) -> None:
    """Let a user work on more models."""
    from loopwise.store import transaction
    from loopwise.store.users import grant

    with user_errors(), transaction(_admin_db(database_url)) as s:
        user = grant(s, name, list(model), actor="cli")
    out.print(f"user {user.name}: {', '.join(user.models)}", highlight=False)


@users_app.command("disable")
def disable_cmd(
    name: Annotated[str, typer.Argument(help="The user.")],
    enable: Annotated[bool, typer.Option("--enable", help="Enable the user again instead.")] = False,
    database_url: DbOpt = None,
) -> None:
    """Disable a user (their sessions end), or enable them again."""
    from loopwise.store import transaction
    from loopwise.store.users import set_disabled

    with user_errors(), transaction(_admin_db(database_url)) as s:
        user = set_disabled(s, name, not enable, actor="cli")
    out.print(f"user {user.name} {'disabled' if user.disabled else 'enabled'}", highlight=False)
