"""API keys: what a caller may give a new key, and revoking one."""

from __future__ import annotations

from collections.abc import Sequence

from pdfprompt.accounts import IssuedKey, Principal
from pdfprompt.domain import ForbiddenError, NotFoundError
from pdfprompt.wiring import Services


async def issue_key(
    svc: Services,
    caller: Principal,
    *,
    name: str,
    scopes: Sequence[str] | None,
    expires_in_s: int | None,
) -> IssuedKey:
    """A new key for the caller; the whole key is in this answer only. A key can give no
    more than it has: its scopes are a subset of the caller's (the caller's when not
    named) and it expires no later than the caller's key (then, when not named). At most
    the server's number of live keys per user (`ConflictError`)."""
    chosen = tuple(dict.fromkeys(scopes)) if scopes is not None else caller.scopes
    beyond = [s for s in chosen if s not in caller.scopes]
    if beyond:
        raise ForbiddenError(
            f"scopes: this API key cannot give scopes it does not have ({', '.join(beyond)})",
            field="scopes",
        )
    return await svc.accounts.create_key(
        caller.user_id,
        name=name,
        scopes=chosen,
        expires_in_s=expires_in_s,
        not_after=caller.expires_at,
        max_live=svc.settings.max_keys_per_user,
    )


async def revoke_key(svc: Services, user_id: str, key_id: str) -> None:
    """Revoke one of the user's keys (`NotFoundError` for anyone else's)."""
    try:
        await svc.accounts.revoke_key(key_id, user_id)
    except NotFoundError:
        raise NotFoundError(f"key {key_id} not found") from None
