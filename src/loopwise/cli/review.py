"""``loopwise review policy|fill|stream|day|queue|export|stats`` (on a server or a local database) and
``loopwise users list|show|add|grant|revoke|role|disable|enable`` (on a server over ``/v1/users`` with an
admin key, or on the database, as ``loopwise admin`` does): decisions 0036, 0042 and 0046."""

from __future__ import annotations

import json as jsonlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.markup import escape
from rich.table import Table

from loopwise._display import count
from loopwise.cli.client import KeyOpt, LocalOpt, UrlOpt, connect, server_url
from loopwise.cli.common import out, user_errors
from loopwise.cli.server import DbOpt

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
    filled = [f for f in done if f["fill_id"] is not None]
    for f in filled:
        out.print(
            f"{f['start']} to {f['end']}: {f['tasks']} tasks from {f['window_rows']:,} events "
            f"(budget {f['budget']:.3g})",
            highlight=False,
        )
    # An increment without events is gone through but not filled (decision 0046): counted, not listed.
    empty = len(done) - len(filled)
    out.print(
        f"{count(len(filled), 'increment')} filled" + (f", {empty} without events" if empty else ""),
        highlight=False,
    )


@review_app.command("day")
def day(
    model: Model,
    as_json: Annotated[bool, typer.Option("--json", help="The whole answer as JSON.")] = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """The streamed day: each increment with events, the budget spent and left (decision 0046)."""
    with user_errors():
        d = connect(url, api_key, local).model(model).stream_day()
    if as_json:
        _print_json(d)
        return
    if d["day"] is None:
        said = f"model {model!r} is reviewed over windows asked for, not as events arrive"
        out.print(said, highlight=False)
        return
    mark = f"; gone through up to {d['mark']}" if d["mark"] else ""
    out.print(
        f"{d['day']} (UTC): increments of {d['every']} s, filled {d['delay']} s after they end{mark}",
        highlight=False,
    )
    if d["tasks_per_day"] is not None:
        budget = f"budget {d['spent']:.2f} of {d['tasks_per_day']:g} tasks spent, {d['left']:.2f} left"
    else:
        budget = f"budget {d['share']:g} of each increment's events"
    out.print(f"{budget}; {d['selected']} selected, {d['answered']} answered", highlight=False)
    table = Table("increment", "filled at", "events", "budget", "selected", "by selector")
    for inc in d["increments"]:
        chose = inc["by_selector"]
        table.add_row(
            f"{inc['start'][11:19]} to {inc['end'][11:19]}",
            inc["filled_at"][11:19],
            f"{inc['window_rows']:,}",
            f"{inc['budget']:.2f}",
            str(inc["tasks"]),
            "" if chose is None else escape(", ".join(f"{k} {v}" for k, v in chose.items())),
        )
    if d["increments"]:
        out.print(table)
    out.print(
        f"{count(d['gone_through'], 'increment')} gone through, {d['without_events']} without events",
        highlight=False,
    )


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
    table = Table(title=f"{count(len(tasks), 'task')}{more}", title_justify="left")
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


def _users(url: str | None, api_key: str | None, local: Path | None, database_url: str | None) -> Any:
    """The client ``loopwise users`` works through: a server (``--url``/``LOOPWISE_URL`` with an admin key
    not limited to a model), else a database (``--local PATH``, ``--database-url`` or
    ``LOOPWISE_DATABASE_URL``, else ./loopwise.db), which must exist. A target typed on the command line
    wins over one from the environment; two at the same level are refused: which was meant cannot be
    guessed."""
    import loopwise as lw
    from loopwise.server.settings import Settings

    if url := server_url(url, local, database_url, database_option=True):
        return connect(url, api_key, None)
    target = str(local) if local is not None else (database_url or Settings().database_url)
    return lw.Client.local(target, create=False, actor="cli")


def _line(u: dict[str, Any]) -> str:
    state = " (disabled)" if u["disabled"] else ""
    return f"{u['name']}\t{u['role']}\t{','.join(u['models']) or '*'}{state}"


def _say(text: str) -> None:
    out.print(text, highlight=False, markup=False)


NameArg = Annotated[str, typer.Argument(help="The user's sign-in name.")]
ModelsOpt = Annotated[list[str], typer.Option("--model", help="A model (repeatable).")]


@users_app.command("add")
def add_user(
    name: NameArg,
    role: Annotated[str, typer.Option(help="reviewer, maintainer, viewer or admin.")] = "reviewer",
    model: Annotated[list[str] | None, typer.Option(help="A model they may review (repeatable).")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Add a user; the password is asked for (twice), or read from standard input, never an argument."""
    from loopwise.errors import ParameterError

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
        with _users(url, api_key, local, database_url) as c:
            user = c.add_user(name, password, role=role, models=list(model or []))
    _say(f"user {user['name']} ({user['role']}; models: {', '.join(user['models']) or 'all'})")


@users_app.command("list")
def list_users_cmd(
    url: UrlOpt = None, api_key: KeyOpt = None, local: LocalOpt = None, database_url: DbOpt = None
) -> None:
    """The users, their roles and models (never a password: only its hash is kept)."""
    with user_errors(), _users(url, api_key, local, database_url) as c:
        for u in c.users():
            _say(_line(u))


@users_app.command("show")
def show_cmd(
    name: NameArg,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
    database_url: DbOpt = None,
) -> None:
    """One user: name, role, models, whether disabled."""
    with user_errors(), _users(url, api_key, local, database_url) as c:
        _say(_line(c.user(name)))


@users_app.command("grant")
def grant_cmd(
    name: NameArg,
    model: ModelsOpt,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Let a user work on more models."""
    with user_errors(), _users(url, api_key, local, database_url) as c:
        user = c.grant_models(name, list(model))
    _say(f"user {user['name']}: {', '.join(user['models'])}")


@users_app.command("revoke")
def revoke_cmd(
    name: NameArg,
    model: ModelsOpt,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Take models back from a user (a reviewer keeps at least one)."""
    with user_errors(), _users(url, api_key, local, database_url) as c:
        user = c.revoke_models(name, list(model))
    _say(f"user {user['name']}: {', '.join(user['models']) or 'no model'}")


@users_app.command("role")
def role_cmd(
    name: NameArg,
    role: Annotated[str, typer.Argument(help="admin, maintainer, reviewer or viewer.")],
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Give a user another role (from their next request on)."""
    with user_errors(), _users(url, api_key, local, database_url) as c:
        user = c.set_role(name, role)
    _say(f"user {user['name']} is now {user['role']}")


@users_app.command("disable")
def disable_cmd(
    name: NameArg,
    enable: Annotated[bool, typer.Option("--enable", help="Enable the user again instead.")] = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Disable a user (their sessions end), or enable them again."""
    with user_errors(), _users(url, api_key, local, database_url) as c:
        user = c.enable_user(name) if enable else c.disable_user(name)
    _say(f"user {user['name']} {'disabled' if user['disabled'] else 'enabled'}")


@users_app.command("enable")
def enable_cmd(
    name: NameArg,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Let a disabled user sign in again."""
    disable_cmd(name, True, url, api_key, local, database_url)
