"""When each API key was last used, recorded in the background: a request neither waits for
nor queues behind the write, and a key in steady use is written at most once per
`LAST_USED_RESOLUTION_S` per process."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.db import api_keys, db_now, now_plus, write_transaction

LAST_USED_RESOLUTION_S = 60.0
log = logging.getLogger(__name__)


class LastUsedRecorder:
    """Records the use of keys on `engine`; `aclose` waits for the writes under way."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._touched: dict[str, float] = {}  # key id -> when this process last recorded use
        self._touching: set[asyncio.Task[None]] = set()

    def touch_soon(self, key_id: str, now: float) -> None:
        """Record the key's use (at monotonic `now`) unless this process did so lately."""
        if now - self._touched.get(key_id, -LAST_USED_RESOLUTION_S) < LAST_USED_RESOLUTION_S:
            return
        self._touched[key_id] = now
        task = asyncio.get_running_loop().create_task(self._touch(key_id))
        self._touching.add(task)
        task.add_done_callback(self._touching.discard)

    async def aclose(self) -> None:
        """Wait for recordings of key use still being written."""
        if self._touching:
            await asyncio.wait(list(self._touching), timeout=5)

    async def _touch(self, key_id: str) -> None:
        try:
            await self._record_use(key_id)
        except Exception as exc:  # a missed last-used time must never fail a request
            log.warning("could not record the use of key %s: %s", key_id, exc)
            self._touched.pop(key_id, None)

    async def _record_use(self, key_id: str) -> None:
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                update(api_keys)
                .where(
                    api_keys.c.id == key_id,
                    or_(
                        api_keys.c.last_used_at.is_(None),
                        api_keys.c.last_used_at < now_plus(-LAST_USED_RESOLUTION_S),
                    ),
                )
                .values(last_used_at=db_now())
            )
