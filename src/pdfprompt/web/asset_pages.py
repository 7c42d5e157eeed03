"""The assets page: a person's images, fonts and data files (a thumbnail for each image,
its kind, size and the `asset:NAME` a document or template refers to it by), uploading one
(a multipart form: the file and an optional name) and deleting one. The rules are the
actions room's (`upload_asset`: the type read from the bytes, the plan's size and storage
limits); the page puts a refusal next to the file or the name. An image is sent back with
the headers of the API's content route (nosniff, a sandboxing policy), so an SVG never
runs."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.responses import Response

from pdfprompt.accounts import WebSession
from pdfprompt.actions import asset_limit, delete_asset, upload_asset
from pdfprompt.domain import (
    ConflictError,
    InvalidInputError,
    PayloadTooLargeError,
    StorageFullError,
    check_asset_name,
    name_from_filename,
)
from pdfprompt.web import security
from pdfprompt.web.fields import sentence
from pdfprompt.web.kit import (
    message,
    page,
    pages,
    path_id,
    posted,
    principal,
    redirect,
    signed_in,
    svc_of,
)
from pdfprompt.web.words import size_words

router = pages()

ASSETS_PAGE = 200
# Besides the file: boundaries, the parts' headers, the name and the CSRF token.
MULTIPART_OVERHEAD_BYTES = 16 * 1024
MAX_TEXT_PART_BYTES = 1024
CONTENT_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'",
    "Cache-Control": "private, no-cache",
}


async def _list_page(
    request: Request,
    session: WebSession,
    status: int = 200,
    *,
    errors: dict[str, str] | None = None,
    name: str = "",
) -> Response:
    svc = svc_of(request)
    found = await svc.assets.list_assets(session.user_id, limit=ASSETS_PAGE + 1, cursor=None)
    limit = asset_limit(svc, svc.accounts.plan_of(principal(session)))
    return page(
        request,
        "assets.html",
        status,
        me=session,
        assets=found[:ASSETS_PAGE],
        more=len(found) > ASSETS_PAGE,
        errors=errors or {},
        name=name,
        limit=limit,
        size_words=size_words,
    )


@router.get("/assets")
async def assets_page(request: Request) -> Response:
    return await _list_page(request, await signed_in(request))


async def _one_chunk(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


async def _read(request: Request, cap: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            raise PayloadTooLargeError(f"file: over the limit of {cap} bytes", field="file")
    return bytes(body)


@router.post("/assets")
async def upload(request: Request) -> Response:
    session = await signed_in(request)
    svc = svc_of(request)
    plan = svc.accounts.plan_of(principal(session))
    limit = asset_limit(svc, plan)
    errors: dict[str, str] = {}
    try:
        body = await _read(request, limit + MULTIPART_OVERHEAD_BYTES)
    except PayloadTooLargeError:
        # The token is in the part not read: nothing is kept, only the page answers.
        errors["file"] = f"This file is larger than your plan's {limit:,} bytes."
        return await _list_page(request, session, 413, errors=errors)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "multipart/form-data":
        return message(request, 400, "Not understood", "The upload must be sent as a form.")
    parser = MultiPartParser(
        request.headers,
        _one_chunk(body),
        max_files=1,
        max_fields=4,
        max_part_size=MAX_TEXT_PART_BYTES,
    )
    try:
        form = await parser.parse()
    except Exception:  # a malformed part the parser chokes on
        return message(request, 400, "Not understood", "The upload could not be read.")
    try:
        token = form.get("csrf")
        if not isinstance(token, str) or not security.csrf_ok(security.csrf_seed(request), token):
            text = "This form has expired or did not come from this site. Go back, reload and "
            return message(request, 403, "Form refused", text + "try again.")
        typed = form.get("name")
        name_given = typed.strip() if isinstance(typed, str) else ""
        upload_part = form.get("file")
        if not isinstance(upload_part, UploadFile) or not upload_part.filename:
            errors["file"] = "Choose a file to upload."
            return await _list_page(request, session, 400, errors=errors, name=name_given)
        try:
            name = (
                check_asset_name(name_given)
                if name_given
                else name_from_filename(upload_part.filename)
            )
        except InvalidInputError as exc:
            errors["name"] = sentence(exc.message)
            return await _list_page(request, session, 400, errors=errors, name=name_given)
        data = await upload_part.read()
    except MultiPartException:
        return message(request, 400, "Not understood", "The upload could not be read.")
    finally:
        await form.close()
    try:
        await upload_asset(svc, session.user_id, plan, name=name, data=data)
    except PayloadTooLargeError:
        errors["file"] = f"This file is larger than your plan's {limit:,} bytes."
        return await _list_page(request, session, 413, errors=errors, name=name_given)
    except (InvalidInputError, StorageFullError) as exc:
        errors["file"] = sentence(exc.message)
        return await _list_page(request, session, 400, errors=errors, name=name_given)
    except ConflictError as exc:
        errors["name"] = sentence(exc.message)
        return await _list_page(request, session, 409, errors=errors, name=name_given)
    return redirect("/assets")


@router.get("/assets/{asset_id}/content")
async def content(request: Request, asset_id: str) -> Response:
    """The asset's bytes for its thumbnail, with the API's content route's headers."""
    session = await signed_in(request)
    svc = svc_of(request)
    asset = await svc.assets.get(session.user_id, path_id(asset_id, "asset"))
    data = await svc.storage.read(asset.storage_key)
    return Response(
        data,
        media_type=asset.content_type,
        headers={
            **CONTENT_HEADERS,
            "Content-Disposition": f'inline; filename="{asset.name}"',
            "ETag": f'"{asset.sha256}"',
        },
    )


@router.post("/assets/{asset_id}/delete")
async def delete(request: Request, asset_id: str) -> Response:
    await posted(request)
    session = await signed_in(request)
    await delete_asset(svc_of(request), session.user_id, path_id(asset_id, "asset"))
    return redirect("/assets")
