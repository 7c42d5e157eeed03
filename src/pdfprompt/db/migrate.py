"""Alembic, driven from code: `pdfprompt db upgrade` and SQLite's upgrade on start."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdfprompt.db.engine import create_engine, is_sqlite
from pdfprompt.domain import UnavailableError
from pdfprompt.settings import Settings

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The PostgreSQL advisory lock key `pdfprompt db upgrade` holds while it migrates ("pdfp").
MIGRATION_LOCK = 0x70646670
log = logging.getLogger(__name__)


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config  # alembic loads only when a schema is looked at

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations up to `revision` on the engine's database, in one transaction. On
    PostgreSQL the transaction first takes an advisory lock, so upgrades started at the same
    moment (a migration job of each deployment, or one per node) run one after the other:
    the next one finds the schema up to date and does nothing."""

    from alembic import command

    def _run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await _lock_migrations(conn)
        await conn.run_sync(_run)


async def _lock_migrations(conn: AsyncConnection) -> None:
    """Hold `MIGRATION_LOCK` until the transaction ends, waiting for another holder."""
    locked = text("SELECT pg_try_advisory_xact_lock(:key)").bindparams(key=MIGRATION_LOCK)
    if not (await conn.execute(locked)).scalar_one():
        log.info("another process is upgrading the database; waiting for it to finish")
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=MIGRATION_LOCK)
        )


async def current_revision(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    def _read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(_read)


def head_revision() -> str:
    """The newest migration this package ships."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def open_database(settings: Settings) -> AsyncEngine:
    """An engine on the configured database with the schema this package needs: SQLite is
    migrated here; PostgreSQL must be up to date (`pdfprompt db upgrade`), else
    `UnavailableError` says so."""
    engine = create_engine(settings)
    if is_sqlite(engine):
        await upgrade(engine)
        return engine
    revision, head = await current_revision(engine), head_revision()
    if revision != head:
        await engine.dispose()
        raise UnavailableError(
            f"database schema is at {revision or 'nothing'}, expected {head}: "
            "run `pdfprompt db upgrade`"
        )
    return engine
