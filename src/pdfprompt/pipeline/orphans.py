"""Stored objects no file points to, swept."""

from __future__ import annotations

import logging
import time

from pdfprompt.queue import JobStore
from pdfprompt.storage import Storage

log = logging.getLogger(__name__)

ORPHAN_GRACE_S = 3600.0  # far longer than an attempt takes from storing to finishing
ORPHAN_SWEEP_EVERY_S = 3600.0


async def sweep_orphans(
    store: JobStore, storage: Storage, *, grace_s: float = ORPHAN_GRACE_S, now: float | None = None
) -> int:
    """Remove stored objects that no file row points to and that were written more than
    `grace_s` ago: the PDF of an attempt that lost its job (a crash between storing and
    finishing, a lease taken over), temporary files of interrupted writes, objects left by a
    retention pass that stopped half-way. Returns how many were removed."""
    cutoff = (time.time() if now is None else now) - grace_s
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
            if len(batch) >= 500:
                await settle()
    if batch:
        await settle()
    if removed:
        log.info("removed %d stored objects that no file points to", removed)
    return removed
