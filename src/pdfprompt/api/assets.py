"""Asset routes: upload an image, font or data file (multipart or a raw body), list, read, download,
delete. Uploading and deleting need the `jobs:write` scope, reading `jobs:read`."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from pdfprompt.actions import asset_limit, delete_asset, upload_asset
from pdfprompt.api.auth import JobReader, JobWriter, Svc
from pdfprompt.api.body import read_body
from pdfprompt.api.openapi import problems
from pdfprompt.domain import (
    ASSET_ID_PATTERN,
    ASSET_TYPES,
    Asset,
    InvalidInputError,
    check_asset_name,
    name_from_filename,
)
from pdfprompt.settings import Settings

router = APIRouter(prefix="/v1")

# What a multipart body may carry besides the file: the boundaries, the parts' headers and
# the `name` field.
MULTIPART_OVERHEAD_BYTES = 16 * 1024
MAX_NAME_FIELD_BYTES = 1024


def asset_body_limit(settings: Settings) -> int:
    """The largest body of any asset upload, whatever the plan (the request guard's share)."""
    return settings.max_asset_bytes + MULTIPART_OVERHEAD_BYTES


class AssetOut(BaseModel):
    id: str
    name: str
    content_type: str
    kind: str
    size_bytes: int
    sha256: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, asset: Asset) -> AssetOut:
        return cls(
            id=asset.id,
            name=asset.name,
            content_type=asset.content_type,
            kind=asset.kind,
            size_bytes=asset.size_bytes,
            sha256=asset.sha256,
            created_at=asset.created_at,
            updated_at=asset.updated_at,
        )


class AssetList(BaseModel):
    items: list[AssetOut]
    next_cursor: str | None


_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            "The file, as a `multipart/form-data` part `file` (with an optional `name` "
            "field; default: the part's file name), or as the whole body with `?name=`. The "
            "type is read from the bytes: PNG, JPEG, GIF, WebP, SVG (sanitised), TTF, OTF, "
            "WOFF, WOFF2, and data files to attach to PDFs (JSON, XML, CSV, plain text)."
        ),
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "name": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"},
                    },
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


# The asset's bytes, in the type read from them at upload.
_CONTENT: dict[str, Any] = {
    "description": "The asset's bytes",
    "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in ASSET_TYPES},
}


async def _one_chunk(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


async def _multipart(request: Request, body: bytes) -> tuple[bytes, str | None, str | None]:
    """The `file` part's bytes and file name, and the `name` field, of a multipart body
    already read within its limit."""
    parser = MultiPartParser(
        request.headers,
        _one_chunk(body),
        max_files=1,
        max_fields=4,
        max_part_size=MAX_NAME_FIELD_BYTES,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidInputError(
            f"body: not a multipart form ({exc.message})", field="body"
        ) from None
    except Exception as exc:  # a malformed header or boundary the parser chokes on
        raise InvalidInputError(f"body: not a multipart form ({exc})", field="body") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInputError("file: the form has no file part `file`", field="file")
        name = form.get("name")
        if name is not None and not isinstance(name, str):
            raise InvalidInputError("name: must be a text field", field="name")
        return await upload.read(), upload.filename, name
    finally:
        await form.close()


@router.post(
    "/assets",
    status_code=201,
    response_model=AssetOut,
    responses={
        200: {
            "model": AssetOut,
            "description": "The asset an earlier upload with the same Idempotency-Key made",
        },
        **problems(409, 413, 429),
    },
    openapi_extra=_UPLOAD_BODY,
)
async def create_asset(
    request: Request,
    caller: JobWriter,
    svc: Svc,
    name: Annotated[str | None, Query(max_length=200)] = None,
    replace: bool = False,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Response:
    """Upload an image, font or data file. A name the user already has is a `409 conflict`, unless
    `replace=true`, which puts the new bytes under the same id."""
    plan = svc.accounts.plan_of(caller)
    limit = asset_limit(svc, plan)
    body = await read_body(request, limit + MULTIPART_OVERHEAD_BYTES)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        data, filename, field = await _multipart(request, body)
        if field:
            name = check_asset_name(field)
        elif name is not None:
            name = check_asset_name(name)
        elif filename:
            name = name_from_filename(filename)
        else:
            raise InvalidInputError("name: give a `name` field or a file name", field="name")
    else:
        data = body
        if name is None:
            raise InvalidInputError("name: required with a raw body (`?name=`)", field="name")
        name = check_asset_name(name)
    asset, new = await upload_asset(
        svc,
        caller.user_id,
        plan,
        name=name,
        data=data,
        replace=replace,
        idempotency_key=idempotency_key,
    )
    answer = AssetOut.of(asset).model_dump(mode="json")
    if not new:
        return JSONResponse(answer, 200)
    return JSONResponse(answer, 201, headers={"Location": f"/v1/assets/{asset.id}"})


@router.get("/assets", response_model=AssetList)
async def list_assets(
    caller: JobReader,
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=ASSET_ID_PATTERN)] = None,
) -> AssetList:
    """The user's assets, newest first."""
    found = await svc.assets.list_assets(caller.user_id, limit=limit + 1, cursor=cursor)
    more = len(found) > limit
    items = found[:limit]
    return AssetList(
        items=[AssetOut.of(a) for a in items], next_cursor=items[-1].id if more else None
    )


@router.get("/assets/{asset_id}", response_model=AssetOut, responses=problems(404))
async def get_asset(asset_id: str, caller: JobReader, svc: Svc) -> AssetOut:
    return AssetOut.of(await svc.assets.get(caller.user_id, asset_id))


@router.get(
    "/assets/{asset_id}/content",
    response_class=Response,
    responses={200: _CONTENT, **problems(404)},
)
async def get_asset_content(asset_id: str, caller: JobReader, svc: Svc) -> Response:
    """The bytes, with their type, and headers that keep a browser from running anything
    in them (an SVG opened directly is sandboxed)."""
    asset = await svc.assets.get(caller.user_id, asset_id)
    data = await svc.storage.read(asset.storage_key)
    return Response(
        data,
        media_type=asset.content_type,
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'",
            "Content-Disposition": f'inline; filename="{asset.name}"',
            "Cache-Control": "private, no-cache",
            "ETag": f'"{asset.sha256}"',
        },
    )


@router.delete("/assets/{asset_id}", status_code=204, responses=problems(404))
async def remove_asset(asset_id: str, caller: JobWriter, svc: Svc) -> Response:
    """Delete the asset and its bytes. Documents that refer to it afterwards get a
    `resource_refused` warning."""
    await delete_asset(svc, caller.user_id, asset_id)
    return Response(status_code=204)
