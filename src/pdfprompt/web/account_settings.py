"""The account page and its settings: the plan and this month's PDFs, changing the password,
the browsers signed in and signing out of all of them, and deleting the account.

Changing the password ends every other session of the person ("someone else may know the
old one"): all of them are revoked and this browser gets a fresh one. Changing it and
deleting the account both ask for the current password, checked at most
`PASSWORD_CHECKS_PER_MINUTE` times a minute per person, so that a browser left signed in
is no way to guess it."""

from __future__ import annotations

import re

from fastapi import Request
from starlette.responses import HTMLResponse, Response

from pdfprompt.accounts import WebSession, check_password_rules
from pdfprompt.actions import delete_account
from pdfprompt.domain import InvalidInputError, RateLimitedError, UnauthorizedError
from pdfprompt.web.fields import sentence
from pdfprompt.web.kit import (
    message,
    page,
    pages,
    posted,
    redirect,
    sign_in,
    signed_in,
    signed_out,
    svc_of,
    throttled,
)

router = pages()

PASSWORD_CHECKS_PER_MINUTE = 10
NOT_YOUR_PASSWORD = "This is not your current password."
# What the account page says after a change (`?done=`), by its name.
DONE = {
    "password": "Your password is changed. Every other browser was signed out.",
    "chosen": "Your password is set. Sign in with it from now on.",
}

_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def device_of(user_agent: str) -> str:
    """A short name for the browser a user agent string describes ("Firefox on Linux")."""
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), "")
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), "")
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or system
    shown = re.sub(r"\s+", " ", user_agent).strip()[:60]
    return shown or "Unknown browser"


async def account_page(
    request: Request,
    session: WebSession,
    status: int = 200,
    *,
    errors: dict[str, str] | None = None,
    done: str = "",
) -> HTMLResponse:
    """The account page as `session`'s person sees it (with `errors` of a refused form)."""
    svc = svc_of(request)
    user = await svc.accounts.get_user(session.user_id)
    usage = await svc.accounts.user_usage(session.user_id)
    browsers = [
        {
            "device": device_of(s.user_agent),
            "address": s.address or "unknown",
            "last_seen": s.last_seen_at,
            "this": s.id == session.id,
        }
        for s in await svc.sessions.list_sessions(session.user_id)
    ]
    choose = not user.has_password and await svc.sessions.may_choose_password(session.id)
    return page(
        request,
        "account.html",
        status,
        me=session,
        usage=usage,
        has_password=user.has_password,
        may_choose=choose,
        browsers=browsers,
        errors=errors or {},
        done=DONE.get(done, ""),
    )


def new_password(form: dict[str, str], errors: dict[str, str]) -> str:
    """The password a form chooses (`password`, typed again in `confirm`), with an error
    next to `password` when the rules refuse it, else next to `confirm` when the two
    differ."""
    password = form.get("password", "")
    try:
        check_password_rules(password)
    except InvalidInputError as exc:
        errors["password"] = sentence(exc.message)
    else:
        if form.get("confirm", "") != password:
            errors["confirm"] = "The two passwords differ."
    return password


async def start_afresh(request: Request, user_id: str, password: str, done: str) -> Response:
    """Give the person `password` and end every session of theirs (someone else may know
    the old one, or had the link), this browser's too: it gets a new one and goes to the
    account page saying what was `done`."""
    svc = svc_of(request)
    await svc.accounts.set_password(user_id, password)
    await svc.sessions.revoke_all(user_id)
    return await sign_in(request, user_id, f"/account?done={done}")


async def password_checked(request: Request, session: WebSession, password: str) -> str | None:
    """None when `password` is the person's; else why not, as a field's error (throttled)."""
    svc = svc_of(request)
    await svc.rate_limiter.hit(f"web-password:{session.user_id}", PASSWORD_CHECKS_PER_MINUTE)
    try:
        await svc.accounts.check_password(session.email, password)
    except UnauthorizedError:
        return NOT_YOUR_PASSWORD
    return None


@router.post("/account/password")
async def change_password(request: Request) -> Response:
    session = await signed_in(request)
    form = await posted(request)
    current = form.get("current", "")
    errors: dict[str, str] = {}
    if not current:
        errors["current"] = "Enter your current password."
    new = new_password(form, errors)
    if errors:
        return await account_page(request, session, 400, errors=errors)
    try:
        wrong = await password_checked(request, session, current)
    except RateLimitedError as exc:
        return throttled(request, exc)
    if wrong:
        return await account_page(request, session, 401, errors={"current": wrong})
    return await start_afresh(request, session.user_id, new, "password")


@router.post("/account/signout-everywhere")
async def sign_out_everywhere(request: Request) -> Response:
    session = await signed_in(request)
    await posted(request)
    await svc_of(request).sessions.revoke_all(session.user_id)
    return signed_out(redirect("/signin"))


@router.get("/account/delete")
async def delete_form(request: Request) -> Response:
    session = await signed_in(request)
    return page(request, "account_delete.html", me=session, errors={})


@router.post("/account/delete")
async def delete(request: Request) -> Response:
    session = await signed_in(request)
    form = await posted(request)
    password = form.get("password", "")
    if not password:
        errors = {"password": "Enter your password to delete your account."}
        return page(request, "account_delete.html", 400, me=session, errors=errors)
    try:
        wrong = await password_checked(request, session, password)
    except RateLimitedError as exc:
        return throttled(request, exc)
    if wrong:
        errors = {"password": wrong}
        return page(request, "account_delete.html", 401, me=session, errors=errors)
    await delete_account(svc_of(request), session.user_id)
    text = "Your account and everything in it are deleted. Thank you for using pdfprompt."
    return signed_out(message(request, 200, "Account deleted", text))
