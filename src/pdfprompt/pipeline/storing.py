"""Storing a job's PDF, and showing the `storing` stage only when it takes long enough to be
seen. Its first page's thumbnail is not drawn here: its key is recorded with the file and the
PNG drawn when the history first asks for it (actions/thumbnails.py)."""

from __future__ import annotations

import asyncio

from pdfprompt.domain import JobStage
from pdfprompt.queue import JobContext
from pdfprompt.storage import Storage

STORING_SHOWN_AFTER_S = 0.25


async def store_reporting(ctx: JobContext, storage: Storage, key: str, data: bytes) -> None:
    """Store `data` under `key`. The `storing` stage is written only when storing takes
    longer than `STORING_SHOWN_AFTER_S` (a slow object store); a local write is done before
    a client could poll."""
    storing = asyncio.ensure_future(storage.put(key, data))
    try:
        done, _ = await asyncio.wait({storing}, timeout=STORING_SHOWN_AFTER_S)
        if not done:
            await ctx.report(JobStage.STORING, 0.9)
        await storing
    except BaseException:
        storing.cancel()
        raise
