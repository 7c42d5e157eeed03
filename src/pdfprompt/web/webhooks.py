"""The webhooks pages: a person's endpoints and a new one (its signing secret shown once),
and each endpoint's page: a new secret, on and off, deleting it, and its deliveries with
every attempt, an ended one sent again. The rules are the API's (`actions`): the server's
address rule refuses private and other special-purpose addresses unless the operator
allows them, and the page says so next to the URL."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from pdfprompt.actions import add_webhook, change_webhook, integer_cursor, redeliver
from pdfprompt.api.schemas import WebhookIn
from pdfprompt.domain import ConflictError, InvalidInputError
from pdfprompt.web.fields import checked, sentence, validated
from pdfprompt.web.kit import page, pages, path_id, posted, redirect, signed_in, svc_of
from pdfprompt.webhooks import EVENTS, Webhook

router = pages()

_WORDS = {
    "job.succeeded": "A document's PDF is ready",
    "job.failed": "A document failed",
    "job.canceled": "A document was cancelled",
    "quota.warning": "This month's PDFs are running out",
    "batch.completed": "A batch of documents is complete",
}
EVENT_WORDS = {event: _WORDS[event] for event in EVENTS}  # every event there is, in words
DELIVERIES_PAGE = 20
MESSAGES = {
    "url": "Enter the endpoint's address: http:// or https://, at most 2048 characters.",
    "description": "A description has at most 200 characters.",
}


async def _list_page(
    request: Request,
    status: int = 200,
    *,
    errors: dict[str, str] | None = None,
    url: str = "",
    description: str = "",
    events: list[str] | None = None,
) -> Response:
    session = await signed_in(request)
    hooks = await svc_of(request).webhooks.list_webhooks(session.user_id)
    return page(
        request,
        "webhooks.html",
        status,
        me=session,
        hooks=hooks,
        errors=errors or {},
        url=url,
        description=description,
        chosen=list(EVENTS) if events is None else events,
        event_words=EVENT_WORDS,
    )


async def _hook_page(
    request: Request, webhook_id: str, status: int = 200, *, shown: Webhook | None = None
) -> Response:
    """An endpoint's page; `shown`: the endpoint as just made or changed, with its secret."""
    session = await signed_in(request)
    svc = svc_of(request)
    hook = shown or await svc.webhooks.get(session.user_id, path_id(webhook_id, "webhook"))
    before = integer_cursor(request.query_params.get("before"), "before")  # else a 422 page
    deliveries, older = await svc.webhook_outbox.deliveries(
        session.user_id, hook.id, limit=DELIVERIES_PAGE, before=before
    )
    return page(
        request,
        "webhook.html",
        status,
        me=session,
        hook=hook,
        secret=shown.secret if shown is not None else None,
        deliveries=deliveries,
        older=older,
        first_page=before is None,
        event_words=EVENT_WORDS,
    )


@router.get("/webhooks")
async def webhooks_page(request: Request) -> Response:
    return await _list_page(request)


@router.post("/webhooks")
async def make_webhook(request: Request) -> Response:
    form = await posted(request)
    session = await signed_in(request)
    url, description = form.get("url", "").strip(), form.get("description", "").strip()
    events = checked(form, "event.", EVENTS)
    again: dict[str, Any] = {
        "url": url[:2048],
        "description": description[:200],
        "events": events,
    }
    errors: dict[str, str] = {}
    if not url:
        errors["url"] = "Enter the endpoint's address."
    if not events:
        errors["events"] = "Choose at least one event."
    values = {"url": url, "events": events, "description": description}
    body = validated(WebhookIn, values, errors, MESSAGES)
    if body is None or errors:
        return await _list_page(request, 400, errors=errors, **again)
    try:
        hook = await add_webhook(
            svc_of(request), session.user_id, body.url, body.events, body.description
        )
    except InvalidInputError as exc:
        field = exc.field if exc.field in ("url", "events", "description") else "url"
        errors = {field: sentence(exc.message)}
        return await _list_page(request, 400, errors=errors, **again)
    except ConflictError as exc:
        errors = {"form": sentence(exc.message)}
        return await _list_page(request, 409, errors=errors, **again)
    return await _hook_page(request, hook.id, shown=hook)


@router.get("/webhooks/{webhook_id}")
async def webhook_page(request: Request, webhook_id: str) -> Response:
    return await _hook_page(request, webhook_id)


async def _change(
    request: Request, webhook_id: str, *, enabled: bool | None = None, rotate: bool = False
) -> Response:
    await posted(request)
    session = await signed_in(request)
    hook = await change_webhook(
        svc_of(request),
        session.user_id,
        path_id(webhook_id, "webhook"),
        enabled=enabled,
        rotate_secret=rotate,
    )
    if hook.secret is not None:
        return await _hook_page(request, hook.id, shown=hook)
    return redirect(f"/webhooks/{hook.id}")


@router.post("/webhooks/{webhook_id}/rotate")
async def rotate_secret(request: Request, webhook_id: str) -> Response:
    return await _change(request, webhook_id, rotate=True)


@router.post("/webhooks/{webhook_id}/disable")
async def disable(request: Request, webhook_id: str) -> Response:
    return await _change(request, webhook_id, enabled=False)


@router.post("/webhooks/{webhook_id}/enable")
async def enable(request: Request, webhook_id: str) -> Response:
    return await _change(request, webhook_id, enabled=True)


@router.post("/webhooks/{webhook_id}/delete")
async def delete(request: Request, webhook_id: str) -> Response:
    await posted(request)
    session = await signed_in(request)
    await svc_of(request).webhooks.delete(session.user_id, path_id(webhook_id, "webhook"))
    return redirect("/webhooks")


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/retry")
async def retry(request: Request, webhook_id: str, delivery_id: str) -> Response:
    await posted(request)
    session = await signed_in(request)
    await redeliver(svc_of(request), session.user_id, path_id(webhook_id, "webhook"), delivery_id)
    return redirect(f"/webhooks/{webhook_id}")
