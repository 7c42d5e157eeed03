"""Share links: how long one may live on the caller's plan, and sending the PDF behind one
to anybody who has it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from pdfprompt.accounts import Principal, Share
from pdfprompt.actions.delivery import pdf_response, sends_document
from pdfprompt.domain import FileInfo, GoneError, InvalidInputError, NotFoundError, Plan
from pdfprompt.wiring import Services

MAX_SHARE_EXPIRY_S = 365 * 86400
MAX_TOKEN_CHARS = 64


def longest_share_s(plan: Plan) -> int:
    """The longest a link may live: never past what the plan keeps files for."""
    if plan.retention_days is None:
        return MAX_SHARE_EXPIRY_S
    return min(MAX_SHARE_EXPIRY_S, plan.retention_days * 86400)


async def share_file(
    svc: Services,
    caller: Principal,
    file_id: str,
    *,
    expires_in_s: int,
    max_downloads: int | None,
) -> Share:
    """A public link to the caller's file (`NotFoundError` for another's); its token is in
    the answer only."""
    plan = svc.accounts.plan_of(caller)
    longest = longest_share_s(plan)
    if expires_in_s > longest:
        raise InvalidInputError(
            f"expires_in_s: at most {longest} on plan {plan.name}", field="expires_in_s"
        )
    return await svc.shares.create(
        caller.user_id, file_id, expires_in_s=expires_in_s, max_downloads=max_downloads
    )


async def shared_file(svc: Services, request: Request, token: str) -> tuple[str, str]:
    """The (owner's user id, file id) of a link that can still be downloaded, counting the
    request against the per-address limit on shared links and without counting a download:
    `RateLimitedError` over the limit, `NotFoundError` for a link that never was,
    `GoneError` for one that expired, was revoked or is used up."""
    limit = svc.settings.share_rate_limit_per_minute
    if limit and request.client is not None:
        who = "this server, for shared links from one address,"
        await svc.rate_limiter.hit(f"share-ip:{request.client.host}", limit, who)
    if len(token) > MAX_TOKEN_CHARS:
        raise NotFoundError("no such link")
    return await svc.shares.find(token)


async def send_shared(
    svc: Services, request: Request, token: str, *, inline: bool = False
) -> Response:
    """The shared PDF, to anybody with the link (errors as `shared_file`). Each answer that
    sends the document counts as one download, by one conditional update, so concurrent
    downloads never pass the limit. `inline`: for a viewer on a page, not a download."""
    user_id, file_id = await shared_file(svc, request, token)
    file: FileInfo
    try:
        file = await svc.jobs.get_file(file_id, user_id)
        response = await pdf_response(svc.storage, file, request, inline=inline)
    except NotFoundError:
        # Nothing internal (the storage key names the owner) in an anonymous answer.
        raise GoneError("the shared file is no longer available") from None
    if sends_document(response):
        await svc.shares.take_download(token)  # GoneError when another took the last one
    response.headers["Cache-Control"] = "no-store"
    return response
