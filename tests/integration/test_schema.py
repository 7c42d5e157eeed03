"""Migrating an empty database gives exactly the schema of `db/tables.py`, on both dialects."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.db import current_revision, head_revision, metadata


async def test_migrations_match_the_tables(engine: AsyncEngine) -> None:
    def diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []
    assert await current_revision(engine) == head_revision()


async def test_claim_and_listing_indexes_exist(engine: AsyncEngine) -> None:
    def indexes(connection: Connection) -> dict[str, list[str | None]]:
        return {i["name"]: i["column_names"] for i in inspect(connection).get_indexes("jobs")}

    async with engine.connect() as conn:
        found = await conn.run_sync(indexes)
    assert {"ix_jobs_claim", "ix_jobs_lease", "ix_jobs_user_id_id"} <= set(found)
    assert "uq_jobs_user_id_idempotency_key" in found
