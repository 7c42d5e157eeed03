"""Maintenance passes over jobs and stored files: retention by plan, pruning of ended jobs,
and the sweep of stored objects nothing points to. Each deletes in bounded batches, so no
transaction grows long; a failure is logged and the rest is left for the next pass. The
worker runs them in the background (`Worker(maintenance=...)` and its own retention pass)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime
from typing import Protocol

from pdfprompt.db import delete_in_batches, prune_older_than
from pdfprompt.queue.store import JobStore

log = logging.getLogger(__name__)

ORPHAN_GRACE_S = 3600.0  # far longer than an attempt takes from storing to finishing
ORPHAN_SWEEP_EVERY_S = 3600.0
SWEEP_BATCH = 500
# A template preview's job older than this was left behind by an API process that died
# while waiting for it (a preview waits at most actions.PREVIEW_TIMEOUT_S, 30 s).
PREVIEW_LEFT_BEHIND_S = 300.0
# An ended batch none of whose jobs is left goes this long after it was made (its
# `batch.completed` event, sent in the meantime, reads it).
EMPTY_BATCH_AFTER_S = 3600.0  # stored keys checked against the file rows per query

# Removes one stored object by key; logs (does not raise) when it cannot.
Discard = Callable[[str], Awaitable[None]]


class ObjectStore(Protocol):
    """What a sweep needs of a storage backend (`pdfprompt.storage.Storage` has it)."""

    def list_keys(self) -> AsyncIterator[tuple[str, float]]:
        """Every stored object as (key, Unix time it was last written)."""
        ...

    async def delete(self, key: str) -> None: ...


Sleep = Callable[[float], Awaitable[None]]


async def run_every(
    every_s: float, work: Callable[[], Awaitable[object]], *, sleep: Sleep = asyncio.sleep
) -> None:
    """Run `work` now and then every `every_s` seconds (waited with `sleep`), until
    cancelled; a failing run is logged and tried again next time."""
    while True:
        try:
            await work()
        except Exception:
            log.exception("maintenance run failed; trying again in %.0f s", every_s)
        await sleep(every_s)


async def delete_expired_files(
    store: JobStore,
    discard: Discard,
    retention_days: Mapping[str, int],
    now: datetime | None = None,
) -> int:
    """Files past their owner's plan's days (`retention_days`: plan -> days), in bounded
    batches: the rows go first (in their own short transaction), then the stored objects
    (`discard`); returns how many objects were removed."""
    removed = 0
    while True:
        try:
            # The database's clock, not this machine's (it may be off by any amount).
            at = now or await store.database_time()
            keys = await store.delete_expired_files(retention_days, now=at)
        except Exception as exc:
            log.warning("retention pass failed (%s); trying again later", exc)
            return removed
        for key in keys:
            await discard(key)
        removed += len(keys)
        if not keys:
            if removed:
                log.info("retention: removed %d stored files past their plan's days", removed)
            return removed


async def prune_jobs(store: JobStore, job_retention_s: float) -> int:
    """Delete ended jobs without a file past `job_retention_s` (0: kept), in batches."""
    return await prune_older_than(store.prune_jobs, job_retention_s, "ended jobs without a file")


async def delete_left_previews(
    store: JobStore, discard: Discard, older_than_s: float = PREVIEW_LEFT_BEHIND_S
) -> int:
    """Template previews' jobs (and their PDFs) made over `older_than_s` ago, whatever their
    status, in batches: the API that waits for a preview deletes it, unless it died first."""
    removed = 0

    async def batch() -> int:
        nonlocal removed
        n, keys = await store.delete_stale_previews(older_than_s)
        for key in keys:
            await discard(key)
        removed += n
        return n

    await delete_in_batches(batch, "template previews left behind")
    return removed


async def prune_batches(store: JobStore, older_than_s: float = EMPTY_BATCH_AFTER_S) -> int:
    """Ended batches with no job left (all pruned by retention or deleted), in batches."""
    return await prune_older_than(store.prune_batches, older_than_s, "batches with no job left")


async def retention_pass(
    store: JobStore, discard: Discard, retention_days: Mapping[str, int], job_retention_s: float
) -> None:
    """Previews left behind, expired files (their jobs stay, without a file), ended jobs
    without one, then batches with no job left."""
    await delete_left_previews(store, discard)
    await delete_expired_files(store, discard, retention_days)
    await prune_jobs(store, job_retention_s)
    await prune_batches(store)


async def sweep_orphans(
    store: JobStore,
    storage: ObjectStore,
    *,
    grace_s: float = ORPHAN_GRACE_S,
    now: float | None = None,
) -> int:
    """Remove stored objects that no file row points to and that were written more than
    `grace_s` ago: the PDF of an attempt that lost its job (a crash between storing and
    finishing, a lease taken over), temporary files of interrupted writes, objects left by a
    retention pass that stopped half-way. Returns how many were removed."""
    # The database's clock: a worker whose own clock runs ahead would otherwise take an
    # object stored a moment ago for one past its grace, and delete a job's PDF between its
    # upload and its commit.
    cutoff = ((await store.database_time()).timestamp() if now is None else now) - grace_s
    removed = 0
    batch: list[str] = []

    async def settle() -> None:
        nonlocal removed
        kept = await store.referenced_keys(batch)
        for key in batch:
            if key not in kept:
                await storage.delete(key)
                removed += 1
        batch.clear()

    async for key, written_at in storage.list_keys():
        if written_at <= cutoff:
            batch.append(key)
            if len(batch) >= SWEEP_BATCH:
                await settle()
    if batch:
        await settle()
    if removed:
        log.info("removed %d stored objects that no file points to", removed)
    return removed
