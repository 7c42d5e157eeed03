"""Alembic, driven from code: `pdfprompt db upgrade` and SQLite's upgrade on start."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.db.engine import create_engine, is_sqlite
from pdfprompt.domain import UnavailableError
from pdfprompt.settings import Settings

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config  # alembic loads only when a schema is looked at

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations up to `revision` on the engine's database."""

    from alembic import command

    def _run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    async with engine.begin() as conn:
        await conn.run_sync(_run)


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
