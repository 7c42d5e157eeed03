"""Reading a user's quota counters straight from the database."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.db import usage_counters


async def usage_counter(
    engine: AsyncEngine, user_id: str, period: str = "2026-11"
) -> tuple[int, int]:
    """The user's (used, reserved) PDFs in the period."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(usage_counters.c.used, usage_counters.c.reserved).where(
                    usage_counters.c.user_id == user_id, usage_counters.c.period == period
                )
            )
        ).first()
    return (row.used, row.reserved) if row else (0, 0)
