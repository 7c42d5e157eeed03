"""Webhooks: registering and changing an endpoint under the server's address rules, and
sending a delivery again."""

from __future__ import annotations

from collections.abc import Sequence

from pdfprompt.actions.cursors import integer_cursor
from pdfprompt.domain import InvalidInputError, NotFoundError
from pdfprompt.webhooks import Delivery, Webhook, check_url
from pdfprompt.wiring import Services


async def add_webhook(
    svc: Services, user_id: str, url: str, events: Sequence[str], description: str
) -> Webhook:
    """A new endpoint for the events named; its signing secret is in this answer only. A
    URL the server's address rule refuses (private, loopback… unless the operator allows
    them) is `InvalidInputError` on `url`."""
    checked = await check_url(url, svc.webhook_rule)
    return await svc.webhooks.create(user_id, checked, events, description)


async def change_webhook(
    svc: Services,
    user_id: str,
    webhook_id: str,
    *,
    url: str | None = None,
    events: Sequence[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
    rotate_secret: bool = False,
) -> Webhook:
    """Change what is given (a new URL is checked as at registration); `enabled` turns
    delivery off (pending deliveries are given up) or back on; `rotate_secret` answers
    with a new secret."""
    checked = await check_url(url, svc.webhook_rule) if url is not None else None
    return await svc.webhooks.update(
        user_id,
        webhook_id,
        url=checked,
        events=events,
        description=description,
        enabled=enabled,
        rotate_secret=rotate_secret,
    )


async def redeliver(svc: Services, user_id: str, webhook_id: str, delivery_id: str) -> Delivery:
    """Send an ended delivery again (same event, same id), with a new retry window; an id
    that is no delivery's is `NotFoundError`."""
    try:
        number = integer_cursor(delivery_id, "delivery_id")
    except InvalidInputError:
        number = None
    if number is None:
        raise NotFoundError("no such delivery")
    return await svc.webhook_outbox.redeliver(user_id, webhook_id, number)
