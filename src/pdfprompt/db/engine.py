"""The async engine and its pool, built from `Settings`; the only place dialects are told apart."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.compiler import SQLCompiler

from pdfprompt.db.driver import attach_sqlite_driver, sqlite_pragmas, writer_lock
from pdfprompt.settings import Settings

IMMEDIATE = "pdfprompt_immediate"


def async_url(url: str) -> str:
    """`sqlite:///x` and `postgresql://...` as their async drivers spell them."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername in ("postgresql", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(engine: AsyncEngine | AsyncConnection) -> bool:
    return engine.dialect.name == "sqlite"


def is_sqlite_url(url: str) -> bool:
    """True for a database URL that names SQLite (the embedded default)."""
    return make_url(async_url(url)).get_backend_name() == "sqlite"


def shown_url(url: str) -> str:
    """A database URL as it may be printed: a SQLite file as it is, a server without the
    user and password."""
    if is_sqlite_url(url):
        return url
    return url.split("@")[-1]


def create_engine(settings: Settings) -> AsyncEngine:
    url = async_url(settings.effective_database_url)
    if is_sqlite_url(url):
        return _sqlite_engine(url, settings)
    return create_async_engine(
        url,
        pool_size=settings.database_max_connections,
        max_overflow=0,
        pool_recycle=int(settings.database_idle_timeout_s),
        # No ping per checkout (a round trip per transaction): a connection found dead
        # invalidates the whole pool at once, and callers retry what a restart interrupts.
        pool_timeout=settings.database_connect_timeout_s,
        connect_args={
            "timeout": settings.database_connect_timeout_s,
            "server_settings": {"application_name": "pdfprompt"},
        },
    )


def _sqlite_engine(url: str, settings: Settings) -> AsyncEngine:
    database = make_url(url).database
    if database and database != ":memory:":
        _owner_only(Path(database))
    engine = create_async_engine(
        url,
        pool_size=settings.database_max_connections,
        max_overflow=0,
        pool_recycle=int(settings.database_idle_timeout_s),
        pool_timeout=settings.database_connect_timeout_s,
        connect_args={"timeout": settings.database_connect_timeout_s},
    )
    attach_sqlite_driver(
        engine,
        database or "",
        settings.database_connect_timeout_s,
        slow_s=settings.database_slow_ms / 1000,
    )
    sync_engine = engine.sync_engine
    dialect = sync_engine.dialect
    dialect.statement_compiler = _sqlite_compiler(dialect.statement_compiler)

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's "begin" event decide how a transaction starts.
        dbapi_connection.isolation_level = None
        sqlite_pragmas(dbapi_connection, settings.database_connect_timeout_s)

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers that read-then-write (claiming) take the write lock up front.
        if conn.get_execution_options().get(IMMEDIATE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def _owner_only(database: Path) -> None:
    """Create the SQLite file (and its directory) readable by its owner only: it holds
    webhook secrets and every user's data. SQLite gives its -wal and -shm files the mode of
    the database file. A file made by an earlier release is narrowed too."""
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(database, os.O_RDWR | os.O_CREAT, 0o600))
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        with contextlib.suppress(OSError):  # not there, or not ours to change
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)


def _sqlite_compiler(base: type[SQLCompiler]) -> type[SQLCompiler]:
    """SQLAlchemy's SQLite compiler drops table hints; SQLite understands `INDEXED BY`, which
    queries use (`select().with_hint(table, "INDEXED BY ix", "sqlite")`) where the planner,
    having no statistics, would read an index over all rows instead of a small partial one."""

    class SqliteCompiler(base):  # type: ignore[valid-type,misc]
        def get_from_hint_text(self, table: Any, text: str | None) -> str | None:
            return text

    return SqliteCompiler


def listen_dsn(url: str) -> str:
    """A plain `postgresql://` DSN for the dedicated LISTEN connection."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that writes. On SQLite it takes the write lock at BEGIN (IMMEDIATE), so a
    read followed by a write never fails with 'database is locked' when another writer committed
    in between; waiting for the lock honours the busy timeout. Writers in one process queue on
    an asyncio lock first: SQLite's busy handler waits by sleeping (up to 100 ms at a time),
    which a queue of in-process writers would pay on every commit. PostgreSQL ignores both."""
    if not is_sqlite(engine):
        async with engine.begin() as conn:
            yield conn
        return
    async with writer_lock(engine), engine.connect() as conn:
        conn = await conn.execution_options(**{IMMEDIATE: True})
        async with conn.begin():
            yield conn
