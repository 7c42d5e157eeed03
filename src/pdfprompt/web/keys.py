"""The API keys page: a person's keys (name, scopes, when made, last used and expiring),
a new key (shown once, on the answer page), and revoking one. The rules are the API's
(`actions.issue_key`): a key from these pages may have any of the scopes a person holds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from starlette.responses import Response

from pdfprompt.accounts import ALL_SCOPES, IssuedKey, WebSession
from pdfprompt.actions import issue_key, revoke_key
from pdfprompt.api.schemas import KeyIn
from pdfprompt.domain import ConflictError, ForbiddenError, InvalidInputError
from pdfprompt.web.fields import checked, sentence, validated, whole_number
from pdfprompt.web.kit import page, pages, path_id, posted, principal, redirect, signed_in, svc_of

router = pages()

DAY_S = 86400
_WORDS = {
    "jobs:write": "Make documents",
    "jobs:read": "See documents and follow their progress",
    "files:read": "Download PDFs and share them",
    "account": "Usage, API keys and webhooks",
}
SCOPES = {scope: _WORDS[scope] for scope in ALL_SCOPES}  # every scope there is, in words
EXPIRIES = ((30 * DAY_S, "30 days"), (90 * DAY_S, "90 days"), (365 * DAY_S, "1 year"))
MESSAGES = {
    "name": "A name has at most 200 characters.",
    "expires_in_s": "Choose when the key stops working.",
}


def state_of(key: dict[str, Any], now: datetime) -> str:
    if key["revoked_at"] is not None:
        return "Revoked"
    if key["expires_at"] is not None and key["expires_at"] <= now:
        return "Expired"
    return "Active"


async def _keys_page(
    request: Request,
    session: WebSession,
    status: int = 200,
    *,
    issued: IssuedKey | None = None,
    errors: dict[str, str] | None = None,
    name: str = "",
    scopes: list[str] | None = None,
    expiry: str = "",
) -> Response:
    keys = await svc_of(request).accounts.list_keys(session.user_id)
    now = datetime.now(UTC)
    return page(
        request,
        "keys.html",
        status,
        me=session,
        keys=[(k, state_of(k, now)) for k in keys],
        issued=issued,
        errors=errors or {},
        name=name,
        chosen_scopes=list(SCOPES) if scopes is None else scopes,
        expiry=expiry,
        scopes=SCOPES,
        expiries=EXPIRIES,
    )


@router.get("/keys")
async def keys_page(request: Request) -> Response:
    return await _keys_page(request, await signed_in(request))


@router.post("/keys")
async def make_key(request: Request) -> Response:
    form = await posted(request)
    session = await signed_in(request)
    errors: dict[str, str] = {}
    name = form.get("name", "").strip()
    scopes = checked(form, "scope.", SCOPES)
    expiry = form.get("expires_in_s", "")
    expires_in_s = whole_number(form, "expires_in_s", errors)
    again: dict[str, Any] = {"name": name[:200], "scopes": scopes, "expiry": expiry[:20]}
    if not scopes:
        errors["scopes"] = "Choose at least one scope: a key without any can do nothing."
    values = {"name": name, "scopes": scopes, "expires_in_s": expires_in_s}
    body = validated(KeyIn, values, errors, MESSAGES)
    if body is None or errors:
        return await _keys_page(request, session, 400, errors=errors, **again)
    try:
        issued = await issue_key(
            svc_of(request),
            principal(session),
            name=body.name,
            scopes=body.scopes,
            expires_in_s=body.expires_in_s,
        )
    except (InvalidInputError, ForbiddenError) as exc:
        field = exc.field if exc.field in ("scopes", "expires_in_s") else "form"
        errors = {field: sentence(exc.message)}
        return await _keys_page(request, session, 400, errors=errors, **again)
    except ConflictError:
        errors = {"form": "You have as many live keys as you may: revoke one to make another."}
        return await _keys_page(request, session, 409, errors=errors, **again)
    return await _keys_page(request, session, issued=issued)


@router.post("/keys/{key_id}/revoke")
async def revoke(request: Request, key_id: str) -> Response:
    await posted(request)
    session = await signed_in(request)
    await revoke_key(svc_of(request), session.user_id, path_id(key_id, "key"))
    return redirect("/keys")
