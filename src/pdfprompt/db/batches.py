"""Deleting many rows a bounded batch at a time, for the retention passes of every room."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def delete_in_batches(batch: Callable[[], Awaitable[int]], what: str) -> int:
    """Run `batch` (one bounded deletion; how many rows it removed) until it removes none,
    so no transaction grows long; a failure is logged and the rest left for the next pass.
    Returns how many were removed."""
    removed = 0
    while True:
        try:
            n = await batch()
        except Exception as exc:
            log.warning("deleting %s failed (%s); trying again later", what, exc)
            break
        removed += n
        if n == 0:
            break
    if removed:
        log.info("retention: deleted %d %s", removed, what)
    return removed


async def prune_older_than(
    prune: Callable[[float], Awaitable[int]], older_than_s: float, what: str
) -> int:
    """`prune(older_than_s)` (one bounded deletion of what ended that long ago) in batches
    until it removes none; nothing when `older_than_s` is 0 or less (kept for ever)."""
    if older_than_s <= 0:
        return 0
    return await delete_in_batches(lambda: prune(older_than_s), what)
