"""The `JobStore` queries of the admin pages and of deleting a person, run against SQLite and
PostgreSQL: a person's documents deleted in bounded batches (whatever their jobs' status,
their storage keys handed back, nobody else's touched) and the jobs that ended hour by hour,
counted as `window_stats` counts them."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.db import files, jobs, now_plus
from pdfprompt.domain import JobStage, JobStatus, JobType, LeaseLostError
from pdfprompt.queue import JobStore, NewJob, StoredFile, job_store_for
from tests.support.stores import new_job, store_user
from tests.support.usage import usage_counter


@pytest.fixture
def store(engine: AsyncEngine) -> JobStore:
    return job_store_for(engine)


def _new(user_id: str, **kw: Any) -> NewJob:
    """An HTML job reserving a PDF of plan `classic` in 2026-11, failing at its first error."""
    reserving = {"type": JobType.HTML, "input": "<p>q</p>", "max_attempts": 1, "plan": "classic"}
    return new_job(user_id, **{**reserving, "quota_period": "2026-11", "quota_limit": None, **kw})


async def _count(engine: AsyncEngine, table: Any, user_id: str) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).select_from(table).where(table.c.user_id == user_id)
        return int((await conn.execute(query)).scalar_one())


async def test_a_persons_documents_go_in_batches_with_their_keys(
    engine: AsyncEngine, store: JobStore
) -> None:
    gone = await store_user(engine, "gone@example.com")
    kept = await store_user(engine, "kept@example.com")
    for user in (gone, kept):
        for i in range(3):
            job = await store.enqueue(_new(user))
            [claimed] = await store.claim_jobs(f"w-{user}-{i}", 1, lease_s=30)
            assert claimed.id == job.id
            stored = StoredFile(
                f"{user}/{i}.pdf", 10, 1, "0" * 64, "x.pdf", html_key=f"{user}/{i}.html"
            )
            await store.finish_job(job.id, f"w-{user}-{i}", user, stored)
    running = await store.enqueue(_new(gone))
    [claimed] = await store.claim_jobs("w-running", 1, lease_s=30)
    assert claimed.id == running.id
    for _ in range(2):
        await store.enqueue(_new(gone))  # queued, each holding a reservation
    assert await usage_counter(engine, gone) == (3, 3)

    keys: list[str] = []
    batches = 0
    while batches < 20:
        deleted, batch = await store.delete_user_documents(gone, limit=2)
        assert deleted <= 4  # two jobs and their two files at most
        keys += batch
        batches += 1
        if deleted == 0:
            break
    assert batches > 3  # bounded batches, not one transaction
    assert sorted(keys) == sorted(f"{gone}/{i}.{ext}" for i in range(3) for ext in ("pdf", "html"))
    assert await _count(engine, jobs, gone) == await _count(engine, files, gone) == 0
    assert await _count(engine, jobs, kept) == await _count(engine, files, kept) == 3
    assert await usage_counter(engine, gone) == (3, 0)  # the reservations were released
    with pytest.raises(LeaseLostError):  # the worker running one lost it
        await store.set_stage(running.id, "w-running", JobStage.RENDERING, 0.5)
    assert await store.delete_user_documents(gone) == (0, [])


async def test_files_left_without_a_job_go_too(engine: AsyncEngine, store: JobStore) -> None:
    user = await store_user(engine, "orphaned@example.com")
    job = await store.enqueue(_new(user))
    await store.claim_jobs("w", 1, lease_s=30)
    await store.finish_job(job.id, "w", user, StoredFile("k.pdf", 10, 1, "0" * 64, "x.pdf"))
    async with engine.begin() as conn:  # a file whose job row is gone
        await conn.execute(jobs.delete().where(jobs.c.id == job.id))
    assert await store.delete_user_documents(user) == (1, ["k.pdf"])
    assert await store.delete_user_documents(user) == (0, [])


async def test_hourly_stats_count_what_window_stats_counts(
    engine: AsyncEngine, store: JobStore
) -> None:
    user = await store_user(engine, "hours@example.com")
    # (hours ago the job ended, its final status)
    ended = [
        (0.1, JobStatus.SUCCEEDED),
        (0.5, JobStatus.FAILED),
        (1.5, JobStatus.SUCCEEDED),
        (1.6, JobStatus.SUCCEEDED),
        (5.2, JobStatus.CANCELED),
        (23.9, JobStatus.SUCCEEDED),
        (30.0, JobStatus.SUCCEEDED),  # outside the last 24 hours
    ]
    for hours_ago, status in ended:
        job = await store.enqueue(_new(user, quota_period=None))
        async with engine.begin() as conn:
            await conn.execute(
                update(jobs)
                .where(jobs.c.id == job.id)
                .values(
                    status=status.value,
                    created_at=now_plus(-hours_ago * 3600 - 2),
                    finished_at=now_plus(-hours_ago * 3600),
                )
            )
    hours = await store.hourly_stats(24)
    assert [h.hours_ago for h in hours] == list(reversed(range(24)))  # oldest first
    by_age = {h.hours_ago: (h.succeeded, h.failed, h.canceled) for h in hours}
    assert by_age[0] == (1, 1, 0)
    assert by_age[1] == (2, 0, 0)
    assert by_age[5] == (0, 0, 1)
    assert by_age[23] == (1, 0, 0)
    assert sum(h.finished for h in hours) == 6
    window = await store.window_stats(24 * 3600)
    assert (window.succeeded, window.failed, window.canceled) == (
        sum(h.succeeded for h in hours),
        sum(h.failed for h in hours),
        sum(h.canceled for h in hours),
    )
    assert [h.finished for h in await store.hourly_stats(1)] == [2]
