"""Engine set-up: SQLite (WAL) by default, PostgreSQL (psycopg 3) by URL; migrations at start-up."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError

from loopwise.errors import DatabaseVersionError

try:
    import fcntl
except ImportError:  # Windows: SQLite's own busy handler does the queueing
    fcntl = None  # type: ignore[assignment]
from sqlalchemy.orm import Session, sessionmaker

#: SQLite's memory map: its default compile-time cap (SQLITE_MAX_MMAP_SIZE, 0x7fff0000); past it, a page
#: is read as without a map.
MMAP_BYTES = 0x7FFF0000
#: The execution option ``transaction(durable=False)`` sets on its connection (SQLite reads it at BEGIN).
DURABLE_OPTION = "loopwise_durable"


def make_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(conn: Any, _record: Any) -> None:
            cur = conn.cursor()
            # WAL lets readers run beside the writer; synchronous=FULL makes an acknowledged commit
            # survive a power cut, not just a crash; foreign keys are off in SQLite unless asked for.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # Event ids arrive in random order, so each batch touches pages all over the id index; the
            # default 2 MB page cache re-read them (executemany of 1,000 rows: 5.4 -> 3.9 ms at 32 MB).
            cur.execute("PRAGMA cache_size=-32768")
            # Checkpoints run in the background (``checkpoint``, by the compactor); the writer's commit
            # ran one every 1,000 pages, a 150 ms pause for every request of its group. The automatic one
            # stays as a bound on the WAL in case the background one cannot keep up.
            cur.execute("PRAGMA wal_autocheckpoint=20000")
            # Read the file through a memory map (up to SQLite's usual 2 GiB cap) instead of a read call
            # per 4 KB page: a replay's or a pairing's 352 MB of blobs came out in 0.09 s instead of
            # 0.25 s (decision 0062). Writes still go through the WAL.
            cur.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
            cur.close()
            # pysqlite's own transaction handling defers BEGIN; we issue BEGIN ourselves (below).
            conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # A writer takes the write lock at the start (IMMEDIATE): two writers never deadlock upgrading a
            # read lock. A read-only session begins DEFERRED, so under WAL it never blocks the writers.
            options = conn.get_execution_options()
            readonly = options.get("loopwise_readonly", False)
            if not readonly:
                # SQLite takes the level outside a transaction only; every writer sets the one it needs
                # (``transaction(durable=False)`` leaves a pooled connection at NORMAL for the next).
                level = "FULL" if options.get(DURABLE_OPTION, True) else "NORMAL"
                if conn.info.get("synchronous", "FULL") != level:
                    conn.exec_driver_sql(f"PRAGMA synchronous={level}")
                    conn.info["synchronous"] = level
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    engine = create_engine(url, pool_size=10, max_overflow=10)
    _ping_when_idle(engine)
    return engine


#: A pooled connection unused for longer than this is tested before it is handed out.
PING_IDLE_SECONDS = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Test a pooled connection at checkout only if it sat idle (``pool_pre_ping`` tests every one).

    A connection that served a request a moment ago is very likely alive; one idle for a while may have been
    closed by a database restart or a firewall, and is replaced before a request gets it. Under load the
    writer checks out a connection per write group, and the ping was a round trip each time: each round trip
    is a wait to take the GIL back from the request thread (with the readers' ping, two of the fifteen round
    trips of a single-event group on PostgreSQL).
    """

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi: Any, record: Any) -> None:
        record.info["loopwise_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("loopwise_idle_since")
        if since is None or time.monotonic() - since < PING_IDLE_SECONDS:
            return  # just connected, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi)
        except Exception as exc:
            # The pool discards the connection and checks out another (SQLAlchemy's documented recipe).
            raise DisconnectionError("the pooled connection is gone") from exc


def _alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    # Found inside the installed package (a wheel holds the migrations as package files), never by a path
    # relative to a source tree.
    cfg.set_main_option("script_location", str(resources.files("loopwise.store") / "migrations"))
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema with Alembic (idempotent; safe to run from several processes).

    Every entry point runs it at start-up (decision 0015). Processes starting together (uvicorn's
    ``--workers``) take turns: on SQLite the transaction begins IMMEDIATE and the writer file lock is held,
    on PostgreSQL a transaction-scoped advisory lock is, so the second finds the schema made and does nothing.
    """
    from alembic import command

    cfg = _alembic_config()
    with writer_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def open_database(url: str, *, create: bool = False, migrate: bool = True) -> Engine:
    """An engine on a database that exists and answers, migrated to the newest schema.

    Only ``create=True`` (``loopwise serve``, ``db upgrade``, ``--create``) makes a new SQLite file: a
    mistyped path elsewhere is an error, not a new empty database that then has "no model named ...".
    A database that cannot be reached is one ``DatabaseError`` naming it, not a driver traceback.
    """
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from loopwise.errors import DatabaseError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(f"not a database URL: {url!r}") from None
    shown = parsed.render_as_string(hide_password=True)
    database = parsed.database or ""
    local_file = database not in ("", ":memory:") and not database.startswith("file:")
    if parsed.get_backend_name() == "sqlite" and local_file and not Path(database).exists():
        if not create:
            raise DatabaseError(
                f"no database at {database}: check the path (only `loopwise serve`, "
                "`loopwise db upgrade` and --create make a new one)"
            )
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = make_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        ensure_schema(engine, migrate=migrate)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise DatabaseError(
            f"cannot open the database {shown}: {reason[0] if reason else type(exc).__name__}"
        ) from None
    return engine


def ensure_schema(engine: Engine, *, migrate: bool = True) -> None:
    """At start-up: migrate to the newest schema, or (``migrate=False``) refuse one at another revision.

    Not migrating is an operator's choice (a release step migrates); such a database is then refused once,
    with a one-line :class:`DatabaseVersionError`, rather than answering 500 and failing the compactor every
    second.
    """
    if migrate:
        upgrade(engine)
        return
    current, head = schema_revision(engine)
    if current != head:
        raise DatabaseVersionError(engine.url.render_as_string(hide_password=True), current, head)


#: The PostgreSQL advisory lock key migrations hold ("lw-migr" as a number).
MIGRATION_LOCK_KEY = int.from_bytes(b"lw-migr", "big")


def schema_revision(engine: Engine) -> tuple[str | None, str]:
    """(the database's Alembic revision or None when it has no loopwise tables, the newest revision)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None  # the package ships its migrations
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return current, head


def session_factory(engine: Engine, *, readonly: bool = False) -> sessionmaker[Session]:
    """Sessions on ``engine``; ``readonly`` ones read one snapshot and never block writers.

    On SQLite they begin DEFERRED (no write lock; WAL gives the snapshot). On PostgreSQL they run at
    REPEATABLE READ, so a query that reads a bucket and then its pending parts never sees a compaction
    half-way (read-only transactions at this level never fail with serialization errors).
    """
    if not readonly:
        bind = engine
    elif engine.dialect.name == "postgresql":
        bind = engine.execution_options(loopwise_readonly=True, isolation_level="REPEATABLE READ")
    else:
        bind = engine.execution_options(loopwise_readonly=True)
    return sessionmaker(bind, expire_on_commit=False)


def insert_ignore(session: Session, table: Any, values: dict[str, Any]) -> None:
    """INSERT the row unless its key exists (ON CONFLICT DO NOTHING on both databases)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(table).values(**values).on_conflict_do_nothing())
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(table).values(**values).on_conflict_do_nothing())


def insert_ignore_many(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT the rows whose keys do not exist yet, in one statement (ON CONFLICT DO NOTHING)."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(table).values(rows).on_conflict_do_nothing())
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(table).values(rows).on_conflict_do_nothing())


@contextmanager
def transaction(factory: sessionmaker[Session], *, durable: bool = True) -> Iterator[Session]:
    """One unit of work: committed when the block ends, rolled back on any error.

    On a SQLite file, writers of all processes first queue on an OS file lock (``writer_lock``).

    ``durable=False``: the commit returns before its data reaches the disk (SQLite's ``synchronous=NORMAL``
    in WAL mode, PostgreSQL's ``synchronous_commit = off``). A crash of the process loses nothing, a power
    cut may lose it; the next durable commit of any writer flushes it with its own (the log is written in
    order). For steps of a longer job whose end is one durable commit, as a replay's batches are (decision
    0065); never for what a caller is told is stored.
    """
    bind = factory.kw.get("bind")
    with writer_lock(bind), factory() as session, session.begin():
        if not durable:
            conn = session.connection(execution_options={DURABLE_OPTION: False})
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        yield session


_held = threading.local()


@contextmanager
def writer_lock(engine: Engine | None) -> Iterator[None]:
    """Serialise SQLite write transactions across processes (and threads) with ``flock``.

    SQLite admits one writer; a second one's BEGIN IMMEDIATE gets SQLITE_BUSY and its busy handler sleeps
    and polls (1, 2, 5, 10 ... 100 ms), so with two server processes a write waited tens of milliseconds
    for a lock freed long before. A blocked ``flock`` wakes as soon as the lock is released. Re-entrant in
    a thread; read-only sessions never take it; a no-op elsewhere (PostgreSQL, in-memory SQLite).
    """
    path = _lock_path(engine)
    held: set[str] = _held.__dict__.setdefault("paths", set())
    if path is None or path in held:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        held.add(path)
        try:
            yield
        finally:
            held.discard(path)
    finally:
        os.close(fd)  # releases the lock


def checkpoint(engine: Engine) -> None:
    """Copy committed WAL frames into a SQLite database without blocking its writers (PASSIVE)."""
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()  # outside any transaction (SQLAlchemy's would begin one, and take the lock)
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA wal_checkpoint(PASSIVE)")
        cur.close()
    finally:
        raw.close()


def _lock_path(engine: Engine | None, name: str = "writer") -> str | None:
    if engine is None or engine.dialect.name != "sqlite" or fcntl is None:
        return None
    if engine.get_execution_options().get("loopwise_readonly", False):
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return f"{database}-{name}.lock"


@contextmanager
def exclusive(factory: sessionmaker[Session], name: str) -> Iterator[bool]:
    """Whether this process won the job ``name`` (no other process holds it); held until the block ends.

    For background jobs that every server process runs but only one at a time should: a non-blocking
    ``flock`` on SQLite, a session advisory lock on PostgreSQL; elsewhere always True.
    """
    engine = factory.kw.get("bind")
    path = _lock_path(engine, name)
    if path is not None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)
        return
    if engine is not None and engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            key = int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "big", signed=True)
            won = bool(conn.exec_driver_sql("SELECT pg_try_advisory_lock(%s)", (key,)).scalar())
            conn.commit()
            try:
                yield won
            finally:
                if won:
                    conn.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (key,))
                    conn.commit()
        return
    yield True


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path).expanduser().resolve()}"
