"""Quota and retention on real SQLite and PostgreSQL: period roll-over, usage history, and the
maintenance passes that delete files past their plan's days and ended jobs without a file.
The reservation itself (at submission, settled by every way a job ends, the warning, the
plan's running cap) is part of the job store contract: tests/contract/test_job_store.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.accounts import AccountStore
from pdfprompt.db import files, jobs, now_plus
from pdfprompt.domain import (
    BUILTIN_PLANS,
    JobError,
    NotFoundError,
    QuotaExceededError,
    first_id_at,
)
from pdfprompt.queue import (
    JobContext,
    JobStore,
    StoredFile,
    Worker,
    WorkerConfig,
    job_store_for,
)
from pdfprompt.queue.maintenance import delete_expired_files, prune_jobs
from pdfprompt.storage import LocalStorage
from tests.support.store import new_user, reserving_job
from tests.support.usage import usage_counter
from tests.support.waiting import ManualClock, until


async def test_a_new_period_starts_from_nothing(engine: AsyncEngine) -> None:
    now = [datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)]
    accounts = AccountStore(engine, clock=lambda: now[0])
    store = job_store_for(engine)
    user = (await accounts.create_user("r@example.com", "classic")).id
    for _ in range(3):
        await store.enqueue(reserving_job(user, period=accounts.period()))
    with pytest.raises(QuotaExceededError):
        await store.enqueue(reserving_job(user, period=accounts.period()))
    now[0] = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC)
    assert accounts.period() == "2026-12"
    await store.enqueue(reserving_job(user, period=accounts.period()))
    usage = await accounts.usage(user, BUILTIN_PLANS["classic"])
    assert usage["pdfs"] == {"used": 0, "reserved": 1, "limit": 50}
    assert usage["period"] == {
        "start": "2026-12-01T00:00:00+00:00",
        "end": "2027-01-01T00:00:00+00:00",
    }


async def test_plan_changes_are_in_the_history(engine: AsyncEngine) -> None:
    accounts = AccountStore(engine, clock=lambda: datetime(2026, 11, 5, tzinfo=UTC))
    user = await new_user(engine, "q@example.com", "classic")
    await accounts.set_plan(user, "professional")
    items, cursor = await accounts.history(user, period="2026-11", limit=10, cursor=None)
    assert cursor is None
    assert [(i["kind"], i["plan_from"], i["plan_to"]) for i in items] == [
        ("plan_change", "classic", "professional")
    ]
    assert (await accounts.history(user, period="2026-10", limit=10, cursor=None))[0] == []


async def test_retention_deletes_files_past_their_plans_days(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    store = job_store_for(engine)
    storage = LocalStorage(tmp_path / "files")
    starter = await new_user(engine, "old@example.com", "starter")  # keeps files 30 days
    kept = await new_user(engine, "keep@example.com", "enterprise")  # keeps them forever
    made = {}
    for user in (starter, kept):
        job = await store.enqueue(reserving_job(user, limit=None))
        [claimed] = await store.claim_jobs("w", 1, lease_s=30)
        key = f"{user}/{job.id}.pdf"
        await storage.put(key, b"%PDF-1.7 test")
        await store.finish_job(claimed.id, "w", user, StoredFile(key, 13, 1, "0" * 64, "a.pdf"))
        made[user] = (job.id, key)
    days = {"starter": 30, "classic": 90}
    now = datetime.now(UTC)
    assert await delete_expired_files(store, storage.delete, days, now + timedelta(days=29)) == 0
    assert await delete_expired_files(store, storage.delete, days, now + timedelta(days=31)) == 1
    job_id, key = made[starter]
    assert (await store.get(job_id)).file is None and not await _stored(storage, key)
    job_id, key = made[kept]
    assert (await store.get(job_id)).file is not None and await _stored(storage, key)
    assert await store.storage_used(starter) == 0 and await store.storage_used(kept) == 13


async def _stored(storage: LocalStorage, key: str) -> bool:
    try:
        await storage.size(key)
    except NotFoundError:
        return False
    return True


async def test_ended_jobs_without_a_file_are_pruned_after_the_job_retention(
    engine: AsyncEngine,
) -> None:
    store = job_store_for(engine)
    user = await new_user(engine, "prune@example.com", "enterprise")
    old_failed, recent_failed, with_file = [
        await store.enqueue(reserving_job(user, limit=None, max_attempts=1)) for _ in range(3)
    ]
    await store.claim_jobs("w", 3, lease_s=30)
    for job in (old_failed, recent_failed):
        await store.fail_job(job.id, "w", JobError("invalid_input", "bad"), retry_in_s=None)
    await store.finish_job(with_file.id, "w", user, StoredFile("k", 1, 1, "0" * 64, "a.pdf"))
    async with engine.begin() as conn:  # two of them ended 100 days ago
        await conn.execute(
            update(jobs)
            .where(jobs.c.id.in_([old_failed.id, with_file.id]))
            .values(finished_at=now_plus(-100 * 86400))
        )
    assert await prune_jobs(store, job_retention_s=90 * 86400) == 1
    with pytest.raises(NotFoundError):
        await store.get(old_failed.id)
    assert (await store.get(recent_failed.id)).status.value == "failed"
    assert (await store.get(with_file.id)).file is not None  # lives as long as its file
    assert await usage_counter(engine, user) == (1, 0)  # usage is untouched


def _id_days_ago(days: float, n: int = 0) -> str:
    """An id made `days` ago (ids tell their age), the `n`-th of that moment."""
    moment = datetime.now(UTC) - timedelta(days=days)
    return first_id_at(int(moment.timestamp() * 1000) + n)


async def _file_made(store: JobStore, storage: LocalStorage, user: str) -> tuple[str, str]:
    """A job of `user` that succeeded, its PDF stored: (job id, storage key)."""
    job = await store.enqueue(reserving_job(user, limit=None))
    [claimed] = await store.claim_jobs("w", 1, lease_s=30)
    key = f"{user}/{job.id}.pdf"
    await storage.put(key, b"%PDF-1.7 test")
    await store.finish_job(claimed.id, "w", user, StoredFile(key, 13, 1, "0" * 64, "a.pdf"))
    return job.id, key


async def _made_days_ago(engine: AsyncEngine, job_id: str, days: float) -> None:
    """The job's file was made `days` ago: its id, which tells its age, written so."""
    async with engine.begin() as conn:
        file_id = (await conn.execute(select(jobs.c.file_id).where(jobs.c.id == job_id))).scalar()
        await conn.execute(update(jobs).where(jobs.c.id == job_id).values(file_id=None))
        old = _id_days_ago(days)
        await conn.execute(update(files).where(files.c.id == file_id).values(id=old))
        await conn.execute(update(jobs).where(jobs.c.id == job_id).values(file_id=old))


async def test_retention_deletes_in_batches_of_500(engine: AsyncEngine, tmp_path: Path) -> None:
    """1,001 files past their plan's days: one batch deletes 500 of them, and a pass deletes
    batch after batch until none is left (the other 501). The same for the jobs left
    without a file, once they ended past the job retention."""
    store = job_store_for(engine)
    user = await new_user(engine, "many@example.com", "classic")  # keeps files 90 days
    job_id, _ = await _file_made(store, LocalStorage(tmp_path / "files"), user)
    async with engine.begin() as conn:  # a thousand more like it, made 100 days ago
        job = dict((await conn.execute(select(jobs).where(jobs.c.id == job_id))).one()._mapping)
        made = dict((await conn.execute(select(files))).one()._mapping)
        copies = [(_id_days_ago(100, n), _id_days_ago(100, 1000 + n)) for n in range(1000)]
        await conn.execute(
            insert(files),
            [{**made, "id": f, "job_id": j, "storage_key": f"{user}/{j}.pdf"} for j, f in copies],
        )
        await conn.execute(insert(jobs), [{**job, "id": j, "file_id": f} for j, f in copies])
    await _made_days_ago(engine, job_id, 100)
    days = {"classic": 90}
    now = datetime.now(UTC)
    assert len(await store.delete_expired_files(days, now=now)) == 500
    removed: list[str] = []

    async def discard(key: str) -> None:
        removed.append(key)

    assert await delete_expired_files(store, discard, days, now) == 501
    assert len(set(removed)) == 501
    async with engine.begin() as conn:
        assert (await conn.execute(select(func.count()).select_from(files))).scalar() == 0
        await conn.execute(update(jobs).values(finished_at=now_plus(-100 * 86400)))
    assert await store.prune_jobs(90 * 86400) == 500
    assert await prune_jobs(store, 90 * 86400) == 501
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(jobs))).scalar() == 0


async def test_the_worker_runs_retention_as_it_starts_and_then_every_five_minutes(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A file past its plan's days is removed as a worker starts; one that passes them
    afterwards, by the pass five minutes later and not before (the worker's time between
    passes is a clock moved by hand)."""
    store, storage = job_store_for(engine), LocalStorage(tmp_path / "files")
    user = await new_user(engine, "kept@example.com", "classic")
    old_job, old_key = await _file_made(store, storage, user)
    new_job, new_key = await _file_made(store, storage, user)
    await _made_days_ago(engine, old_job, 91)

    async def handler(ctx: JobContext) -> StoredFile:
        raise AssertionError("no job is queued")

    clock = ManualClock()
    config = WorkerConfig(poll_ms=20, retention_days={"classic": 90})
    worker = Worker(store, handler, storage.delete, config, maintenance_sleep=clock.sleep)
    task = asyncio.create_task(worker.run())
    try:
        # The row goes first, then the stored object: wait for both.
        await until(lambda: _removed(store, storage, old_job, old_key), 10, "the first pass")
        next_pass = clock.now + 300
        await until(lambda: clock.waking_at == [next_pass], 10, "the next pass in 5 minutes")
        await _made_days_ago(engine, new_job, 91)
        clock.advance(299.9)  # no sleep ends: no pass runs
        assert clock.waking_at == [next_pass] and await _stored(storage, new_key)
        clock.advance(0.1)
        await until(lambda: _removed(store, storage, new_job, new_key), 10, "the second pass")
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)


async def _removed(store: JobStore, storage: LocalStorage, job_id: str, key: str) -> bool:
    return await _without_file(store, job_id) and not await _stored(storage, key)


async def _without_file(store: JobStore, job_id: str) -> bool:
    return (await store.get(job_id)).file is None
