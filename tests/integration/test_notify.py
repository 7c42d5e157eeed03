"""PostgreSQL LISTEN/NOTIFY: wake-ups and job changes reach other processes' listeners."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.accounts import AccountStore
from pdfprompt.db import create_engine, listen_dsn
from pdfprompt.domain import JobType
from pdfprompt.queue import (
    JobEvents,
    NewJob,
    PostgresJobStore,
    PostgresWakeup,
    finish_trailing_notifies,
)
from pdfprompt.settings import Settings


@pytest.fixture
async def pg_engine(pg_url: str) -> AsyncEngine:
    engine = create_engine(Settings(database_url=pg_url))
    yield engine  # type: ignore[misc]
    await finish_trailing_notifies()
    await engine.dispose()


async def test_enqueue_and_changes_reach_a_listener_on_another_connection(
    pg_engine: AsyncEngine, pg_url: str
) -> None:
    writer = PostgresJobStore(pg_engine)  # stands for another node: its own events hub
    heard = JobEvents()
    user = (await AccountStore(pg_engine).create_user("n@example.com", "enterprise")).id
    async with PostgresWakeup(listen_dsn(pg_url), events=heard) as wakeup:
        await asyncio.wait_for(wakeup.connected.wait(), 10)
        await wakeup.wait(0.05)  # drop the catch-up wake-up sent on connect
        new = NewJob(user, JobType.MARKDOWN, "# x", {}, 3)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        job = await writer.enqueue(new)
        assert await wakeup.wait(5), "enqueue NOTIFY not received"
        pickup_s = loop.time() - t0
        with heard.subscribe(job.id) as changed:
            await writer.claim_jobs("w", 1, lease_s=30)
            await asyncio.wait_for(changed.wait(), 5)
    assert pickup_s < 1.0


async def test_debounced_enqueues_still_wake_after_the_last_commit(
    pg_engine: AsyncEngine, pg_url: str
) -> None:
    writer = PostgresJobStore(pg_engine, notify_debounce_s=0.5)  # wide enough to see each step
    user = (await AccountStore(pg_engine).create_user("d@example.com", "enterprise")).id
    new = NewJob(user, JobType.MARKDOWN, "# x", {}, 3)
    async with PostgresWakeup(listen_dsn(pg_url)) as wakeup:
        await asyncio.wait_for(wakeup.connected.wait(), 10)
        await wakeup.wait(0.05)  # drop the catch-up wake-up sent on connect
        await writer.enqueue(new)
        assert await wakeup.wait(0.4), "the first enqueue of a window notifies at once"
        for _ in range(10):
            await writer.enqueue(new)
        assert not await wakeup.wait(0.2), "enqueues inside the window are held back"
        assert await wakeup.wait(1.0), "one trailing NOTIFY follows the held-back enqueues"
        assert not await wakeup.wait(0.7), "and only one"
