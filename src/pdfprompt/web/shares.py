"""Sharing a document: the owner's page of links to its PDF (make one, see them, revoke
one), and the public page a link opens in a browser.

`/s/{token}` is the API's path for a shared PDF, and stays its: a program asking for it
(no `text/html` preferred in `Accept`) reaches the API's route and gets the PDF as before.
A browser (which prefers HTML) gets the public page instead: `for_browsers` matches only
such requests and `install_web` puts it before the API's routes. The page shows the PDF
from `/s/{token}/pdf`, inline, and offers it as a download; only those fetches count as
downloads (when they send the document), never the page itself."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Scope

from pdfprompt.accounts import Share, WebSession
from pdfprompt.actions import longest_share_s, send_shared, share_file, shared_file
from pdfprompt.api.schemas import ShareIn
from pdfprompt.domain import (
    FileInfo,
    GoneError,
    InvalidInputError,
    Job,
    NotFoundError,
    PdfPromptError,
)
from pdfprompt.web.fields import validated, whole_number
from pdfprompt.web.kit import (
    error_page,
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

router = pages()

DAY_S = 86400
EXPIRIES = (
    (3600, "1 hour"),
    (DAY_S, "1 day"),
    (7 * DAY_S, "7 days"),
    (30 * DAY_S, "30 days"),
    (90 * DAY_S, "90 days"),
    (365 * DAY_S, "1 year"),
)
DEFAULT_EXPIRY_S = 7 * DAY_S
MAX_ACCEPT_CHARS = 1024
MAX_ACCEPT_ENTRIES = 32
MESSAGES = {
    "expires_in_s": "Choose how long the link works.",
    "max_downloads": "Enter a whole number from 1 to 1000000, or leave it empty.",
}


def expiry_choices(longest_s: int) -> list[tuple[int, str]]:
    """The expiries offered on a plan whose links live at most `longest_s`: the usual ones
    within it, and that longest one too."""
    choices = [(s, label) for s, label in EXPIRIES if s <= longest_s]
    if longest_s not in {s for s, _ in choices}:
        days = longest_s // DAY_S
        label = f"{days} days" if days >= 1 else f"{longest_s // 60} minutes"
        choices.append((longest_s, f"{label} (the longest on your plan)"))
    return choices


def state_of(share: Share, now: datetime) -> str:
    if share.revoked_at is not None:
        return "Revoked"
    if share.expires_at <= now:
        return "Expired"
    if share.max_downloads is not None and share.downloads >= share.max_downloads:
        return "Used up"
    return "Active"


async def _document(request: Request, job_id: str) -> tuple[WebSession, Job]:
    """The signed-in person and their job (`NotFoundError` for anyone else's)."""
    session = await signed_in(request)
    return session, await svc_of(request).jobs.get(path_id(job_id, "document"), session.user_id)


def _nothing_to_share(request: Request, session: WebSession, job: Job) -> Response:
    text = (
        f"This document is {job.status.value} and has no PDF to share yet. Share it once it "
        "has finished."
    )
    return page(request, "message.html", 409, me=session, title="Nothing to share yet", text=text)


async def _share_page(
    request: Request,
    session: WebSession,
    job: Job,
    file: FileInfo,
    status: int = 200,
    *,
    made: Share | None = None,
    errors: dict[str, str] | None = None,
    chosen: int = DEFAULT_EXPIRY_S,
    limit: str = "",
) -> Response:
    svc = svc_of(request)
    plan = svc.accounts.plan_of(principal(session))
    links = await svc.shares.list(session.user_id, file.id)
    now = datetime.now(UTC)
    made_url = f"{request.base_url}s/{made.token}" if made is not None else ""
    return page(
        request,
        "share.html",
        status,
        me=session,
        job=job,
        file=file,
        made_url=made_url,
        links=[(link, state_of(link, now)) for link in links],
        choices=expiry_choices(longest_share_s(plan)),
        chosen=chosen,
        limit=limit,
        errors=errors or {},
    )


@router.get("/documents/{job_id}/share")
async def share_form(request: Request, job_id: str) -> Response:
    session, job = await _document(request, job_id)
    if job.file is None:
        return _nothing_to_share(request, session, job)
    return await _share_page(request, session, job, job.file)


@router.post("/documents/{job_id}/share")
async def make_link(request: Request, job_id: str) -> Response:
    form = await posted(request)
    session, job = await _document(request, job_id)
    file = job.file
    if file is None:
        return _nothing_to_share(request, session, job)
    errors: dict[str, str] = {}
    expires_in_s = whole_number(form, "expires_in_s", errors)
    max_downloads = whole_number(form, "max_downloads", errors)
    chosen, limit = expires_in_s or DEFAULT_EXPIRY_S, form.get("max_downloads", "")[:20]
    values: dict[str, Any] = {"max_downloads": max_downloads}
    if expires_in_s is not None:
        values["expires_in_s"] = expires_in_s
    checked = validated(ShareIn, values, errors, MESSAGES)
    if checked is None or errors:
        return await _share_page(
            request, session, job, file, 400, errors=errors, chosen=chosen, limit=limit
        )
    try:
        made = await share_file(
            svc_of(request),
            principal(session),
            file.id,
            expires_in_s=checked.expires_in_s,
            max_downloads=checked.max_downloads,
        )
    except InvalidInputError:
        errors = {"expires_in_s": "Choose one of the times offered: your plan allows no longer."}
        return await _share_page(
            request, session, job, file, 400, errors=errors, chosen=chosen, limit=limit
        )
    return await _share_page(request, session, job, file, made=made)


@router.post("/documents/{job_id}/share/{share_id}/revoke")
async def revoke_link(request: Request, job_id: str, share_id: str) -> Response:
    await posted(request)
    session = await signed_in(request)
    await svc_of(request).shares.revoke(session.user_id, path_id(share_id, "link"))
    return redirect(f"/documents/{job_id}/share")


# The public side: anybody with the link, no session.


def prefers_html(accept: str) -> bool:
    """Whether an `Accept` header asks for a page rather than the PDF: it names `text/html`
    with a weight above zero and at least that of the PDF (named, or by a wildcard). A
    browser's navigation does; `*/*`, `application/pdf` and no header do not."""
    html = pdf = 0.0
    for entry in accept[:MAX_ACCEPT_CHARS].split(",")[:MAX_ACCEPT_ENTRIES]:
        kind, *params = (part.strip() for part in entry.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = min(1.0, max(0.0, float(value.strip()[:6])))
                except ValueError:
                    weight = 0.0
        kind = kind.lower()
        if kind == "text/html":
            html = max(html, weight)
        elif kind in ("application/pdf", "application/*", "*/*"):
            pdf = max(pdf, weight)
    return html > 0 and html >= pdf


class _ForBrowsers(APIRoute):
    """A route that only a request preferring HTML matches: any other goes on to the routes
    after it."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE and not prefers_html(Headers(scope=scope).get("accept", "")):
            return Match.NONE, {}
        return match, child


for_browsers = APIRouter(include_in_schema=False, route_class=_ForBrowsers)


def _unusable(request: Request, exc: PdfPromptError) -> Response:
    """The page for a link that cannot be opened, said for whoever was sent it."""
    if isinstance(exc, GoneError):
        text = (
            "It has expired, was revoked or has been used up. Ask whoever sent it to you for a "
            "new one."
        )
        return message(request, 410, "This link no longer works", text)
    if isinstance(exc, NotFoundError):
        text = "There is no document at this address: check that the link is complete."
        return message(request, 404, "No such link", text)
    return error_page(request, exc)


@for_browsers.get("/s/{token}")
async def shared_page(request: Request, token: str) -> Response:
    """The public page of a link: the document's title, its PDF in a viewer and a download
    button; 404 for a link that never was, 410 for one expired, revoked or used up."""
    svc = svc_of(request)
    try:
        _, file_id = await shared_file(svc, request, token)
        title = await svc.shares.title(file_id)
    except PdfPromptError as exc:
        return _unusable(request, exc)
    return page(
        request,
        "shared.html",
        title=title or "A shared document",
        token=token,
        headers={"X-Robots-Tag": "noindex"},
    )


@router.get("/s/{token}/pdf")
async def shared_pdf(request: Request, token: str) -> Response:
    """The link's PDF for the page's viewer (inline) or, with `?download=1`, as a file;
    each counts as a download when it sends the document."""
    inline = request.query_params.get("download") is None
    try:
        response = await send_shared(svc_of(request), request, token, inline=inline)
    except PdfPromptError as exc:
        return _unusable(request, exc)
    response.headers["X-Robots-Tag"] = "noindex"
    return response
