"""Wake-ups: tell idle workers that work arrived, without waiting for their poll.

SQLite (API and worker in one process): an in-process event. PostgreSQL: the
enqueue transaction NOTIFYs and each worker LISTENs on a dedicated connection
that reconnects after a database restart. The poll (`PDFPROMPT_POLL_MS`) stays
as the fallback for anything missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

from pdfprompt.db import is_sqlite_url, listen_dsn
from pdfprompt.queue.events import JobEvents
from pdfprompt.queue.store import EVENTS_CHANNEL, JOBS_CHANNEL

log = logging.getLogger(__name__)


def _setter(event: asyncio.Event) -> Callable[[object], None]:
    return lambda _conn: event.set()


def _payload_to(handle: Callable[[str], None]) -> Callable[..., None]:
    def listener(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
        handle(payload)

    return listener


class Wakeup:
    """An edge-triggered signal that a worker waits on with a timeout."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    async def wait(self, timeout_s: float) -> bool:
        """True when woken, False when the timeout passed first."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout_s)
        except TimeoutError:
            return False
        finally:
            self._event.clear()
        return True

    async def __aenter__(self) -> Wakeup:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class PostgresWakeup(Wakeup):
    """LISTENs for enqueue NOTIFYs; reconnects with backoff when the connection drops."""

    def __init__(
        self,
        dsn: str,
        *,
        events: JobEvents | None = None,
        reconnect_s: float = 1.0,
        channels: dict[str, Callable[[str], None]] | None = None,
    ) -> None:
        """`channels`: more channels to LISTEN on, each with what to do with a payload; it
        gets `*` after every (re)connection, when notifications may have been missed."""
        super().__init__()
        self._dsn = dsn
        self._events = events
        self._channels = dict(channels or {})
        self._reconnect_s = reconnect_s
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def __aenter__(self) -> PostgresWakeup:
        self._task = asyncio.create_task(self._listen(), name="pdfprompt-listen")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _on_notify(self, *args: Any) -> None:
        self.notify()

    def _on_job_event(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if self._events is not None:
            self._events.publish(payload.split(","))

    async def _listen(self) -> None:
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._dsn)
                lost = asyncio.Event()
                conn.add_termination_listener(_setter(lost))
                await conn.add_listener(JOBS_CHANNEL, self._on_notify)
                if self._events is not None:
                    await conn.add_listener(EVENTS_CHANNEL, self._on_job_event)
                for channel, handle in self._channels.items():
                    await conn.add_listener(channel, _payload_to(handle))
                    handle("*")
                self.connected.set()
                self.notify()  # catch up on anything sent while we were away
                await lost.wait()
                self.connected.clear()
                log.warning("LISTEN connection lost; reconnecting")
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("LISTEN connection failed (%s); retrying", type(exc).__name__)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close()
            await asyncio.sleep(self._reconnect_s)


def wakeup_for(
    database_url: str,
    events: JobEvents | None = None,
    channels: dict[str, Callable[[str], None]] | None = None,
) -> Wakeup:
    """The wake-ups the database offers: an in-process event on SQLite; on PostgreSQL, LISTEN
    for new jobs, job changes (to `events`) and the other `channels` named (their payload to
    the handler given)."""
    if is_sqlite_url(database_url):
        return Wakeup()
    return PostgresWakeup(listen_dsn(database_url), events=events, channels=channels or {})
