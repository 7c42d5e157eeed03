"""The batches pages: a person's batches, and one batch's page with its counts and progress
(pushed live by the page's script over Server-Sent Events; without it the page refreshes
itself), the ZIP of its PDFs and one merged PDF to download, and cancelling it. The rules
and the files are the actions room's (`batch_changes`, `batch_archive`, `merged_pdf`)
and the job store's, as for the API."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator

from fastapi import Request
from starlette.responses import Response, StreamingResponse

from pdfprompt.actions import batch_archive, batch_changes, merged_pdf
from pdfprompt.domain import BATCH_ID_PATTERN, Batch, NotFoundError
from pdfprompt.web import security
from pdfprompt.web.kit import page, pages, posted, redirect, signed_in, svc_of

router = pages()

BATCHES_PAGE = 50
EVENTS_QUIET_S = 5.0
_BATCH_ID = re.compile(BATCH_ID_PATTERN)
STATUS_WORDS = {
    "queued": "Waiting in the queue",
    "running": "Being made",
    "completed": "Complete",
    "canceled": "Cancelled",
}


def batch_id_of(value: str) -> str:
    """An id as a path gives it; the 404 page for anything no batch id looks like."""
    if not _BATCH_ID.match(value):
        raise NotFoundError("no such batch")
    return value


def progress(batch: Batch) -> dict[str, object]:
    """What the page shows of a batch, and its script is sent on each change."""
    done = batch.counts.final
    return {
        "status": batch.status.value,
        "words": STATUS_WORDS[batch.status.value],
        "total": batch.total,
        "done": done,
        "percent": round(100 * done / batch.total) if batch.total else 100,
        "counts": batch.counts.as_dict(),
        "final": batch.status.value in ("completed", "canceled"),
    }


@router.get("/batches")
async def batches_page(request: Request) -> Response:
    session = await signed_in(request)
    cursor = request.query_params.get("cursor") or None
    found = await svc_of(request).jobs.list_batches(
        session.user_id,
        limit=BATCHES_PAGE,
        cursor=cursor if cursor and _BATCH_ID.match(cursor) else None,
    )
    return page(
        request,
        "batches.html",
        me=session,
        batches=[(b, progress(b)) for b in found.items],
        next_cursor=found.next_cursor,
    )


@router.get("/batches/{batch_id}")
async def batch_page(request: Request, batch_id: str) -> Response:
    session = await signed_in(request)
    batch = await svc_of(request).jobs.get_batch(batch_id_of(batch_id), session.user_id)
    return page(request, "batch.html", me=session, batch=batch, p=progress(batch))


@router.get("/batches/{batch_id}/events")
async def batch_events(request: Request, batch_id: str) -> Response:
    """Server-Sent Events for the batch page: an `event: batch` (its progress as JSON) per
    change of its counts or status; ends once it is completed or cancelled."""
    session = await signed_in(request)
    svc = svc_of(request)
    await svc.jobs.get_batch(batch_id_of(batch_id), session.user_id)  # a 404 page first

    async def stream() -> AsyncIterator[str]:
        seq = 0
        with contextlib.suppress(NotFoundError):
            async for batch in batch_changes(
                svc, batch_id, session.user_id, keepalive_s=EVENTS_QUIET_S
            ):
                if batch is None:
                    yield ": keep-alive\n\n"
                    continue
                seq += 1
                yield f"id: {seq}\nevent: batch\ndata: {json.dumps(progress(batch))}\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={**security.HEADERS, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/batches/{batch_id}/cancel")
async def cancel(request: Request, batch_id: str) -> Response:
    await posted(request)
    session = await signed_in(request)
    await svc_of(request).jobs.cancel_batch(batch_id_of(batch_id), session.user_id)
    return redirect(f"/batches/{batch_id}")


_DOWNLOAD_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"}


@router.get("/batches/{batch_id}/archive")
async def archive(request: Request, batch_id: str) -> Response:
    """The ZIP of every PDF made so far, streamed as it is built (the API's archive)."""
    session = await signed_in(request)
    svc = svc_of(request)
    files = await svc.jobs.batch_files(batch_id_of(batch_id), session.user_id)
    return StreamingResponse(
        batch_archive(svc, files),
        media_type="application/zip",
        headers={
            **_DOWNLOAD_HEADERS,
            "Content-Disposition": f'attachment; filename="{batch_id}.zip"',
        },
    )


@router.get("/batches/{batch_id}/merged")
async def merged(request: Request, batch_id: str) -> Response:
    """One PDF of them all in row order (a 409 page before any PDF exists)."""
    session = await signed_in(request)
    svc = svc_of(request)
    files = await svc.jobs.batch_files(batch_id_of(batch_id), session.user_id)
    chunks, size = await merged_pdf(svc, batch_id, files)
    return StreamingResponse(
        chunks,
        media_type="application/pdf",
        headers={
            **_DOWNLOAD_HEADERS,
            "Content-Disposition": f'attachment; filename="{batch_id}.pdf"',
            "Content-Length": str(size),
        },
    )
