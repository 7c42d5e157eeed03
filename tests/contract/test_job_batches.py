"""The job store's batches, on SQLite and PostgreSQL: all jobs queued in one transaction
with the quota reserved for all or none, idempotency, counts, cancel (reservations
released), the completion pass marking a batch exactly once with its webhook deliveries,
and the claim's fairness towards another user while a large batch waits."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.db import jobs, webhook_deliveries
from pdfprompt.domain import BatchStatus, JobError, JobStatus, QuotaExceededError
from pdfprompt.queue import JobStore, NewBatch
from pdfprompt.webhooks import WebhookStore
from tests.support.store import new_job, new_user, reserving_job
from tests.support.usage import usage_counter


def _batch(user_id: str, n: int, *, limit: int | None = None, key: str | None = None) -> NewBatch:
    made = [reserving_job(user_id, limit=limit) for _ in range(n)]
    return NewBatch(
        user_id=user_id,
        jobs=made,
        names=[f"{i}.pdf" for i in range(n)],
        filename="{row}.pdf",
        plan="classic",
        quota_period="2026-11",
        quota_limit=limit,
        idempotency_key=key,
    )


async def _job_count(engine: AsyncEngine, user_id: str) -> int:
    async with engine.connect() as conn:
        count: int = (
            await conn.execute(select(func.count()).where(jobs.c.user_id == user_id))
        ).scalar_one()
    return count


async def test_a_batch_queues_every_job_with_the_quota_reserved_for_all(
    store: JobStore, engine: AsyncEngine
) -> None:
    user = await new_user(engine)
    batch, new = await store.enqueue_batch(_batch(user, 25, limit=30))
    assert new and batch.id.startswith("bat_")
    assert batch.total == 25 and batch.counts.queued == 25
    assert batch.status is BatchStatus.QUEUED and batch.progress == 0
    assert await usage_counter(engine, user) == (0, 25)
    page, more = await store.batch_jobs(batch.id, user, status=None, limit=10, after_row=None)
    assert [j.extra["batch_row"] for j in page] == list(range(10)) and more == 9
    page, more = await store.batch_jobs(batch.id, user, status=None, limit=100, after_row=more)
    assert [j.extra["batch_row"] for j in page] == list(range(10, 25)) and more is None


async def test_a_batch_over_the_quota_is_refused_whole(
    store: JobStore, engine: AsyncEngine
) -> None:
    user = await new_user(engine)
    await store.enqueue(reserving_job(user, limit=10))
    with pytest.raises(QuotaExceededError):
        await store.enqueue_batch(_batch(user, 10, limit=10))  # 1 + 10 > 10
    assert await _job_count(engine, user) == 1
    assert await usage_counter(engine, user) == (0, 1)
    # Exactly what is left fits.
    batch, _ = await store.enqueue_batch(_batch(user, 9, limit=10))
    assert batch.total == 9
    assert await usage_counter(engine, user) == (0, 10)


async def test_a_repeated_idempotency_key_gives_the_first_batch(
    store: JobStore, engine: AsyncEngine
) -> None:
    user = await new_user(engine)
    first, new = await store.enqueue_batch(_batch(user, 3, key="k1"))
    again, again_new = await store.enqueue_batch(_batch(user, 5, key="k1"))
    assert new and not again_new and again.id == first.id and again.total == 3
    assert await _job_count(engine, user) == 3
    assert await usage_counter(engine, user) == (0, 3)


async def test_another_users_batch_is_not_found(store: JobStore, engine: AsyncEngine) -> None:
    owner = await new_user(engine, "o@example.com")
    other = await new_user(engine, "x@example.com")
    batch, _ = await store.enqueue_batch(_batch(owner, 2))
    from pdfprompt.domain import NotFoundError

    for call in (
        store.get_batch(batch.id, other),
        store.cancel_batch(batch.id, other),
        store.batch_files(batch.id, other),
        store.batch_jobs(batch.id, other, status=None, limit=5, after_row=None),
    ):
        with pytest.raises(NotFoundError):
            await call
    assert (await store.list_batches(other, limit=10, cursor=None)).items == []
    assert [b.id for b in (await store.list_batches(owner, limit=10, cursor=None)).items] == [
        batch.id
    ]


async def test_cancel_stops_queued_and_running_jobs_and_releases_their_quota(
    store: JobStore, engine: AsyncEngine
) -> None:
    user = await new_user(engine)
    batch, _ = await store.enqueue_batch(_batch(user, 6, limit=100))
    running = await store.claim_jobs("w1", 2, 30)
    assert len(running) == 2
    canceled = await store.cancel_batch(batch.id, user)
    assert canceled.status is BatchStatus.CANCELED
    assert canceled.counts.canceled == 6 and canceled.progress == 1
    assert await usage_counter(engine, user) == (0, 0)
    assert await store.lost_jobs("w1", [j.id for j in running]) == {j.id for j in running}
    # Again: nothing changes.
    assert (await store.cancel_batch(batch.id, user)).counts == canceled.counts
    assert await store.complete_batches() == []


async def test_the_completion_pass_marks_a_batch_once_with_its_deliveries(
    store: JobStore, engine: AsyncEngine
) -> None:
    user = await new_user(engine)
    hooks = WebhookStore(engine)
    await hooks.create(user, "http://192.0.2.1/a", ["batch.completed"])
    await hooks.create(user, "http://192.0.2.1/b", ["job.failed"])
    batch, _ = await store.enqueue_batch(_batch(user, 3))
    claimed = await store.claim_jobs("w1", 3, 30)
    assert await store.complete_batches() == []  # jobs still running
    for job in claimed:
        await store.fail_job(job.id, "w1", JobError("render_failed", "no"), retry_in_s=None)
    shown = await store.get_batch(batch.id, user)
    assert shown.status is BatchStatus.COMPLETED and shown.counts.failed == 3
    assert shown.ended_at is not None
    assert await store.complete_batches() == [batch.id]
    assert await store.complete_batches() == []
    async with engine.connect() as conn:
        sent = (
            await conn.execute(
                select(webhook_deliveries.c.event, webhook_deliveries.c.subject).where(
                    webhook_deliveries.c.event == "batch.completed"
                )
            )
        ).all()
    assert [tuple(r) for r in sent] == [("batch.completed", batch.id)]
    failed, _ = await store.batch_jobs(
        batch.id, user, status=JobStatus.FAILED, limit=10, after_row=None
    )
    assert len(failed) == 3 and all(j.error is not None for j in failed)


async def test_a_large_batch_does_not_hold_back_another_users_job(
    store: JobStore, engine: AsyncEngine
) -> None:
    """One user's 1,000-job batch is queued first; another user's single job, queued after
    it, is among the first jobs claimed (users take turns), long before most of the batch."""
    big = await new_user(engine, "big@example.com")
    small = await new_user(engine, "small@example.com")
    batch, _ = await store.enqueue_batch(_batch(big, 1000))
    lone = await store.enqueue(new_job(small))
    order: list[str] = []
    while len(order) < 20:
        claimed = await store.claim_jobs("w1", 4, 30)
        assert claimed
        order.extend(j.id for j in claimed)
    assert lone.id in order[:4]
    assert batch.total == 1000
