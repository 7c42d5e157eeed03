"""Sending a stored PDF over HTTP: length, filename, a strong ETag, single byte ranges,
or a presigned URL; and which answers count as a download of a shared link."""

from __future__ import annotations

import re
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from pdfprompt.domain import FileInfo, NotFoundError
from pdfprompt.storage import Storage

# A PDF shown in a page's viewer: framed by this site's pages only. Nothing more: Chromium
# shows a PDF through an `<embed>` in a page that takes the PDF's policy, so a `default-src`
# or `object-src` of 'none' would block its own viewer ("This content is blocked").
VIEWER_CSP = "frame-ancestors 'self'"


def _content_disposition(filename: str, kind: str = "attachment") -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


# ASCII digits only, and few enough to be a byte offset (`\d` also matches other scripts'
# digits, and `int()` of thousands of digits is refused): anything else is no range.
_RANGE = re.compile(r"^bytes=([0-9]{0,18})-([0-9]{0,18})$")


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (first, last) bytes of a single `Range: bytes=` request, clamped to the object;
    None for no or an ignorable (multi-part, malformed) range; raises for one that cannot be
    satisfied."""
    match = _RANGE.match((header or "").strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        n = int(last)
        if n == 0:
            raise _Unsatisfiable
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise _Unsatisfiable
    return start, end


class _Unsatisfiable(Exception):
    pass


async def pdf_response(
    storage: Storage,
    file: FileInfo,
    request: Request,
    *,
    presign_s: int = 0,
    inline: bool = False,
) -> Response:
    """Stream a stored PDF with its length, filename and a strong ETag; a single byte range
    (`Range: bytes=…`) answers 206 with that part. With `presign_s` and a store that has
    presigned URLs, answer 302 to one valid that long instead (the store serves the bytes).
    `inline`: shown in the browser (`Content-Disposition: inline`) and framed by pages of
    this site only (`VIEWER_CSP`), never presigned; else a download."""
    etag = f'"{file.id}"'
    disposition = _content_disposition(file.filename, "inline" if inline else "attachment")
    if inline:
        presign_s = 0
    if presign_s > 0:
        url = await storage.presigned_url(
            file.storage_key,
            expires_s=presign_s,
            filename=disposition,
            content_type=file.content_type,
        )
        if url is not None:
            return Response(status_code=302, headers={"Location": url, "Cache-Control": "no-store"})
    headers = {
        "ETag": etag,
        "Content-Disposition": disposition,
        "Cache-Control": "private, max-age=3600",
        "X-Content-Type-Options": "nosniff",
        "Accept-Ranges": "bytes",
    }
    if inline:
        headers["Content-Security-Policy"] = VIEWER_CSP
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    try:
        size = await storage.size(file.storage_key)
    except NotFoundError:  # its message names the storage key: nothing a client should see
        raise NotFoundError(f"file {file.id} is no longer stored") from None
    wanted = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range != etag:
        wanted = None  # the client holds another version: send it all
    try:
        part = _byte_range(wanted, size)
    except _Unsatisfiable:
        headers["Content-Range"] = f"bytes */{size}"
        return Response(status_code=416, headers=headers)
    if part is None:
        headers["Content-Length"] = str(size)
        return StreamingResponse(
            storage.stream(file.storage_key), media_type=file.content_type, headers=headers
        )
    start, end = part
    headers["Content-Length"] = str(end - start + 1)
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(
        storage.stream(file.storage_key, start, end),
        status_code=206,
        media_type=file.content_type,
        headers=headers,
    )


def sends_document(response: Response) -> bool:
    """Whether an answer carries the document: in full, or a part of more than one byte.
    Answers that send nothing of it (304, 416, errors) and one-byte probes are not counted
    as downloads."""
    if response.status_code == 200:
        return True
    length = response.headers.get("content-length", "0")
    return response.status_code == 206 and length.isdigit() and int(length) > 1
