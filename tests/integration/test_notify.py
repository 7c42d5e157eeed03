"""PostgreSQL LISTEN/NOTIFY: wake-ups and job changes reach other processes' listeners."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
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
from pdfprompt.queue.store import JOBS_CHANNEL
from pdfprompt.settings import Settings
from tests.support.waiting import ManualClock, until


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
        job = await writer.enqueue(NewJob(user, JobType.MARKDOWN, "# x", {}, 3))
        # No poll runs here: only the NOTIFY can wake it.
        assert await wakeup.wait(5), "enqueue NOTIFY not received"
        with heard.subscribe(job.id) as changed:
            await writer.claim_jobs("w", 1, lease_s=30)
            await asyncio.wait_for(changed.wait(), 5)


class _Notifications:
    """What arrives on a channel, read up to a marker this sends on it: PostgreSQL delivers
    notifications in the order their transactions committed, so once the marker is in,
    every notification committed before it is too, and nothing needs waiting for."""

    def __init__(self, listener: asyncpg.Connection, sender: asyncpg.Connection) -> None:
        self.listener, self.sender = listener, sender
        self.payloads: list[str] = []
        self.markers = 0

    async def up_to_marker(self) -> list[str]:
        """The payloads since the last look."""
        self.markers += 1
        marker = f"marker {self.markers}"
        await self.sender.execute("SELECT pg_notify($1, $2)", JOBS_CHANNEL, marker)
        await until(lambda: marker in self.payloads, 10, "the marker NOTIFY arrived")
        end = self.payloads.index(marker)
        seen, self.payloads = self.payloads[:end], self.payloads[end + 1 :]
        return seen


@contextlib.asynccontextmanager
async def _notifications(pg_url: str) -> AsyncIterator[_Notifications]:
    listener = await asyncpg.connect(listen_dsn(pg_url))
    sender = await asyncpg.connect(listen_dsn(pg_url))
    try:
        heard = _Notifications(listener, sender)
        await listener.add_listener(
            JOBS_CHANNEL, lambda _conn, _pid, _channel, payload: heard.payloads.append(payload)
        )
        yield heard
    finally:
        await listener.close()
        await sender.close()


async def test_debounced_enqueues_still_wake_after_the_last_commit(
    pg_engine: AsyncEngine, pg_url: str
) -> None:
    """After a NOTIFY, enqueues within the debounce window send none of their own; one
    trailing NOTIFY follows them when the window ends, and only one. The window is timed by
    a clock moved by hand."""
    clock = ManualClock(start_s=1000.0)
    writer = PostgresJobStore(pg_engine, notify_debounce_s=0.5, clock=clock, sleep=clock.sleep)
    user = (await AccountStore(pg_engine).create_user("d@example.com", "enterprise")).id
    new = NewJob(user, JobType.MARKDOWN, "# x", {}, 3)
    async with _notifications(pg_url) as heard:
        await writer.enqueue(new)
        assert await heard.up_to_marker() == [""], "the first enqueue of a window notifies"
        clock.advance(0.04)
        await writer.enqueue(new)  # held back: a trailing NOTIFY waits for the window's end
        await until(lambda: clock.sleeping == 1, 5, "the trailing NOTIFY waiting")
        for _ in range(9):  # at 1000.08, 1000.12, ... 1000.40
            clock.advance(0.04)
            await writer.enqueue(new)
        assert await heard.up_to_marker() == [], "enqueues inside the window are held back"
        assert clock.sleeping == 1  # still the one trailing NOTIFY
        clock.advance(0.1)  # 1000.50: not yet 0.5 s after the first enqueue held back
        assert clock.sleeping == 1
        clock.advance(0.05)  # 1000.55: past it
        assert clock.sleeping == 0
        await finish_trailing_notifies()
        assert await heard.up_to_marker() == [""], "one trailing NOTIFY for the held-back ones"
        clock.advance(0.5)  # a new window
        await writer.enqueue(new)
        assert await heard.up_to_marker() == [""], "the next window's first enqueue notifies"
        assert clock.sleeping == 0
