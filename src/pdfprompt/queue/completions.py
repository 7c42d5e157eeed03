"""Group commit of finished jobs: the worker's outcomes recorded in batches.

Finished jobs are recorded together in one transaction, each still fenced on its own: a batch
is written when `COMPLETION_BATCH` are waiting or `COMPLETION_GATHER_S` after the first, and
only one batch is written at a time: what finishes meanwhile goes into the next one, so under
load a worker commits once per batch, not per job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from pdfprompt.queue.store import Finished

COMPLETION_GATHER_S = 0.002  # finished jobs wait this long to be recorded together
COMPLETION_BATCH = 64

# Records a batch (fenced job by job): each job's file id, or None where it was lost.
FinishBatch = Callable[[list[Finished]], Awaitable[dict[str, str | None]]]


class Completions:
    def __init__(self, write: FinishBatch, discard: Callable[[str], Awaitable[None]]) -> None:
        """`write` records a batch; `discard` removes the stored file of a job that was lost
        after its outcome was handed back (it is not raised)."""
        self._write = write
        self._discard = discard
        self._pending: list[tuple[Finished, asyncio.Future[str | None]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._writing: asyncio.Task[None] | None = None

    async def finish(self, done: Finished) -> str | None:
        """The job's file id once recorded, or None when the worker no longer owned it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str | None] = loop.create_future()
        self._pending.append((done, future))
        if len(self._pending) >= COMPLETION_BATCH:
            self._flush()
        elif self._timer is None and self._writing is None:
            self._timer = loop.call_later(COMPLETION_GATHER_S, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._writing is not None or not self._pending:
            return  # the batch being written flushes the rest when it is done
        batch, self._pending = self._pending[:COMPLETION_BATCH], self._pending[COMPLETION_BATCH:]
        self._writing = asyncio.get_running_loop().create_task(self._record(batch))
        self._writing.add_done_callback(self._written)

    def _written(self, _task: asyncio.Task[None]) -> None:
        self._writing = None
        self._flush()

    async def _record(self, batch: list[tuple[Finished, asyncio.Future[str | None]]]) -> None:
        try:
            outcome = await self._write([d for d, _ in batch])
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for done, future in batch:
            if not future.done():
                future.set_result(outcome[done.job_id])
            elif outcome[done.job_id] is None:  # its job was cancelled meanwhile
                for key in done.stored.discarded_keys():
                    await self._discard(key)
