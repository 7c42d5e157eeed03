"""Queries more than one room asks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from pdfprompt.db.tables import assets, files


def stored_bytes(user_id: str) -> Select[Any]:
    """The bytes of the user's stored PDFs and assets (0 when none): what counts against the
    plan's storage, kept exact because it is summed from the rows themselves."""
    pdfs = select(func.coalesce(func.sum(files.c.size_bytes), 0)).where(files.c.user_id == user_id)
    uploaded = select(func.coalesce(func.sum(assets.c.size_bytes), 0)).where(
        assets.c.user_id == user_id
    )
    return select(pdfs.scalar_subquery() + uploaded.scalar_subquery())


async def announce(conn: AsyncConnection, channel: str, payload: str) -> None:
    """Tell the other processes listening on `channel` (PostgreSQL NOTIFY, sent when the
    transaction commits). SQLite serves one process, which needs no telling."""
    if conn.dialect.name != "sqlite":
        await conn.execute(select(func.pg_notify(channel, payload)))
