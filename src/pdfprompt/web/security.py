"""What every page needs: the session cookie, the CSRF token, the security headers and the
posted form, read with a cap.

CSRF: a signed-in browser's token is an HMAC of its session token (the cookie, which a page
of another site can send but never read); before sign-in, an HMAC of a random
`pdfprompt_csrf` cookie set on the first page. Either is compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from urllib.parse import parse_qs

from fastapi import Request
from starlette.responses import Response

from pdfprompt.domain import InvalidInputError, PayloadTooLargeError
from pdfprompt.settings import Settings

SESSION_COOKIE = "pdfprompt_session"
CSRF_COOKIE = "pdfprompt_csrf"
MAX_FORM_BYTES = 16 * 1024
_MAX_FIELDS = 20
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Passwords are taken as typed (their own rules refuse what cannot be one).
_SECRET_FIELDS = frozenset({"password", "confirm", "current"})

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def secure_cookies(request: Request, settings: Settings) -> bool:
    """Cookies are `Secure` when the page came over HTTPS or the public address is HTTPS."""
    public = (settings.public_url or "").lower()
    return request.url.scheme == "https" or public.startswith("https:")


def set_cookie(
    response: Response, request: Request, settings: Settings, name: str, value: str
) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request, settings),
        path="/",
    )


def csrf_seed(request: Request) -> str | None:
    """What this browser's CSRF token is made from: its session cookie, else its
    pre-sign-in cookie; None for a browser that has neither yet."""
    return request.cookies.get(SESSION_COOKIE) or request.cookies.get(CSRF_COOKIE) or None


def new_seed() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(seed: str) -> str:
    return hmac.new(seed.encode(), b"pdfprompt csrf", hashlib.sha256).hexdigest()


def csrf_ok(seed: str | None, given: str) -> bool:
    if not seed or not given:
        return False
    return hmac.compare_digest(csrf_token(seed).encode(), given.encode())


def has_control(text: str) -> bool:
    """Whether `text` holds a control character (tabs and line breaks aside)."""
    return _CONTROL.search(text) is not None


async def read_form(request: Request, max_bytes: int = MAX_FORM_BYTES) -> dict[str, str]:
    """The urlencoded form posted, each field's first value; `PayloadTooLargeError` over
    `max_bytes` (`MAX_FORM_BYTES` unless a form that carries a document raises it),
    `InvalidInputError` for another kind of body (an empty one is an empty form), a body
    that is not UTF-8 or a field holding a control character."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise PayloadTooLargeError("the form is too large", field="body")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body and kind != "application/x-www-form-urlencoded":
        raise InvalidInputError("the form must be sent as a web form", field="body")
    try:
        text = bytes(body).decode("utf-8")
        parsed = parse_qs(
            text,
            keep_blank_values=True,
            strict_parsing=False,
            errors="strict",
            max_num_fields=_MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInputError("the form could not be read", field="body") from exc
    form = {name: values[0] for name, values in parsed.items()}
    for name, value in form.items():
        if name not in _SECRET_FIELDS and has_control(value):
            raise InvalidInputError(f"{name[:40]} contains a control character", field=name[:40])
    return form
