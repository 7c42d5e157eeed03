"""The account pages: home, sign-up, sign-in and sign-out.

Sign-up and enumeration: an email already taken is answered by signing the person in when
the password is theirs, and otherwise by the same "could not make an account with these
details" page whichever of the details is wrong. With no email sent to confirm an address,
a sign-up form cannot hide entirely that an address has an account (a new account would be
made otherwise), so sign-up is throttled per address like sign-in."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jinja2
from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from pdfprompt.accounts import (
    MAX_EMAIL_CHARS,
    MAX_PASSWORD_CHARS,
    MIN_PASSWORD_CHARS,
    WRONG_PASSWORD,
    WebSession,
)
from pdfprompt.domain import (
    ConflictError,
    InvalidInputError,
    PayloadTooLargeError,
    RateLimitedError,
    UnauthorizedError,
)
from pdfprompt.web import security
from pdfprompt.wiring import Services

router = APIRouter(include_in_schema=False)

ATTEMPTS_PER_MINUTE = 10  # sign-in per client address and per email; sign-up per address
CANNOT_SIGN_UP = (
    "We could not make an account with these details. If you already have one, sign in."
)

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def _svc(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


def _page(
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
    svc = _svc(request)
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


def _form_page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page with a form: a browser without any cookie yet gets its pre-sign-in one."""
    seed = None if security.csrf_seed(request) else security.new_seed()
    context.setdefault("errors", {})
    context.setdefault("email", "")
    return _page(request, template, status, seed=seed, **context)


def _message(
    request: Request, status: int, title: str, text: str, headers: dict[str, str] | None = None
) -> HTMLResponse:
    return _page(request, "message.html", status, headers=headers, title=title, text=text)


def _redirect(to: str) -> RedirectResponse:
    return RedirectResponse(to, status_code=303, headers=security.HEADERS)


async def _session(request: Request) -> WebSession | None:
    token = request.cookies.get(security.SESSION_COOKIE, "")
    return await _svc(request).sessions.resolve(token) if token else None


async def _posted(request: Request) -> dict[str, str] | Response:
    """The form, or the page refusing it: a wrong or missing CSRF token (403), a body that
    is no form or too large (400, 413)."""
    try:
        form = await security.read_form(request)
    except PayloadTooLargeError as exc:
        return _message(request, 413, "Too large", str(exc))
    except InvalidInputError as exc:
        return _message(request, 400, "Not understood", str(exc))
    if not security.csrf_ok(security.csrf_seed(request), form.get("csrf", "")):
        text = (
            "This form has expired or did not come from this site. Go back, reload and try again."
        )
        return _message(request, 403, "Form refused", text)
    return form


def _throttled(request: Request, exc: RateLimitedError) -> HTMLResponse:
    wait = max(1, math.ceil(exc.retry_after_s))
    text = f"Too many attempts. Wait {wait} seconds, then try again."
    return _message(request, 429, "Too many attempts", text, {"Retry-After": str(wait)})


async def _sign_in(request: Request, user_id: str) -> Response:
    svc = _svc(request)
    old = request.cookies.get(security.SESSION_COOKIE)
    if old:
        await svc.sessions.revoke(old)
    token, _ = await svc.sessions.create(
        user_id, request.headers.get("user-agent", ""), _address(request)
    )
    response = _redirect("/")
    security.set_cookie(response, request, svc.settings, security.SESSION_COOKIE, token)
    response.delete_cookie(security.CSRF_COOKIE, path="/")
    return response


@router.get("/")
async def home(request: Request) -> Response:
    session = await _session(request)
    if session is None:
        return _redirect("/signin")
    usage = await _svc(request).accounts.user_usage(session.user_id)
    return _page(request, "home.html", session=session, usage=usage)


@router.get("/signup")
async def signup_form(request: Request) -> Response:
    if _svc(request).settings.signup == "closed":
        return _closed(request, 200)
    return _form_page(request, "signup.html")


def _closed(request: Request, status: int) -> HTMLResponse:
    text = "Accounts are made by the operator of this service. Ask them for one."
    return _message(request, status, "Sign-up is closed", text)


@router.post("/signup")
async def signup(request: Request) -> Response:
    svc = _svc(request)
    form = await _posted(request)
    if isinstance(form, Response):
        return form
    if svc.settings.signup == "closed":
        return _closed(request, 403)
    email, password = form.get("email", "").strip(), form.get("password", "")
    errors: dict[str, str] = {}
    if not email:
        errors["email"] = "Enter your email address."
    elif len(email) > MAX_EMAIL_CHARS:
        errors["email"] = f"An email address has at most {MAX_EMAIL_CHARS} characters."
    if len(password) > MAX_PASSWORD_CHARS:
        errors["password"] = f"A password has at most {MAX_PASSWORD_CHARS} characters."
    elif form.get("confirm", "") != password:
        errors["confirm"] = "The two passwords differ."
    shown = email[:MAX_EMAIL_CHARS]
    if errors:
        return _form_page(request, "signup.html", 400, errors=errors, email=shown)
    try:
        await svc.rate_limiter.hit(f"web-signup-ip:{_address(request)}", ATTEMPTS_PER_MINUTE)
        user = await svc.accounts.create_user(email, svc.settings.signup_plan, password=password)
    except RateLimitedError as exc:
        return _throttled(request, exc)
    except InvalidInputError as exc:
        field = exc.field if exc.field in ("email", "password") else "email"
        message = str(exc) if field == "password" else "This is not an email address."
        return _form_page(request, "signup.html", 400, errors={field: message}, email=shown)
    except ConflictError:
        try:
            user = await svc.accounts.check_password(email, password)
        except UnauthorizedError:
            errors = {"form": CANNOT_SIGN_UP}
            return _form_page(request, "signup.html", 400, errors=errors, email=shown)
    return await _sign_in(request, user.id)


@router.get("/signin")
async def signin_form(request: Request) -> Response:
    if await _session(request) is not None:
        return _redirect("/")
    return _form_page(request, "signin.html", signup=_svc(request).settings.signup == "open")


@router.post("/signin")
async def signin(request: Request) -> Response:
    svc = _svc(request)
    form = await _posted(request)
    if isinstance(form, Response):
        return form
    email, password = form.get("email", "").strip(), form.get("password", "")
    open_ = svc.settings.signup == "open"
    if not email or len(email) > MAX_EMAIL_CHARS:
        errors = {"email": f"Enter an email address of at most {MAX_EMAIL_CHARS} characters."}
        return _form_page(request, "signin.html", 400, errors=errors, email="", signup=open_)
    try:
        await svc.rate_limiter.hit(f"web-signin-ip:{_address(request)}", ATTEMPTS_PER_MINUTE)
        await svc.rate_limiter.hit(f"web-signin-email:{email.lower()}", ATTEMPTS_PER_MINUTE)
        user = await svc.accounts.check_password(email, password)
    except RateLimitedError as exc:
        return _throttled(request, exc)
    except UnauthorizedError:
        errors = {"form": WRONG_PASSWORD.capitalize() + "."}
        return _form_page(request, "signin.html", 401, errors=errors, email=email, signup=open_)
    return await _sign_in(request, user.id)


@router.post("/signout")
async def signout(request: Request) -> Response:
    form = await _posted(request)
    if isinstance(form, Response):
        return form
    token = request.cookies.get(security.SESSION_COOKIE)
    if token:
        await _svc(request).sessions.revoke(token)
    response = _redirect("/signin")
    response.delete_cookie(security.SESSION_COOKIE, path="/")
    return response
