"""The `JobStore` contract for the document pages, on SQLite and PostgreSQL: a document's
versions through `parent_id`, and a queued job's place in the claim order."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.db import jobs
from pdfprompt.domain import JobStatus, JobType, NotFoundError
from pdfprompt.queue import JobStore, job_store_for
from tests.support.stores import new_job, store_user


@pytest.fixture
def store(engine: AsyncEngine) -> JobStore:
    return job_store_for(engine)


async def test_versions_walk_up_to_the_first_and_down_to_every_revision(
    engine: AsyncEngine, store: JobStore
) -> None:
    user = await store_user(engine, "v@example.com")
    other = await store_user(engine, "w@example.com")
    root = await store.enqueue(new_job(user))
    first = await store.enqueue(new_job(user, type=JobType.PROMPT, parent_id=root.id))
    second = await store.enqueue(new_job(user, type=JobType.PROMPT, parent_id=first.id))
    sibling = await store.enqueue(new_job(user, type=JobType.PROMPT, parent_id=root.id))
    unrelated = await store.enqueue(new_job(user))
    # Another person's job naming this one as its parent is never listed.
    stranger = await store.enqueue(new_job(other, parent_id=root.id))
    newest_first = [sibling.id, second.id, first.id, root.id]
    for member in (root, first, second, sibling):
        assert [j.id for j in await store.versions(member.id, user)] == newest_first
    assert [j.id for j in await store.versions(unrelated.id, user)] == [unrelated.id]
    assert [j.id for j in await store.versions(stranger.id, other)] == [stranger.id]
    with pytest.raises(NotFoundError):
        await store.versions(root.id, other)
    with pytest.raises(NotFoundError):
        await store.versions("no-such-job", user)


async def test_a_deleted_version_ends_the_walk_up(engine: AsyncEngine, store: JobStore) -> None:
    user = await store_user(engine, "d@example.com")
    root = await store.enqueue(new_job(user))
    child = await store.enqueue(new_job(user, parent_id=root.id))
    grandchild = await store.enqueue(new_job(user, parent_id=child.id))
    await store.cancel_job(root.id, user)
    await store.delete_job(root.id, user)
    assert [j.id for j in await store.versions(grandchild.id, user)] == [grandchild.id, child.id]


async def test_queue_position_follows_the_claim_order(engine: AsyncEngine, store: JobStore) -> None:
    a = await store_user(engine, "a@example.com")
    b = await store_user(engine, "b@example.com")
    a1 = await store.enqueue(new_job(a))
    a2 = await store.enqueue(new_job(a))
    a3 = await store.enqueue(new_job(a))
    b1 = await store.enqueue(new_job(b))
    urgent = await store.enqueue(new_job(b, priority=5))
    # Higher priority first; then each user's first job before anyone's second.
    expected = [urgent, a1, b1, a2, a3]
    positions = {j.id: await store.queue_position(j.id) for j in expected}
    assert [positions[j.id] for j in expected] == [0, 1, 2, 3, 4]
    # One claim of three takes the three first, b1 before a's second job; the positions of
    # those left move up.
    claimed = await store.claim_jobs("w", 3, lease_s=30)
    assert sorted(j.id for j in claimed) == sorted([urgent.id, a1.id, b1.id])
    assert await store.queue_position(urgent.id) is None  # running now
    assert [await store.queue_position(j.id) for j in (a2, a3)] == [0, 1]
    assert await store.queue_position("no-such-job") is None


async def test_queue_position_of_jobs_due_at_the_same_moment(
    engine: AsyncEngine, store: JobStore
) -> None:
    a = await store_user(engine, "s@example.com")
    made = [await store.enqueue(new_job(a)) for _ in range(3)]
    async with engine.begin() as conn:  # one due time for all: the id decides
        await conn.execute(
            update(jobs)
            .where(jobs.c.user_id == a)
            .values(run_after=made[0].created_at, status=JobStatus.QUEUED.value)
        )
    assert [await store.queue_position(j.id) for j in made] == [0, 1, 2]
