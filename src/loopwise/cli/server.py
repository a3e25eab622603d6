"""``loopwise serve``, ``loopwise db upgrade``, ``loopwise admin create-key | list-keys | revoke-key``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from loopwise.cli.common import console, out, user_errors

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
admin_app = typer.Typer(help="Administration: API keys.", no_args_is_help=True)

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="LOOPWISE_DATABASE_URL",
        help="SQLAlchemy URL (default: sqlite file ./loopwise.db).",
    ),
]


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8765,
    database_url: DbOpt = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Server processes (a listening socket each on Linux; 2 on two cores).")
    ] = 1,
    access_log: Annotated[
        bool, typer.Option(help="Log every request (Prometheus /metrics counts them either way).")
    ] = False,
) -> None:
    """Run the loopwise server (migrates the database first; prints an admin key on first start)."""
    with user_errors():
        _check_port(host, port)  # at once, not after the server's imports and the migrations
    import os

    import uvicorn

    from loopwise.server.auth import create_key, has_keys
    from loopwise.server.settings import Settings
    from loopwise.server.workers import APP, reuse_port_supported, serve_workers
    from loopwise.store import open_database, session_factory, transaction

    with user_errors():
        settings = Settings(database_url=database_url) if database_url else Settings()
        engine = open_database(settings.database_url, create=True, migrate=settings.migrate)
        with transaction(session_factory(engine)) as s:
            if not has_keys(s):
                key = create_key(s, "admin", name="first admin", actor="first start")
                console.print("[bold]No API key existed: this admin key is shown once, keep it:[/]")
                out.print(key, highlight=False)
        engine.dispose()
    os.environ["LOOPWISE_DATABASE_URL"] = settings.database_url
    # Migrated above, once: the server processes only check the revision (decision 0015).
    os.environ["LOOPWISE_MIGRATE"] = "0"
    plural = "s" if workers != 1 else ""
    serving = f"loopwise serving on http://{host}:{port} ({workers} worker{plural}; Ctrl-C stops it)"
    if reuse_port_supported():
        # A listening socket per worker process, so connections spread over them, and the compactor in a
        # process of its own (see loopwise.server.workers). "serving on" once the port answers.
        console.print(f"loopwise starting on http://{host}:{port} ...")
        with user_errors():
            try:
                code = serve_workers(
                    host,
                    port,
                    workers,
                    access_log=access_log,
                    on_ready=lambda: console.print(serving),
                )
            except OSError as exc:  # taken between the check and the workers' start
                raise _port_error(host, port, exc) from None
        raise typer.Exit(code)
    console.print(serving)
    uvicorn.run(APP, host=host, port=port, workers=workers, log_level="info", access_log=access_log)


def _check_port(host: str, port: int) -> None:
    """Refuse a port another process listens on (or a host this machine does not have) before starting."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is free
            probe.bind(address)
    except OSError as exc:
        raise _port_error(host, port, exc) from None


def _port_error(host: str, port: int, exc: OSError) -> Exception:
    import loopwise as lw

    reason = exc.strerror or str(exc)
    return lw.ParameterError(
        "--host/--port", f"{host}:{port}", f"an address this server can listen on ({reason})"
    )


@db_app.command("upgrade")
def db_upgrade(database_url: DbOpt = None) -> None:
    """Apply the database migrations (idempotent)."""
    from loopwise.server.settings import Settings
    from loopwise.store import open_database

    with user_errors():
        open_database(database_url or Settings().database_url, create=True).dispose()
    console.print("database is up to date")


def _admin_db(database_url: str | None) -> Any:
    """The admin commands' database: it must exist (a mistyped URL or path creates nothing)."""
    from loopwise.server.settings import Settings
    from loopwise.store import open_database, session_factory

    return session_factory(open_database(database_url or Settings().database_url))


@admin_app.command("create-key")
def create_key_cmd(
    role: Annotated[str, typer.Option(help="admin, maintainer, reviewer, viewer or ingest.")] = "admin",
    model: Annotated[str | None, typer.Option(help="Limit the key to this model.")] = None,
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    database_url: DbOpt = None,
) -> None:
    """Create an API key and print it (only its hash is stored)."""
    from loopwise.ingest import get_model
    from loopwise.server.auth import create_key
    from loopwise.store import transaction

    with user_errors(), transaction(_admin_db(database_url)) as s:
        model_id = get_model(s, model).id if model else None
        key = create_key(s, role, model_id=model_id, name=name, actor="cli")
    out.print(key, highlight=False)


@admin_app.command("list-keys")
def list_keys_cmd(
    database_url: DbOpt = None,
    all_keys: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
) -> None:
    """List the API keys: prefix, role, model limit, name, created, last used (never the secrets)."""
    from loopwise.server.auth import list_keys

    with user_errors(), _admin_db(database_url)() as s:
        keys = list_keys(s)
    table = Table()
    for col in ("prefix", "role", "model", "name", "created", "last used", "revoked"):
        table.add_column(col, no_wrap=col == "prefix")

    def when(t: dt.datetime | None) -> str:
        return t.strftime("%Y-%m-%d %H:%M") if t else "never"

    for k in keys:
        if k["revoked"] and not all_keys:
            continue
        table.add_row(
            k["prefix"],
            k["role"],
            escape(k["model"] or "(all)"),
            escape(k["name"]),
            when(k["created_at"]),
            when(k["last_used_at"]),
            "yes" if k["revoked"] else "",
        )
    out.print(table)


@admin_app.command("revoke-key")
def revoke_key_cmd(
    key: Annotated[str, typer.Argument(help="The key's prefix (from list-keys), or the whole key.")],
    database_url: DbOpt = None,
) -> None:
    """Revoke an API key; servers refuse it within a few seconds."""
    from loopwise.server.auth import revoke_key
    from loopwise.server.deps import AUTH_CACHE_SECONDS
    from loopwise.store import transaction

    with user_errors(), transaction(_admin_db(database_url)) as s:
        gone = revoke_key(s, key, actor="cli")
    console.print(
        f"revoked key {gone['prefix']} ({gone['role']}); servers refuse it within {AUTH_CACHE_SECONDS:g} s",
        highlight=False,
        markup=False,
    )
