"""Account routes: usage against the plan, usage history, API keys."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from pdfprompt import actions
from pdfprompt.actions import NUMERIC_CURSOR, integer_cursor
from pdfprompt.api.auth import AccountHolder, Svc
from pdfprompt.api.body import json_body
from pdfprompt.api.openapi import problems
from pdfprompt.api.schemas import IssuedKeyOut, KeyIn, KeyList, KeyOut

router = APIRouter(prefix="/v1")
PERIOD = r"^[0-9]{4}-(0[1-9]|1[0-2])$"  # a month: 2026-11


@router.get("/usage")
async def usage(caller: AccountHolder, svc: Svc) -> dict[str, Any]:
    return await svc.accounts.usage(caller.user_id, svc.accounts.plan_of(caller))


@router.get("/usage/history")
async def usage_history(
    caller: AccountHolder,
    svc: Svc,
    period: Annotated[str | None, Query(pattern=PERIOD)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=NUMERIC_CURSOR)] = None,
) -> dict[str, Any]:
    """Settled jobs, the model calls of prompt jobs and plan changes, newest first;
    `period=YYYY-MM` keeps one month."""
    items, last = await svc.accounts.history(
        caller.user_id, period=period, limit=limit, cursor=integer_cursor(cursor)
    )
    return {"items": items, "next_cursor": None if last is None else str(last)}


@router.get("/keys", response_model=KeyList)
async def list_keys(caller: AccountHolder, svc: Svc) -> KeyList:
    keys = await svc.accounts.list_keys(caller.user_id)
    return KeyList(items=[KeyOut.model_validate(k) for k in keys])


@router.post("/keys", status_code=201, response_model=IssuedKeyOut, responses=problems(409))
async def create_key(
    caller: AccountHolder, body: Annotated[KeyIn, json_body(KeyIn)], svc: Svc
) -> IssuedKeyOut:
    """A new key for the caller; the whole key is in this answer only. A key can give no
    more than it has: its scopes are a subset of the caller's (the caller's when not
    named) and it expires no later than the caller's key (then, when not named)."""
    issued = await actions.issue_key(
        svc, caller, name=body.name, scopes=body.scopes, expires_in_s=body.expires_in_s
    )
    return IssuedKeyOut(**issued.listed, key=issued.secret)


@router.delete("/keys/{key_id}", status_code=204)
async def revoke_key(key_id: str, caller: AccountHolder, svc: Svc) -> Response:
    await actions.revoke_key(svc, caller.user_id, key_id)
    return Response(status_code=204)
