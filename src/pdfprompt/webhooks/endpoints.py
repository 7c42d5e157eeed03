"""The endpoints a user registers: their URL, the events they want, their signing secret,
and whether they are on. What is sent to them is the outbox's (`outbox`)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.db import webhook_attempts, webhook_deliveries, webhooks, write_transaction
from pdfprompt.domain import ConflictError, InvalidInputError, NotFoundError, new_id
from pdfprompt.webhooks.events import EVENTS
from pdfprompt.webhooks.outbox import disable_webhook

MAX_WEBHOOKS_PER_USER = 20
_w, _d = webhooks.c, webhook_deliveries.c


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    url: str
    events: tuple[str, ...]
    description: str
    failure_run: int
    disabled_at: datetime | None
    disabled_reason: str | None
    last_success_at: datetime | None
    created_at: datetime
    secret: str | None = None  # only in the answers that create or rotate it


_WEBHOOK_COLUMNS = (
    _w.id,
    _w.url,
    _w.events,
    _w.description,
    _w.failure_run,
    _w.disabled_at,
    _w.disabled_reason,
    _w.last_success_at,
    _w.created_at,
)


def _webhook(row: Any, secret: str | None = None) -> Webhook:
    values = dict(row._mapping)
    values["events"] = tuple(values["events"])
    return Webhook(**values, secret=secret)


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def check_events(events: Sequence[str]) -> tuple[str, ...]:
    """The events named, in `EVENTS` order, or `InvalidInputError` naming the unknown."""
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise InvalidInputError(
            f"events: unknown {', '.join(unknown)} (known: {', '.join(EVENTS)})", field="events"
        )
    if not events:
        raise InvalidInputError("events: name at least one event", field="events")
    return tuple(e for e in EVENTS if e in events)


class WebhookStore:
    """The owner's endpoints: create, list, read, change, delete."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(
        self, user_id: str, url: str, events: Sequence[str], description: str = ""
    ) -> Webhook:
        """A new endpoint; its signing secret is in this answer only."""
        chosen = check_events(events)
        secret = _new_secret()
        async with write_transaction(self.engine) as conn:
            count = (
                await conn.execute(
                    select(func.count()).select_from(webhooks).where(_w.user_id == user_id)
                )
            ).scalar_one()
            if count >= MAX_WEBHOOKS_PER_USER:
                raise ConflictError(
                    f"at most {MAX_WEBHOOKS_PER_USER} webhooks per user; delete one first"
                )
            row = (
                await conn.execute(
                    insert(webhooks)
                    .values(
                        id=new_id(),
                        user_id=user_id,
                        url=url,
                        events=list(chosen),
                        description=description,
                        secret=secret,
                    )
                    .returning(*_WEBHOOK_COLUMNS)
                )
            ).one()
        return _webhook(row, secret)

    async def list_webhooks(self, user_id: str) -> list[Webhook]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(*_WEBHOOK_COLUMNS).where(_w.user_id == user_id).order_by(_w.id.desc())
                )
            ).all()
        return [_webhook(r) for r in rows]

    async def get(self, user_id: str, webhook_id: str) -> Webhook:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(*_WEBHOOK_COLUMNS).where(_w.id == webhook_id, _w.user_id == user_id)
                )
            ).first()
        if row is None:
            raise NotFoundError(f"webhook {webhook_id} not found")
        return _webhook(row)

    async def update(
        self,
        user_id: str,
        webhook_id: str,
        *,
        url: str | None = None,
        events: Sequence[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
        rotate_secret: bool = False,
    ) -> Webhook:
        """Change what was given. Enabling starts a new failure run; disabling gives up the
        deliveries still pending. With `rotate_secret`, the answer carries the new secret."""
        values: dict[str, Any] = {}
        if url is not None:
            values["url"] = url
        if events is not None:
            values["events"] = list(check_events(events))
        if description is not None:
            values["description"] = description
        if enabled is True:
            values.update(disabled_at=None, disabled_reason=None, failure_run=0)
        secret = _new_secret() if rotate_secret else None
        if secret is not None:
            values["secret"] = secret
        owned = (_w.id == webhook_id, _w.user_id == user_id)
        async with write_transaction(self.engine) as conn:
            if enabled is False:
                await disable_webhook(conn, webhook_id, "disabled by its owner", *owned)
            if values:
                await conn.execute(update(webhooks).where(*owned).values(**values))
            row = (await conn.execute(select(*_WEBHOOK_COLUMNS).where(*owned))).first()
        if row is None:
            raise NotFoundError(f"webhook {webhook_id} not found")
        return _webhook(row, secret)

    async def delete(self, user_id: str, webhook_id: str) -> None:
        """Remove the endpoint with its deliveries; nothing more is sent to it. The rows go in
        the order recording an attempt changes them (attempts, deliveries, then the
        endpoint): deleting the endpoint first, with its deliveries by cascade, deadlocked
        against a dispatcher recording an attempt to it at the same moment."""
        owned = (_w.id == webhook_id, _w.user_id == user_id)
        its_deliveries = select(_d.id).where(_d.webhook_id.in_(select(_w.id).where(*owned)))
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                delete(webhook_attempts).where(webhook_attempts.c.delivery_id.in_(its_deliveries))
            )
            await conn.execute(delete(webhook_deliveries).where(_d.id.in_(its_deliveries)))
            done = await conn.execute(delete(webhooks).where(*owned))
        if done.rowcount != 1:
            raise NotFoundError(f"webhook {webhook_id} not found")

    async def delete_user_deliveries(self, user_id: str, *, limit: int = 500) -> int:
        """Delete up to `limit` deliveries to the user's endpoints, with their attempts (in
        that order, as `delete` does), in one short transaction; how many. Called until it
        returns 0 before the endpoints themselves go (deleting a person's account)."""
        theirs = select(_w.id).where(_w.user_id == user_id)
        batch = select(_d.id).where(_d.webhook_id.in_(theirs)).order_by(_d.webhook_id, _d.id)
        async with write_transaction(self.engine) as conn:
            ids = list((await conn.execute(batch.limit(limit))).scalars())
            if ids:
                await conn.execute(
                    delete(webhook_attempts).where(webhook_attempts.c.delivery_id.in_(ids))
                )
                await conn.execute(delete(webhook_deliveries).where(_d.id.in_(ids)))
        return len(ids)
