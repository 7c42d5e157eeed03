"""The `JobStore` contract, run against SQLite and PostgreSQL (the `engine` fixture of
tests/conftest.py gives each test a clean, migrated database of each kind): claiming,
fencing, leases, idempotency, quota reservation, reading and the events it publishes.

Tests use the store only through the protocol; the rows they set up or check directly are
the schema's, not the store's internals."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.db import files, jobs, usage_events
from pdfprompt.domain import (
    DuplicateJobError,
    JobError,
    JobStage,
    JobStatus,
    LeaseLostError,
    NotFoundError,
    QuotaExceededError,
    new_id,
)
from pdfprompt.queue import Finished, JobStore, StoredFile, job_store_for
from tests.support.leases import expire_lease
from tests.support.store import new_job, new_user, reserving_job
from tests.support.usage import usage_counter


def _stored(key: str, size_bytes: int = 10, pages: int = 1) -> StoredFile:
    return StoredFile(key, size_bytes, pages, "0" * 64, "x.pdf")


async def _files_of_jobs(engine: AsyncEngine, job_ids: list[str]) -> dict[str, int]:
    """How many file rows each job has: never more than one."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(files.c.job_id, func.count())
                .where(files.c.job_id.in_(job_ids))
                .group_by(files.c.job_id)
            )
        ).all()
    return {job_id: count for job_id, count in rows}


async def _bulk(engine: AsyncEngine, user_id: str, n: int) -> None:
    """`n` queued jobs for a user in one statement (fast backlogs for fairness tests)."""
    rows = [
        {
            "id": new_id(),
            "user_id": user_id,
            "type": "markdown",
            "input": "# x",
            "options": {},
            "status": "queued",
            "stage": "queued",
            "max_attempts": 3,
        }
        for _ in range(n)
    ]
    async with engine.begin() as conn:
        await conn.execute(jobs.insert(), rows)


# -- claiming -------------------------------------------------------------------


async def test_concurrent_claimers_never_share_a_job(engine: AsyncEngine, store: JobStore) -> None:
    user = await new_user(engine)
    for _ in range(60):
        await store.enqueue(new_job(user))

    async def claimer(name: str) -> list[str]:
        got: list[str] = []
        while True:
            batch = await store.claim_jobs(name, 4, lease_s=30)
            if not batch:
                return got
            got += [j.id for j in batch]

    results = await asyncio.gather(*(claimer(f"w{i}") for i in range(4)))
    all_ids = [i for r in results for i in r]
    assert len(all_ids) == 60
    assert len(set(all_ids)) == 60


async def test_claim_orders_by_priority_then_age(engine: AsyncEngine, store: JobStore) -> None:
    user = await new_user(engine)
    low = await store.enqueue(new_job(user, priority=0))
    high = await store.enqueue(new_job(user, priority=5))
    later_low = await store.enqueue(new_job(user, priority=0))
    claimed = await store.claim_jobs("w", 3, lease_s=30)
    assert [j.id for j in claimed] == [high.id, low.id, later_low.id]
    assert all(j.status is JobStatus.RUNNING and j.attempts == 1 for j in claimed)
    assert all(j.lease_owner == "w" and j.lease_expires_at is not None for j in claimed)


async def test_a_backlog_does_not_hold_back_another_users_job(
    engine: AsyncEngine, store: JobStore
) -> None:
    a = await new_user(engine, "a@example.com")
    b = await new_user(engine, "b@example.com")
    await _bulk(engine, a, 2000)
    single = await store.enqueue(new_job(b))
    first = await store.claim_jobs("w", 4, lease_s=30)
    assert single.id in [j.id for j in first]
    assert {j.user_id for j in first} == {a, b}


async def test_claims_interleave_users_in_turn(engine: AsyncEngine, store: JobStore) -> None:
    users = [await new_user(engine, f"u{i}@example.com") for i in range(3)]
    for u in users:
        await _bulk(engine, u, 5)
    claimed = await store.claim_jobs("w", 6, lease_s=30)
    assert sorted(j.user_id for j in claimed) == sorted(users * 2)


async def test_per_user_running_cap_holds_across_concurrent_claimers(
    engine: AsyncEngine, store: JobStore
) -> None:
    a = await new_user(engine, "a@example.com")
    b = await new_user(engine, "b@example.com")
    await _bulk(engine, a, 40)
    await _bulk(engine, b, 2)

    async def claimer(name: str) -> list[str]:
        return [j.user_id for j in await store.claim_jobs(name, 5, lease_s=30, per_user_cap=3)]

    got = [
        u for batch in await asyncio.gather(*(claimer(f"w{i}") for i in range(6))) for u in batch
    ]
    assert got.count(a) == 3 and got.count(b) == 2
    # A job of a ends: one more of a's may start, no more.
    running_a = [
        j for j in (await store.list_jobs(a, status=JobStatus.RUNNING, limit=10, cursor=None)).items
    ]
    await store.finish_job(running_a[0].id, running_a[0].lease_owner or "", a, _stored("k"))
    again = await store.claim_jobs("w9", 5, lease_s=30, per_user_cap=3)
    assert [j.user_id for j in again] == [a]


async def test_a_plans_running_cap_holds_in_the_claim(engine: AsyncEngine) -> None:
    store = job_store_for(engine, plan_caps={"starter": 1, "classic": 2})
    starter = await new_user(engine, "s@example.com", "starter")
    classic = await new_user(engine, "c@example.com", "classic")
    unlimited = await new_user(engine, "e@example.com", "enterprise")
    for user in (starter, classic, unlimited):
        for _ in range(5):
            await store.enqueue(reserving_job(user, limit=None))
    claimed = await store.claim_jobs("w", 20, lease_s=30, per_user_cap=4)
    per_user = {u: sum(j.user_id == u for j in claimed) for u in (starter, classic, unlimited)}
    assert per_user == {starter: 1, classic: 2, unlimited: 4}
    assert await store.claim_jobs("w", 20, lease_s=30, per_user_cap=4) == []


# -- leases and fencing ---------------------------------------------------------


async def test_a_worker_that_lost_its_lease_cannot_finish(
    engine: AsyncEngine, store: JobStore
) -> None:
    user = await new_user(engine)
    job = await store.enqueue(new_job(user))
    [first] = await store.claim_jobs("w1", 1, lease_s=30)
    assert first.id == job.id
    await expire_lease(engine, job.id)
    assert await store.requeue_expired() == 1
    [second] = await store.claim_jobs("w2", 1, lease_s=30)
    assert second.id == job.id and second.attempts == 2
    with pytest.raises(LeaseLostError):
        await store.finish_job(job.id, "w1", user, _stored("k1"))
    await store.finish_job(job.id, "w2", user, _stored("k2"))
    done = await store.get(job.id)
    assert done.status is JobStatus.SUCCEEDED
    assert done.file is not None and done.file.storage_key == "k2"
    assert await _files_of_jobs(engine, [job.id]) == {job.id: 1}


async def test_a_finished_batch_is_fenced_job_by_job(engine: AsyncEngine, store: JobStore) -> None:
    user = await new_user(engine)
    options = {"format": "A4", "metadata": {"title": "Ünïcode"}}
    ids = [(await store.enqueue(new_job(user, options=options))).id for _ in range(3)]
    claimed = await store.claim_jobs("w", 3, lease_s=30)
    assert sorted(j.id for j in claimed) == sorted(ids)
    for job in claimed:  # the claimed rows come back as the API reads them
        assert job.options == options
        assert job.started_at is not None and job.started_at.tzinfo is not None
        assert job.created_at <= job.started_at
        assert job.extra["pickup_s"] >= 0
    await store.cancel_job(ids[1], user)
    outcome = await store.finish_jobs("w", [Finished(j, user, _stored(f"k-{j}")) for j in ids])
    assert outcome[ids[1]] is None
    assert await _files_of_jobs(engine, ids) == {ids[0]: 1, ids[2]: 1}
    for job_id in (ids[0], ids[2]):
        done = await store.get(job_id)
        assert done.status is JobStatus.SUCCEEDED
        assert done.file is not None and done.file.id == outcome[job_id]
        assert done.file.storage_key == f"k-{job_id}"
    assert (await store.get(ids[1])).status is JobStatus.CANCELED
    # Finishing again (a duplicate report) changes nothing.
    again = await store.finish_jobs("w", [Finished(ids[0], user, _stored("late"))])
    assert again == {ids[0]: None}
    assert await _files_of_jobs(engine, [ids[0]]) == {ids[0]: 1}


async def test_expired_lease_with_no_attempts_left_fails_the_job(
    engine: AsyncEngine, store: JobStore
) -> None:
    user = await new_user(engine)
    job = await store.enqueue(new_job(user, max_attempts=1))
    await store.claim_jobs("w1", 1, lease_s=30)
    await expire_lease(engine, job.id)
    await store.requeue_expired()
    failed = await store.get(job.id)
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None and failed.error.code == "lease_expired"


async def test_heartbeat_keeps_a_lease_alive(engine: AsyncEngine, store: JobStore) -> None:
    user = await new_user(engine)
    job = await store.enqueue(new_job(user))
    await store.claim_jobs("w1", 1, lease_s=1)
    before = (await store.get(job.id)).lease_expires_at
    assert await store.renew_leases("w1", lease_s=60) == 1
    after = (await store.get(job.id)).lease_expires_at
    assert before is not None and after is not None and after > before
    assert await store.requeue_expired() == 0


async def test_transient_failure_requeues_later_and_permanent_fails(
    engine: AsyncEngine, store: JobStore
) -> None:
    user = await new_user(engine)
    a = await store.enqueue(new_job(user))
    b = await store.enqueue(new_job(user))
    await store.claim_jobs("w", 2, lease_s=30)
    await store.fail_job(a.id, "w", JobError("render_timeout", "slow"), retry_in_s=60)
    await store.fail_job(b.id, "w", JobError("invalid_input", "bad"), retry_in_s=None)
    queued, failed = await store.get(a.id), await store.get(b.id)
    assert queued.status is JobStatus.QUEUED and queued.error is not None
    assert failed.status is JobStatus.FAILED and failed.finished_at is not None
    assert await store.claim_jobs("w", 2, lease_s=30) == []  # a is not due for a minute


async def test_cancel_fences_out_the_running_worker(engine: AsyncEngine, store: JobStore) -> None:
    user = await new_user(engine)
    job = await store.enqueue(new_job(user))
    await store.claim_jobs("w", 1, lease_s=30)
    canceled = await store.cancel_job(job.id, user)
    assert canceled.status is JobStatus.CANCELED
    with pytest.raises(LeaseLostError):
        await store.finish_job(job.id, "w", user, _stored("k"))
    assert await _files_of_jobs(engine, [job.id]) == {}


async def test_release_hands_jobs_back_at_once(engine: AsyncEngine, store: JobStore) -> None:
    user = await new_user(engine)
    job = await store.enqueue(new_job(user))
    await store.claim_jobs("w", 1, lease_s=300)
    assert await store.release_jobs("w") == 1
    back = await store.get(job.id)
    assert back.status is JobStatus.QUEUED and back.attempts == 0
    [again] = await store.claim_jobs("w2", 1, lease_s=30)
    assert again.id == job.id


# -- submission and reading -----------------------------------------------------


async def test_idempotency_key_gives_one_job_under_concurrency(
    engine: AsyncEngine, store: JobStore
) -> None:
    user = await new_user(engine)

    async def submit() -> str:
        try:
            return (await store.enqueue(new_job(user, idempotency_key="k-1"))).id
        except DuplicateJobError as dup:
            return dup.existing_job_id

    ids = await asyncio.gather(*(submit() for _ in range(10)))
    assert len(set(ids)) == 1
    page = await store.list_jobs(user, status=None, limit=10, cursor=None)
    assert [j.id for j in page.items] == [ids[0]] and page.items[0].status is JobStatus.QUEUED


async def test_a_job_read_sees_every_earlier_write_and_holds_nothing_open(
    engine: AsyncEngine, store: JobStore
) -> None:
    """`get`, what a status poll runs (on the driver, not SQLAlchemy), gives what a listing
    (through SQLAlchemy) reads, only to the owner, sees each change committed before it, and
    leaves no read open: on SQLite a truncating checkpoint right after still completes."""
    owner, other = await new_user(engine), await new_user(engine, "b@example.com")
    job = await store.enqueue(new_job(owner, options={"format": "Letter", "scale": 0.5}))
    queued = await store.get(job.id, owner)
    assert queued.status is JobStatus.QUEUED and queued.options == {
        "format": "Letter",
        "scale": 0.5,
    }
    with pytest.raises(NotFoundError):
        await store.get(job.id, other)
    await store.claim_jobs("w", 1, lease_s=30)
    assert (await store.get(job.id, owner)).status is JobStatus.RUNNING
    await store.finish_job(job.id, "w", owner, _stored("k"))
    done = await store.get(job.id, owner)
    assert done.status is JobStatus.SUCCEEDED and done.file is not None and done.file.pages == 1
    [listed] = (await store.list_jobs(owner, status=None, limit=1, cursor=None)).items
    assert done == listed
    assert done.finished_at is not None and done.finished_at.tzinfo is not None
    assert await store.get(job.id) == done  # without an owner: the operator's read
    if engine.dialect.name == "sqlite":
        async with engine.connect() as conn:
            busy, _, _ = (await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")).one()
        assert busy == 0


async def test_listing_is_newest_first_with_a_cursor(engine: AsyncEngine, store: JobStore) -> None:
    user = await new_user(engine)
    other = await new_user(engine, "b@example.com")
    made = [(await store.enqueue(new_job(user))).id for _ in range(5)]
    await store.enqueue(new_job(other))
    first = await store.list_jobs(user, status=None, limit=3, cursor=None)
    assert [j.id for j in first.items] == made[::-1][:3]
    assert first.next_cursor is not None
    second = await store.list_jobs(user, status=None, limit=3, cursor=first.next_cursor)
    assert [j.id for j in second.items] == made[::-1][3:]
    assert second.next_cursor is None


async def test_changes_are_published_to_subscribers(engine: AsyncEngine, store: JobStore) -> None:
    user = await new_user(engine)
    job = await store.enqueue(new_job(user))
    with store.events.subscribe(job.id) as changed:
        await store.claim_jobs("w", 1, lease_s=30)
        assert changed.is_set()
        changed.clear()
        await store.set_stage(job.id, "w", JobStage.RENDERING, 0.5)
        assert changed.is_set()
        changed.clear()
        await store.finish_job(job.id, "w", user, _stored("k"))
        assert changed.is_set()


async def test_window_stats_count_outcomes_and_latency(
    engine: AsyncEngine, store: JobStore
) -> None:
    user = await new_user(engine)
    made = [await store.enqueue(new_job(user)) for _ in range(4)]
    await store.claim_jobs("w", 4, lease_s=30)
    for job in made[:3]:
        await store.finish_job(job.id, "w", user, _stored(f"k{job.id}"))
    await store.fail_job(made[3].id, "w", JobError("invalid_input", "bad"), retry_in_s=None)
    stats = await store.window_stats(3600)
    assert (stats.succeeded, stats.failed, stats.canceled) == (3, 1, 0)
    assert stats.error_rate == 0.25
    assert stats.p50_s is not None and stats.p95_s is not None
    assert 0 <= stats.p50_s <= stats.p95_s < 60
    assert await store.queue_depth() == {"queued": 0, "running": 0}


# -- quota reservation ----------------------------------------------------------


async def test_concurrent_submissions_reserve_exactly_the_limit(
    engine: AsyncEngine, store: JobStore
) -> None:
    user = await new_user(engine, plan="classic")
    outcomes = await asyncio.gather(
        *(store.enqueue(reserving_job(user, limit=50)) for _ in range(200)), return_exceptions=True
    )
    accepted = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, QuotaExceededError)]
    assert (len(accepted), len(refused)) == (50, 150)
    assert refused[0].reset_at == "2026-12-01T00:00:00+00:00"
    assert await usage_counter(engine, user) == (0, 50)
    # Ten of the fifty fail for good: exactly ten more fit.
    for job in await store.claim_jobs("w", 10, lease_s=30):
        await store.fail_job(job.id, "w", JobError("invalid_input", "bad"), retry_in_s=None)
    again = await asyncio.gather(
        *(store.enqueue(reserving_job(user, limit=50)) for _ in range(20)), return_exceptions=True
    )
    assert sum(not isinstance(o, BaseException) for o in again) == 10
    assert await usage_counter(engine, user) == (0, 50)


async def test_every_way_a_job_ends_settles_its_reservation(
    engine: AsyncEngine, store: JobStore
) -> None:
    user = await new_user(engine, plan="classic")
    succeeds, fails, retried, canceled = [
        await store.enqueue(reserving_job(user, limit=None)) for _ in range(4)
    ]
    expires = await store.enqueue(reserving_job(user, limit=None, max_attempts=1))
    assert await usage_counter(engine, user) == (0, 5)
    await store.claim_jobs("w", 3, lease_s=30)
    await store.finish_job(succeeds.id, "w", user, StoredFile("k", 1234, 2, "0" * 64, "a.pdf"))
    await store.fail_job(fails.id, "w", JobError("invalid_input", "bad"), retry_in_s=None)
    await store.fail_job(retried.id, "w", JobError("render_timeout", "slow"), retry_in_s=60)
    await store.cancel_job(canceled.id, user)
    [lost] = await store.claim_jobs("w2", 1, lease_s=30)
    assert lost.id == expires.id
    await expire_lease(engine, lost.id)  # its worker stopped answering
    assert await store.requeue_expired() == 1  # out of attempts: failed
    # Used: the success. Still reserved: the job queued again for a retry.
    assert await usage_counter(engine, user) == (1, 1)
    async with engine.connect() as conn:
        history = (await conn.execute(select(usage_events))).all()
    [event] = history
    assert (event.kind, event.job_id, event.pages, event.size_bytes, event.period) == (
        "job",
        succeeds.id,
        2,
        1234,
        "2026-11",
    )
    assert event.duration_ms is not None and event.duration_ms >= 0


async def test_a_repeated_idempotency_key_reserves_nothing(
    engine: AsyncEngine, store: JobStore
) -> None:
    user = await new_user(engine, plan="classic")
    await store.enqueue(reserving_job(user, idempotency_key="once"))
    with pytest.raises(DuplicateJobError):
        await store.enqueue(reserving_job(user, idempotency_key="once"))
    assert await usage_counter(engine, user) == (0, 1)


async def test_the_quota_warning_comes_once_per_period(
    engine: AsyncEngine, store: JobStore
) -> None:
    user = await new_user(engine, plan="classic")
    warned = [
        bool((await store.enqueue(reserving_job(user, limit=10))).extra.get("quota_warning"))
        for _ in range(10)
    ]
    assert warned == [False] * 7 + [True, False, False]  # the 8th PDF is 80 %
    async with engine.connect() as conn:
        kinds = (await conn.execute(select(usage_events.c.kind, usage_events.c.period))).all()
    assert [tuple(k) for k in kinds] == [("quota_warning", "2026-11")]
