"""Storing a job's PDF, and showing the `storing` stage only when it takes long enough to be
seen; and its first page's thumbnail beside it, drawn while the PDF is being stored."""

from __future__ import annotations

import asyncio
import logging

from pdfprompt.domain import JobStage
from pdfprompt.pdf import first_page_png
from pdfprompt.queue import JobContext
from pdfprompt.storage import Storage

log = logging.getLogger(__name__)

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


async def store_with_thumbnail(
    ctx: JobContext, storage: Storage, key: str, thumbnail_key: str, data: bytes
) -> str | None:
    """Store the PDF `data` under `key` (`store_reporting`) and its first page as a PNG
    under `thumbnail_key`, drawn in a thread meanwhile (PDFium, pdf/thumbnail.py) and stored
    as soon as it is drawn, beside the PDF rather than after it (each write waits for the
    disk). Returns `thumbnail_key`, or None when no thumbnail could be made or stored: the
    document is whole without one (its history shows a placeholder), so that is logged, not
    raised. An error storing the PDF is raised."""
    thumbnail = asyncio.ensure_future(_store_thumbnail(ctx, storage, thumbnail_key, data))
    try:
        await store_reporting(ctx, storage, key, data)
    except BaseException:
        thumbnail.cancel()
        raise
    return await thumbnail


async def _store_thumbnail(
    ctx: JobContext, storage: Storage, thumbnail_key: str, data: bytes
) -> str | None:
    try:
        await storage.put(thumbnail_key, await asyncio.to_thread(first_page_png, data))
    except Exception as exc:
        log.warning("job %s: no thumbnail (%s: %s)", ctx.job.id, type(exc).__name__, exc)
        return None
    return thumbnail_key
