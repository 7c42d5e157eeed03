"""Share links: create, list and revoke (owner, with an API key); download (anyone with
the link, no key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from pdfprompt.accounts import Share
from pdfprompt.actions import send_shared, share_file
from pdfprompt.api.auth import FileReader, Svc
from pdfprompt.api.body import json_body
from pdfprompt.api.jobs import PDF_ANSWERS
from pdfprompt.api.openapi import problems
from pdfprompt.api.schemas import ShareIn, ShareList, ShareOut

router = APIRouter()


def _out(share: Share, request: Request) -> ShareOut:
    url = f"{request.base_url}s/{share.token}" if share.token else None
    return ShareOut(
        id=share.id,
        url=url,
        expires_at=share.expires_at,
        max_downloads=share.max_downloads,
        downloads=share.downloads,
        revoked_at=share.revoked_at,
        created_at=share.created_at,
    )


@router.post("/v1/files/{file_id}/shares", status_code=201, response_model=ShareOut)
async def create_share(
    request: Request,
    file_id: str,
    caller: FileReader,
    body: Annotated[ShareIn, json_body(ShareIn)],
    svc: Svc,
) -> ShareOut:
    """A public link to the file; its URL is in this answer only. The link cannot outlive
    what the plan keeps files for."""
    share = await share_file(
        svc,
        caller,
        file_id,
        expires_in_s=body.expires_in_s,
        max_downloads=body.max_downloads,
    )
    return _out(share, request)


@router.get("/v1/files/{file_id}/shares", response_model=ShareList)
async def list_shares(request: Request, file_id: str, caller: FileReader, svc: Svc) -> ShareList:
    found = await svc.shares.list(caller.user_id, file_id)
    return ShareList(items=[_out(s, request) for s in found])


@router.delete("/v1/shares/{share_id}", status_code=204)
async def revoke_share(share_id: str, caller: FileReader, svc: Svc) -> Response:
    await svc.shares.revoke(caller.user_id, share_id)
    return Response(status_code=204)


@router.get(
    "/s/{token}",
    response_class=StreamingResponse,
    responses={**PDF_ANSWERS, **problems(410, 429)},
)
async def download_shared(request: Request, token: str, svc: Svc) -> Response:
    """The shared PDF, no API key: 404 for a link that never was, 410 for one that expired,
    was revoked or is used up. Each answer that sends the document counts as one download,
    by one conditional update, so concurrent downloads never pass the limit."""
    return await send_shared(svc, request, token)
