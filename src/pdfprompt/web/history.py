"""The history: a person's documents newest first, each with its first page's thumbnail,
filtered by status and type, searched by title and prompt, a page at a time.

The filters are a plain GET form (no JavaScript): `status`, `type`, `q` (the search) and
`cursor` (the last id of the previous page; "Older" links carry it). Each is checked before
anything is asked of the store, and a wrong one is answered with the page and the error next
to its field (422). The search is matched literally (`%`, `_` and quotes are no wildcards).

A rendered document's thumbnail is drawn the first time it is asked for and stored for the
next time (actions/thumbnails.py); a file made before thumbnails were, a document without a
PDF yet, one whose first page cannot be drawn, or a thumbnail gone from storage with its PDF
shows a neutral placeholder."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from starlette.responses import Response

from pdfprompt.actions import thumbnail_png
from pdfprompt.domain import (
    ID_PATTERN,
    MAX_SEARCH_CHARS,
    JobStatus,
    JobType,
    NotFoundError,
    search_key,
)
from pdfprompt.queue import DocumentSummary
from pdfprompt.web import security
from pdfprompt.web.kit import page, pages, signed_in, svc_of

router = pages()

PAGE_SIZE = 24
_CURSOR = re.compile(ID_PATTERN)  # a cursor, and a document's id in a path
_PLACEHOLDER = (Path(__file__).parent / "static" / "thumbnail-placeholder.png").read_bytes()
STATUS_NAMES = {
    JobStatus.QUEUED: "Queued",
    JobStatus.RUNNING: "Running",
    JobStatus.SUCCEEDED: "Ready",
    JobStatus.FAILED: "Failed",
    JobStatus.CANCELED: "Canceled",
}
TYPE_NAMES = {
    JobType.PROMPT: "Prompt",
    JobType.MARKDOWN: "Markdown",
    JobType.HTML: "HTML",
    JobType.URL: "Web page",
    JobType.MERGE: "Merge",
    JobType.SPLIT: "Split",
    JobType.PDF: "PDF",
}
THUMBNAIL_CACHE = "private, max-age=86400"  # a job's file, once made, never changes


class _Filters:
    """The form's fields as given (shown back in the form) and as the store takes them."""

    def __init__(self, request: Request) -> None:
        params = request.query_params
        self.given = {k: params.get(k, "") for k in ("status", "type", "q", "cursor")}
        self.errors: dict[str, str] = {}
        self.status = self._choice("status", JobStatus, "a status from the list")
        self.type = self._choice("type", JobType, "a type from the list")
        q = self.given["q"]
        if len(q) > MAX_SEARCH_CHARS:
            self.errors["q"] = f"A search has at most {MAX_SEARCH_CHARS} characters."
            self.given["q"] = q[:MAX_SEARCH_CHARS]
        elif security.has_control(q):
            self.errors["q"] = "A search cannot hold control characters."
            self.given["q"] = ""
        self.text = search_key(self.given["q"]) or None
        cursor = self.given["cursor"]
        if cursor and not _CURSOR.match(cursor):
            self.errors["cursor"] = "This page's link is not one of ours: start from the newest."
        self.cursor = cursor or None

    def _choice(self, name: str, kind: type[JobStatus] | type[JobType], what: str) -> Any:
        value = self.given[name]
        if not value:
            return None
        try:
            return kind(value)
        except ValueError:
            self.errors[name] = f"Choose {what}."
            self.given[name] = ""
            return None

    def link(self, cursor: str | None) -> str:
        """This search's page after `cursor` (the first page for None)."""
        kept = {k: v for k, v in self.given.items() if v and k != "cursor"}
        if cursor:
            kept["cursor"] = cursor
        return "/documents" + ("?" + urlencode(kept) if kept else "")

    @property
    def narrowed(self) -> bool:
        return any(self.given[k] for k in ("status", "type", "q"))


def _line(item: DocumentSummary) -> dict[str, Any]:
    made = item.created_at
    return {
        "id": item.id,
        "title": item.title,
        "status": item.status.value,
        "status_name": STATUS_NAMES[item.status],
        "type_name": TYPE_NAMES[item.type],
        "iso": made.isoformat(),
        "when": made.strftime("%Y-%m-%d %H:%M UTC"),
        "pages": item.pages,
        "thumbnail": item.has_thumbnail,
    }


@router.get("/documents")
async def history(request: Request) -> Response:
    session = await signed_in(request)
    filters = _Filters(request)
    items: list[dict[str, Any]] = []
    older = None
    if not filters.errors:
        found = await svc_of(request).jobs.list_documents(
            session.user_id,
            status=filters.status,
            type=filters.type,
            text=filters.text,
            limit=PAGE_SIZE,
            cursor=filters.cursor,
        )
        items = [_line(i) for i in found.items]
        older = filters.link(found.next_cursor) if found.next_cursor else None
    return page(
        request,
        "history.html",
        422 if filters.errors else 200,
        me=session,
        items=items,
        given=filters.given,
        errors=filters.errors,
        narrowed=filters.narrowed,
        older=older,
        newest=filters.link(None) if filters.cursor else None,
        statuses=STATUS_NAMES,
        types=TYPE_NAMES,
        max_q=MAX_SEARCH_CHARS,
    )


@router.get("/documents/{job_id}/thumbnail")
async def thumbnail(request: Request, job_id: str) -> Response:
    """The document's first page as a PNG (its owner only: anyone else gets the 404 page);
    the placeholder when it has none."""
    session = await signed_in(request)
    svc = svc_of(request)
    if not _CURSOR.match(job_id):  # no id of ours: nothing to look up
        raise NotFoundError("no such document")
    job = await svc.jobs.get(job_id, session.user_id)
    file = job.file
    if file is not None and file.thumbnail_key:
        etag = f'"{file.id}-thumbnail"'
        headers = {
            "Cache-Control": THUMBNAIL_CACHE,
            "ETag": etag,
            "X-Content-Type-Options": "nosniff",
        }
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        png = await thumbnail_png(svc.storage, job)
        if png is not None:
            return Response(png, media_type="image/png", headers=headers)
    return Response(
        _PLACEHOLDER,
        media_type="image/png",
        headers={"Cache-Control": "private, no-cache", "X-Content-Type-Options": "nosniff"},
    )
