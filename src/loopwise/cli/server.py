"""``loopwise serve``, ``loopwise db upgrade``, ``loopwise admin create-key``."""

from __future__ import annotations

from typing import Annotated

import typer

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
    port: Annotated[int, typer.Option(help="Port.")] = 8765,
    database_url: DbOpt = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Server processes (a listening socket each on Linux; 2 on two cores).")
    ] = 1,
    access_log: Annotated[
        bool, typer.Option(help="Log every request (Prometheus /metrics counts them either way).")
    ] = False,
) -> None:
    """Run the loopwise server (migrates the database first; prints an admin key on first start)."""
    import os

    import uvicorn

    from loopwise.server.auth import create_key, has_keys
    from loopwise.server.settings import Settings
    from loopwise.server.workers import APP, reuse_port_supported, serve_workers
    from loopwise.store import ensure_schema, make_engine, session_factory, transaction

    with user_errors():
        settings = Settings(database_url=database_url) if database_url else Settings()
        engine = make_engine(settings.database_url)
        ensure_schema(engine, migrate=settings.migrate)
        with transaction(session_factory(engine)) as s:
            if not has_keys(s):
                key = create_key(s, "admin", name="first admin", actor="first start")
                console.print("[bold]No API key existed: this admin key is shown once, keep it:[/]")
                out.print(key, highlight=False)
        engine.dispose()
    os.environ["LOOPWISE_DATABASE_URL"] = settings.database_url
    # Migrated above, once: the server processes only check the revision (decision 0015).
    os.environ["LOOPWISE_MIGRATE"] = "0"
    if reuse_port_supported():
        # A listening socket per worker process, so connections spread over them, and the compactor in a
        # process of its own (see loopwise.server.workers).
        with user_errors():
            try:
                code = serve_workers(host, port, workers, access_log=access_log)
            except OSError as exc:
                raise typer.BadParameter(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        raise typer.Exit(code)
    uvicorn.run(APP, host=host, port=port, workers=workers, log_level="info", access_log=access_log)


@db_app.command("upgrade")
def db_upgrade(database_url: DbOpt = None) -> None:
    """Apply the database migrations (idempotent)."""
    from loopwise.server.settings import Settings
    from loopwise.store import make_engine, upgrade

    with user_errors():
        upgrade(make_engine(database_url or Settings().database_url))
    console.print("database is up to date")


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
    from loopwise.server.settings import Settings
    from loopwise.store import make_engine, session_factory, transaction, upgrade

    with user_errors():
        engine = make_engine(database_url or Settings().database_url)
        upgrade(engine)
        with transaction(session_factory(engine)) as s:
            model_id = get_model(s, model).id if model else None
            key = create_key(s, role, model_id=model_id, name=name, actor="cli")
    out.print(key, highlight=False)
