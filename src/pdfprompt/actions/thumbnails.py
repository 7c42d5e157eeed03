"""A document's first-page thumbnail, drawn the first time someone looks at it.

A rendered job records its thumbnail's key (`files.thumbnail_key`, beside the PDF's key:
`….png` for `….pdf`) but the worker draws nothing: most documents made through the API are
never shown in the history, and drawing every one cost the worker about 8 CPU-ms a job
(docs/render.md). The first request draws the first page from the stored PDF (PDFium, in a
thread), stores the PNG under that key and answers it; later requests, on any API node,
read the stored PNG. At most `THUMBNAIL_DRAWINGS` PDFs are read and drawn at once in a
process. Requests on one node that ask at the same time share one drawing; two
nodes that race both draw and write the same key (a write replaces the object whole), and
either copy is the same picture.

A PDF over `THUMBNAIL_MAX_PDF_BYTES`, or one PDFium cannot open (encrypted, broken), gets an
empty object under the key: the placeholder is shown, and the next request does not try
again. A drawing that takes longer than `THUMBNAIL_WAIT_S` answers the placeholder for now
and goes on to store its PNG for the next request. A PDF gone from storage (a retention
pass or a delete under way) leaves nothing behind. PDF jobs' thumbnails (merge, split, a
finished upload) are drawn by the worker's PDF process as before, since their pages are the
user's own: none is drawn here for them."""

from __future__ import annotations

import asyncio
import logging
import weakref

from pdfprompt.domain import PDF_JOBS, FileInfo, Job, NotFoundError, RenderError
from pdfprompt.pdf import first_page_png
from pdfprompt.storage import Storage

log = logging.getLogger(__name__)

THUMBNAIL_MAX_PDF_BYTES = 25 * 1024 * 1024  # larger PDFs are not opened on an API node
THUMBNAIL_WAIT_S = 5.0  # a request waits this long for a drawing, then shows the placeholder
NO_THUMBNAIL = b""  # stored when none can be drawn, so that no later request tries again
# PDFs read and drawn at once in a process: a history page of 24 documents never drawn asks
# for 24 at once, and each PDF is held in memory while its page is drawn.
THUMBNAIL_DRAWINGS = 2

# The drawings under way in this process, by thumbnail key: requests that race share one.
_drawing: dict[str, asyncio.Task[bytes]] = {}
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


async def thumbnail_png(storage: Storage, job: Job) -> bytes | None:
    """The PNG of the first page of `job`'s file, drawn and stored if this is the first time
    it is asked for; None when there is none to show (no file, a file made before thumbnails
    were, one that cannot be drawn, or a drawing still under way): show the placeholder."""
    file = job.file
    if file is None or not file.thumbnail_key:
        return None
    try:
        png = await storage.read(file.thumbnail_key)
    except NotFoundError:
        if job.type in PDF_JOBS:  # the worker's PDF process drew it; gone since
            return None
        png = await _drawn(storage, file.thumbnail_key, file)
    return png or None


async def _drawn(storage: Storage, key: str, file: FileInfo) -> bytes:
    task = _drawing.get(key)
    if task is None or task.get_loop() is not asyncio.get_running_loop():
        task = asyncio.ensure_future(_draw_and_store(storage, key, file))
        _drawing[key] = task
        task.add_done_callback(lambda done: _finished(key, done))
    try:
        return await asyncio.wait_for(asyncio.shield(task), THUMBNAIL_WAIT_S)
    except TimeoutError:
        return NO_THUMBNAIL


def _finished(key: str, task: asyncio.Task[bytes]) -> None:
    if _drawing.get(key) is task:
        del _drawing[key]
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning("thumbnail %s not made (%s: %s)", key, type(exc).__name__, exc)


async def _draw_and_store(storage: Storage, key: str, file: FileInfo) -> bytes:
    """The first page of the file's PDF as a PNG, stored under `key`; NO_THUMBNAIL (stored
    too) for a PDF too large to open here or one PDFium cannot draw, and NO_THUMBNAIL
    (stored not) for a PDF that is gone."""
    png = NO_THUMBNAIL
    if file.size_bytes <= THUMBNAIL_MAX_PDF_BYTES:
        slots = _slots.setdefault(asyncio.get_running_loop(), asyncio.Semaphore(THUMBNAIL_DRAWINGS))
        async with slots:
            try:
                pdf = await storage.read(file.storage_key)
            except NotFoundError:
                return NO_THUMBNAIL  # deleted meanwhile: nothing may be stored beside it
            try:
                png = await asyncio.to_thread(first_page_png, pdf)
            except RenderError as exc:
                log.info("file %s: no thumbnail (%s)", file.id, exc)
            del pdf
    try:
        await storage.put(key, png)
    except Exception as exc:  # answered all the same; the next request draws it again
        log.warning("thumbnail %s not stored (%s: %s)", key, type(exc).__name__, exc)
    return png
