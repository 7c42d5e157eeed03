"""What every page is made with: the templates, the signed-in person, the posted form
with its CSRF check, redirects, and errors shown as pages.

A page route is declared on a `pages()` router: a `PdfPromptError` it raises (another
person's document: `NotFoundError`; a used-up plan: `QuotaExceededError`…) becomes a page
with the status and the words the API would answer with. `signed_in(request)` is the
person or, raised, a redirect to the sign-in page; `posted(request)` is the form or, raised,
the page refusing it."""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.responses import HTMLResponse, RedirectResponse, Response

from pdfprompt.accounts import (
    MAX_EMAIL_CHARS,
    MAX_PASSWORD_CHARS,
    MIN_PASSWORD_CHARS,
    Principal,
    WebSession,
)
from pdfprompt.actions import TITLES, status_of
from pdfprompt.domain import (
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    PdfPromptError,
    RateLimitedError,
)
from pdfprompt.web import security
from pdfprompt.wiring import Services

WEB_SCOPES = ("jobs:write", "jobs:read", "files:read", "account")
MAX_ID_CHARS = 64

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def svc_of(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def address(request: Request) -> str:
    return request.client.host if request.client else ""


def page(
    request: Request,
    template: str,
    status: int = 200,
    *,
    seed: str | None = None,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """The template rendered with the security headers; `seed`: a new pre-sign-in CSRF
    cookie to set (its token is the one in the page)."""
    svc = svc_of(request)
    known = seed or security.csrf_seed(request)
    token = security.csrf_token(known) if known else ""
    html = _env.get_template(template).render(
        csrf=token,
        min_password=MIN_PASSWORD_CHARS,
        max_password=MAX_PASSWORD_CHARS,
        max_email=MAX_EMAIL_CHARS,
        **context,
    )
    response = HTMLResponse(
        html, status_code=status, headers={**security.HEADERS, **(headers or {})}
    )
    if seed:
        security.set_cookie(response, request, svc.settings, security.CSRF_COOKIE, seed)
    return response


def form_page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page with a form: a browser without any cookie yet gets its pre-sign-in one."""
    seed = None if security.csrf_seed(request) else security.new_seed()
    context.setdefault("errors", {})
    context.setdefault("email", "")
    return page(request, template, status, seed=seed, **context)


def message(
    request: Request,
    status: int,
    title: str,
    text: str,
    headers: dict[str, str] | None = None,
    *,
    me: WebSession | None = None,
) -> HTMLResponse:
    """A page of a few words; `me`: the person signed in, who keeps the nav."""
    return page(request, "message.html", status, headers=headers, title=title, text=text, me=me)


def redirect(to: str) -> RedirectResponse:
    return RedirectResponse(to, status_code=303, headers=security.HEADERS)


async def session_of(request: Request) -> WebSession | None:
    token = request.cookies.get(security.SESSION_COOKIE, "")
    return await svc_of(request).sessions.resolve(token) if token else None


class FormRefused(Exception):
    """Raised by `posted` for a form no page may take; its page is the answer."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def posted(request: Request, max_bytes: int = security.MAX_FORM_BYTES) -> dict[str, str]:
    """The form; else, raised as `FormRefused`, the page refusing it: a wrong or missing
    CSRF token (403), a body that is no form or larger than `max_bytes` (400, 413)."""
    try:
        form = await security.read_form(request, max_bytes)
    except PayloadTooLargeError as exc:
        raise FormRefused(message(request, 413, "Too large", str(exc))) from None
    except InvalidInputError as exc:
        raise FormRefused(message(request, 400, "Not understood", str(exc))) from None
    if not security.csrf_ok(security.csrf_seed(request), form.get("csrf", "")):
        text = (
            "This form has expired or did not come from this site. Go back, reload and try again."
        )
        raise FormRefused(message(request, 403, "Form refused", text))
    return form


def path_id(value: str, what: str) -> str:
    """An id as a path gives it; `NotFoundError` (the 404 page) for one longer than any id
    is, before anything is looked up."""
    if len(value) > MAX_ID_CHARS:
        raise NotFoundError(f"no such {what}")
    return value


def throttled(request: Request, exc: RateLimitedError) -> HTMLResponse:
    wait = max(1, math.ceil(exc.retry_after_s))
    text = f"Too many attempts. Wait {wait} seconds, then try again."
    return message(request, 429, "Too many attempts", text, {"Retry-After": str(wait)})


def local_path(then: str) -> str:
    """Where to go after signing in: a path of this site, else the home page (never
    another site: `//host` and `/\\host` are other sites to a browser)."""
    if not then.startswith("/") or then.startswith(("//", "/\\")) or len(then) > 2000:
        return "/"
    return then


async def sign_in(request: Request, user_id: str, then: str = "/") -> Response:
    """Start a session for the user on this browser and go to `then`."""
    token, _ = await svc_of(request).sessions.create(
        user_id, request.headers.get("user-agent", ""), address(request)
    )
    return await enter(request, token, then)


async def enter(request: Request, token: str, then: str = "/") -> Response:
    """Give this browser the session of `token` (ending the one it had) and go to `then`."""
    svc = svc_of(request)
    old = request.cookies.get(security.SESSION_COOKIE)
    if old:
        await svc.sessions.revoke(old)
    response = redirect(local_path(then))
    security.set_cookie(response, request, svc.settings, security.SESSION_COOKIE, token)
    response.delete_cookie(security.CSRF_COOKIE, path="/")
    return response


def signed_out(response: Response) -> Response:
    """`response`, telling the browser to forget its session cookie."""
    response.delete_cookie(security.SESSION_COOKIE, path="/")
    return response


class SignInFirst(Exception):
    """Raised by `signed_in` for a browser with no live session."""

    def __init__(self, then: str) -> None:
        super().__init__(then)
        self.then = then


async def signed_in(request: Request) -> WebSession:
    """The person signed in on this browser; `SignInFirst` (a redirect to the sign-in page,
    coming back here after) when nobody is. A form the person sends counts against their
    plan's requests per minute, the one limit their API keys share (`RateLimitedError`, a
    429 page, past it); reading pages does not."""
    session = await session_of(request)
    if session is None:
        raise SignInFirst(request.url.path)
    if request.method == "POST":
        svc = svc_of(request)
        limit = svc.accounts.plan_of(principal(session)).rate_limit_per_minute
        await svc.rate_limiter.hit(f"user:{session.user_id}", limit)
    return session


def principal(session: WebSession) -> Principal:
    """The signed-in person as the API's caller: every scope a person holds, no key."""
    return Principal(user_id=session.user_id, key_id="", plan=session.plan, scopes=WEB_SCOPES)


def error_page(request: Request, exc: PdfPromptError, me: WebSession | None = None) -> HTMLResponse:
    """The page for an error a route raised: the API's status and words, as a page."""
    status = status_of(exc)
    title = TITLES.get(exc.code, "Something went wrong")
    if status == 404:
        text = "There is nothing here, or it is not yours to see."
    elif status >= 500:
        text = "Something went wrong on our side. Try again in a moment."
    else:
        text = exc.message[:1].upper() + exc.message[1:]
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    return message(request, status, title, text, headers, me=me)


async def signed_in_or_none(request: Request) -> WebSession | None:
    """Who is signed in, for an error page's nav; nobody when that cannot be told (the
    error may be the database's)."""
    try:
        return await session_of(request)
    except PdfPromptError:
        return None


class _PageRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInFirst as exc:
                then = "" if exc.then == "/" else "?next=" + quote(exc.then, safe="/")
                return redirect("/signin" + then)
            except FormRefused as exc:
                return exc.response
            except PdfPromptError as exc:
                return error_page(request, exc, await signed_in_or_none(request))

        return handle


def pages() -> APIRouter:
    """A router for pages: errors become pages, a missing session a sign-in redirect, a
    refused form its page."""
    return APIRouter(include_in_schema=False, route_class=_PageRoute)
