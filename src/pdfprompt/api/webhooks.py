"""Webhook routes: register endpoints, see and retry their deliveries (scope `account`)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from pdfprompt.actions import (
    NUMERIC_CURSOR,
    add_webhook,
    change_webhook,
    integer_cursor,
    redeliver,
)
from pdfprompt.api.auth import AccountHolder, Svc
from pdfprompt.api.body import json_body
from pdfprompt.api.openapi import problems
from pdfprompt.api.schemas import (
    DeliveryList,
    DeliveryOut,
    WebhookIn,
    WebhookList,
    WebhookOut,
    WebhookPatch,
)
from pdfprompt.webhooks import Delivery, Webhook

router = APIRouter(prefix="/v1")


def _out(hook: Webhook) -> WebhookOut:
    values = dataclasses.asdict(hook)
    return WebhookOut(**values, enabled=hook.disabled_at is None)


def _delivery_out(delivery: Delivery) -> DeliveryOut:
    values = dataclasses.asdict(delivery)
    del values["webhook_id"]
    return DeliveryOut(**{**values, "id": str(delivery.id)})


@router.post("/webhooks", status_code=201, response_model=WebhookOut, responses=problems(409))
async def create_webhook(
    caller: AccountHolder, body: Annotated[WebhookIn, json_body(WebhookIn)], svc: Svc
) -> WebhookOut:
    """A new endpoint for the events named; its signing secret is in this answer only."""
    hook = await add_webhook(svc, caller.user_id, body.url, body.events, body.description)
    return _out(hook)


@router.get("/webhooks", response_model=WebhookList)
async def list_webhooks(caller: AccountHolder, svc: Svc) -> WebhookList:
    return WebhookList(items=[_out(h) for h in await svc.webhooks.list_webhooks(caller.user_id)])


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut)
async def get_webhook(webhook_id: str, caller: AccountHolder, svc: Svc) -> WebhookOut:
    return _out(await svc.webhooks.get(caller.user_id, webhook_id))


@router.patch("/webhooks/{webhook_id}", response_model=WebhookOut, responses=problems(409))
async def update_webhook(
    webhook_id: str,
    caller: AccountHolder,
    body: Annotated[WebhookPatch, json_body(WebhookPatch)],
    svc: Svc,
) -> WebhookOut:
    """Change the URL, events or description; `enabled` turns delivery off (pending
    deliveries are given up) or back on; `rotate_secret` answers with a new secret."""
    hook = await change_webhook(
        svc,
        caller.user_id,
        webhook_id,
        url=body.url,
        events=body.events,
        description=body.description,
        enabled=body.enabled,
        rotate_secret=body.rotate_secret,
    )
    return _out(hook)


@router.delete("/webhooks/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: str, caller: AccountHolder, svc: Svc) -> Response:
    await svc.webhooks.delete(caller.user_id, webhook_id)
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveryList)
async def list_deliveries(
    webhook_id: str,
    caller: AccountHolder,
    svc: Svc,
    status: Literal["pending", "succeeded", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=NUMERIC_CURSOR)] = None,
) -> DeliveryList:
    """The endpoint's deliveries, newest first, each with every attempt made."""
    found, last = await svc.webhook_outbox.deliveries(
        caller.user_id, webhook_id, status=status, limit=limit, before=integer_cursor(cursor)
    )
    return DeliveryList(
        items=[_delivery_out(d) for d in found],
        next_cursor=None if last is None else str(last),
    )


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
    status_code=202,
    response_model=DeliveryOut,
    responses=problems(409),
)
async def retry_delivery(
    webhook_id: str, delivery_id: str, caller: AccountHolder, svc: Svc
) -> DeliveryOut:
    """Send an ended delivery again (same event, same id), with a new retry window."""
    delivery = await redeliver(svc, caller.user_id, webhook_id, delivery_id)
    return _delivery_out(delivery)
