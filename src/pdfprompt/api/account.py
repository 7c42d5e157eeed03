"""Account routes: usage against the plan, usage history, API keys."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from pdfprompt.accounts import ALL_SCOPES
from pdfprompt.api.auth import AccountHolder, Svc
from pdfprompt.api.schemas import IssuedKeyOut, KeyIn, KeyList, KeyOut
from pdfprompt.domain import InvalidInputError, NotFoundError

router = APIRouter(prefix="/v1")
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@router.get("/usage")
async def usage(caller: AccountHolder, svc: Svc) -> dict[str, Any]:
    return await svc.accounts.usage(caller.user_id, svc.accounts.plan_of(caller))


@router.get("/usage/history")
async def usage_history(
    caller: AccountHolder,
    svc: Svc,
    period: Annotated[str | None, Query(max_length=7)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
) -> dict[str, Any]:
    """Settled jobs and plan changes, newest first; `period=YYYY-MM` keeps one month."""
    if period is not None and not _PERIOD.match(period):
        raise InvalidInputError("period: must be a month such as 2026-11", field="period")
    if cursor is not None and not cursor.isdigit():
        raise InvalidInputError("cursor: not a cursor this endpoint gave", field="cursor")
    items, last = await svc.accounts.history(
        caller.user_id, period=period, limit=limit, cursor=int(cursor) if cursor else None
    )
    return {"items": items, "next_cursor": None if last is None else str(last)}


@router.get("/keys", response_model=KeyList)
async def list_keys(caller: AccountHolder, svc: Svc) -> KeyList:
    keys = await svc.accounts.list_keys(caller.user_id)
    return KeyList(items=[KeyOut.model_validate(k) for k in keys])


@router.post("/keys", status_code=201, response_model=IssuedKeyOut)
async def create_key(body: KeyIn, caller: AccountHolder, svc: Svc) -> IssuedKeyOut:
    """A new key for the caller; the whole key is in this answer only."""
    issued = await svc.accounts.create_key(
        caller.user_id,
        name=body.name,
        scopes=tuple(body.scopes) if body.scopes is not None else ALL_SCOPES,
        expires_in_s=body.expires_in_s,
    )
    return IssuedKeyOut(**issued.listed, key=issued.secret)


@router.delete("/keys/{key_id}", status_code=204)
async def revoke_key(key_id: str, caller: AccountHolder, svc: Svc) -> Response:
    try:
        await svc.accounts.revoke_key(key_id, caller.user_id)
    except NotFoundError:
        raise NotFoundError(f"key {key_id} not found") from None
    return Response(status_code=204)
