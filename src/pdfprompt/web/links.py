"""One-time sign-in links and the password their person chooses.

`pdfprompt users create` (without `--password`) and `pdfprompt users link` print
`<public url>/signin/link/<token>`. Opening it shows a page with a button, and only the
button's POST (with its CSRF token) uses the link up: a mail scanner that fetches the link
does not burn it. The session it starts may choose a password once, within the hour,
without giving a current one; choosing it ends every other session of the person (the
link may have come because someone else knew the old password)."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import HTMLResponse, Response

from pdfprompt.domain import GoneError, NotFoundError
from pdfprompt.web.account_settings import new_password, start_afresh
from pdfprompt.web.kit import (
    address,
    enter,
    form_page,
    message,
    page,
    pages,
    posted,
    redirect,
    signed_in,
    svc_of,
)

router = pages()

CHOOSE_PATH = "/account/choose-password"


def _unusable(request: Request, exc: NotFoundError | GoneError) -> HTMLResponse:
    ask = "Ask the operator of this service for a new one."
    if isinstance(exc, GoneError):
        text = f"This sign-in link has been used, has expired or was replaced. {ask}"
        return message(request, 410, "This sign-in link no longer works", text)
    text = f"This sign-in link is not known: check that you have all of it. {ask}"
    return message(request, 404, "Unknown sign-in link", text)


@router.get("/signin/link/{token}")
async def link_page(request: Request, token: str) -> Response:
    try:
        email = await svc_of(request).sessions.find_link(token)
    except (NotFoundError, GoneError) as exc:
        return _unusable(request, exc)
    return form_page(request, "signin_link.html", email=email, token=token)


@router.post("/signin/link/{token}")
async def take_link(request: Request, token: str) -> Response:
    await posted(request)
    svc = svc_of(request)
    try:
        session_token, _ = await svc.sessions.take_link(
            token, request.headers.get("user-agent", ""), address(request)
        )
    except (NotFoundError, GoneError) as exc:
        return _unusable(request, exc)
    return await enter(request, session_token, CHOOSE_PATH)


@router.get(CHOOSE_PATH)
async def choose_form(request: Request) -> Response:
    session = await signed_in(request)
    if not await svc_of(request).sessions.may_choose_password(session.id):
        return redirect("/account")
    return page(request, "choose_password.html", me=session, errors={})


@router.post(CHOOSE_PATH)
async def choose(request: Request) -> Response:
    session = await signed_in(request)
    form = await posted(request)
    errors: dict[str, str] = {}
    password = new_password(form, errors)
    if errors:
        return page(request, "choose_password.html", 400, me=session, errors=errors)
    if not await svc_of(request).sessions.take_password_choice(session.id):
        text = (
            "The time to choose a password after signing in with a link has passed. Ask "
            "the operator of this service for a new link."
        )
        return message(request, 410, "Too late to choose a password here", text)
    return await start_afresh(request, session.user_id, password, "chosen")
