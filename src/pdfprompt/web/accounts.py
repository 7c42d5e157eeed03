"""The account pages: the account, sign-up, sign-in and sign-out (the account's settings are
in account_settings.py, sign-in links in links.py).

Sign-up and enumeration: an email already taken is answered by signing the person in when
the password is theirs, and otherwise by the same "could not make an account with these
details" page whichever of the details is wrong. With no email sent to confirm an address,
a sign-up form cannot hide entirely that an address has an account (a new account would be
made otherwise), so sign-up is throttled per address like sign-in. As a sign-up with an
email taken and the right password signs the person in, it also counts against that
email's sign-in attempts: else it would be a way to guess a password past that limit."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import HTMLResponse, Response

from pdfprompt.accounts import MAX_EMAIL_CHARS, WRONG_PASSWORD
from pdfprompt.domain import (
    ConflictError,
    InvalidInputError,
    RateLimitedError,
    UnauthorizedError,
)
from pdfprompt.web import security
from pdfprompt.web.account_settings import account_page, new_password
from pdfprompt.web.kit import (
    address,
    form_page,
    local_path,
    message,
    pages,
    posted,
    redirect,
    session_of,
    sign_in,
    signed_in,
    svc_of,
    throttled,
)

router = pages()

ATTEMPTS_PER_MINUTE = 10  # sign-in per client address and per email; sign-up per address
CANNOT_SIGN_UP = (
    "We could not make an account with these details. If you already have one, sign in."
)


def _per_email(email: str) -> str:
    """The rate limiter's key for the attempts at one email's password."""
    return f"web-signin-email:{email.lower()}"


@router.get("/account")
async def account(request: Request) -> Response:
    session = await signed_in(request)
    done = request.query_params.get("done", "")
    return await account_page(request, session, done=done)


@router.get("/signup")
async def signup_form(request: Request) -> Response:
    if svc_of(request).settings.signup == "closed":
        return _closed(request, 200)
    return form_page(request, "signup.html")


def _closed(request: Request, status: int) -> HTMLResponse:
    text = "Accounts are made by the operator of this service. Ask them for one."
    return message(request, status, "Sign-up is closed", text)


@router.post("/signup")
async def signup(request: Request) -> Response:
    svc = svc_of(request)
    form = await posted(request)
    if svc.settings.signup == "closed":
        return _closed(request, 403)
    email = form.get("email", "").strip()
    errors: dict[str, str] = {}
    if not email:
        errors["email"] = "Enter your email address."
    elif len(email) > MAX_EMAIL_CHARS:
        errors["email"] = f"An email address has at most {MAX_EMAIL_CHARS} characters."
    password = new_password(form, errors)
    shown = email[:MAX_EMAIL_CHARS]
    if errors:
        return form_page(request, "signup.html", 400, errors=errors, email=shown)
    try:
        await svc.rate_limiter.hit(f"web-signup-ip:{address(request)}", ATTEMPTS_PER_MINUTE)
        await svc.rate_limiter.hit(_per_email(email), ATTEMPTS_PER_MINUTE)
        user = await svc.accounts.create_user(email, svc.settings.signup_plan, password=password)
    except RateLimitedError as exc:
        return throttled(request, exc)
    except InvalidInputError:  # the password's rules were checked above: the email
        errors = {"email": "This is not an email address."}
        return form_page(request, "signup.html", 400, errors=errors, email=shown)
    except ConflictError:
        try:
            user = await svc.accounts.check_password(email, password)
        except UnauthorizedError:
            errors = {"form": CANNOT_SIGN_UP}
            return form_page(request, "signup.html", 400, errors=errors, email=shown)
    return await sign_in(request, user.id)


@router.get("/signin")
async def signin_form(request: Request) -> Response:
    if await session_of(request) is not None:
        return redirect("/")
    then = local_path(request.query_params.get("next", "/"))
    signup = svc_of(request).settings.signup == "open"
    return form_page(request, "signin.html", signup=signup, then=then)


@router.post("/signin")
async def signin(request: Request) -> Response:
    svc = svc_of(request)
    form = await posted(request)
    email, password = form.get("email", "").strip(), form.get("password", "")
    open_ = svc.settings.signup == "open"
    then = local_path(form.get("next", "/"))
    if not email or len(email) > MAX_EMAIL_CHARS:
        errors = {"email": f"Enter an email address of at most {MAX_EMAIL_CHARS} characters."}
        return form_page(
            request, "signin.html", 400, errors=errors, email="", signup=open_, then=then
        )
    try:
        await svc.rate_limiter.hit(f"web-signin-ip:{address(request)}", ATTEMPTS_PER_MINUTE)
        await svc.rate_limiter.hit(_per_email(email), ATTEMPTS_PER_MINUTE)
        user = await svc.accounts.check_password(email, password)
    except RateLimitedError as exc:
        return throttled(request, exc)
    except UnauthorizedError:
        errors = {"form": WRONG_PASSWORD.capitalize() + "."}
        return form_page(
            request, "signin.html", 401, errors=errors, email=email, signup=open_, then=then
        )
    return await sign_in(request, user.id, then)


@router.post("/signout")
async def signout(request: Request) -> Response:
    await posted(request)
    token = request.cookies.get(security.SESSION_COOKIE)
    if token:
        await svc_of(request).sessions.revoke(token)
    response = redirect("/signin")
    response.delete_cookie(security.SESSION_COOKIE, path="/")
    return response
