"""Leases and retry waits run out at once: their end written into the past in SQL, instead
of a test claiming with a short lease, or retrying after a short delay, and sleeping past it."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.db import jobs, now_plus, webhook_deliveries


async def expire_lease(engine: AsyncEngine, job_id: str) -> None:
    """The running job's lease has run out, as when its worker stopped answering."""
    async with engine.begin() as conn:
        await conn.execute(
            update(jobs).where(jobs.c.id == job_id).values(lease_expires_at=now_plus(-1))
        )
        status = (await conn.execute(select(jobs.c.status).where(jobs.c.id == job_id))).scalar()
    assert status == "running"


async def expire_delivery_lease(engine: AsyncEngine, delivery_id: int) -> None:
    """The claimed webhook delivery's lease has run out: it is due again."""
    await _delivery_due_now(engine, delivery_id, claimed=True)


async def end_retry_wait(engine: AsyncEngine, job_id: str) -> None:
    """The job queued again after a failed attempt is due now, its backoff over."""
    async with engine.begin() as conn:
        done = await conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == "queued")
            .values(run_after=now_plus(-1))
        )
    assert done.rowcount == 1


async def end_delivery_wait(engine: AsyncEngine, delivery_id: int) -> None:
    """The webhook delivery waiting to be retried is due now, its backoff over."""
    await _delivery_due_now(engine, delivery_id, claimed=False)


async def _delivery_due_now(engine: AsyncEngine, delivery_id: int, *, claimed: bool) -> None:
    """The pending delivery, claimed by a worker or not (as said), is due now."""
    owner = webhook_deliveries.c.lease_owner
    async with engine.begin() as conn:
        done = await conn.execute(
            update(webhook_deliveries)
            .where(
                webhook_deliveries.c.id == delivery_id,
                webhook_deliveries.c.status == "pending",
                owner.is_not(None) if claimed else owner.is_(None),
            )
            .values(next_attempt_at=now_plus(-1))
        )
    assert done.rowcount == 1
