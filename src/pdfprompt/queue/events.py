"""Job change notifications for streams (SSE) in this process.

The store publishes after each change it commits; on PostgreSQL it also
NOTIFYs, and the listener of every other process publishes what it hears, so
an API node learns of a change made by a worker elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator


class JobEvents:
    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = {}

    def publish(self, job_ids: Iterable[str]) -> None:
        for job_id in job_ids:
            for event in self._waiters.get(job_id, ()):
                event.set()

    @contextlib.contextmanager
    def subscribe(self, job_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever the job changes; clear it after each wake-up."""
        event = asyncio.Event()
        self._waiters.setdefault(job_id, set()).add(event)
        try:
            yield event
        finally:
            waiters = self._waiters.get(job_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[job_id]

    @property
    def subscribers(self) -> int:
        return sum(len(w) for w in self._waiters.values())
