"""Webhook dispatchers for tests, and ended jobs and users for them to report on."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.domain import JobError, JobType, RetryPolicy
from pdfprompt.queue import JobStore, NewJob, StoredFile
from pdfprompt.webhooks import (
    AddressRule,
    DeliveryConfig,
    Resolve,
    WebhookDispatcher,
    WebhookOutbox,
    WebhookSender,
    any_address,
)
from tests.support.store import new_user

# Retries quick enough for a test to watch several of them.
FAST = RetryPolicy(base_s=0.05, cap_s=0.2)


async def compose_stub(event: str, user_id: str, subject: str) -> dict[str, Any]:
    """An event's data in these tests: what it is about and whose it is."""
    return {"subject": subject, "user": user_id}


def dispatcher_for(
    outbox: WebhookOutbox,
    rule: AddressRule = any_address,
    owner: str = "w1",
    verify: ssl.SSLContext | bool = True,
    resolve: Resolve | None = None,
    **config: Any,
) -> WebhookDispatcher:
    config.setdefault("retry", FAST)
    config.setdefault("timeout_s", 5.0)
    config.setdefault("poll_s", 0.05)
    resolving = {"resolve": resolve} if resolve is not None else {}
    sender = WebhookSender(timeout_s=config["timeout_s"], rule=rule, verify=verify, **resolving)
    return WebhookDispatcher(outbox, sender, compose_stub, DeliveryConfig(**config), owner=owner)


async def deliver_all(dispatcher: WebhookDispatcher) -> None:
    try:
        await asyncio.wait_for(dispatcher.run(burst=True), 30)
    finally:
        await dispatcher.sender.aclose()


async def hook_user(engine: AsyncEngine, email: str = "hook@example.com") -> str:
    return await new_user(engine, email)


async def ended_job(store: JobStore, user: str, end: str = "succeeded") -> str:
    """A job that ended with `end`: succeeded, failed or canceled."""
    new = NewJob(user_id=user, type=JobType.HTML, input="<p>h</p>", options={}, max_attempts=1)
    job = await store.enqueue(new)
    if end == "canceled":
        await store.cancel_job(job.id, user)
        return job.id
    [claimed] = await store.claim_jobs("w", 1, lease_s=30)
    if end == "succeeded":
        await store.finish_job(claimed.id, "w", user, StoredFile("k", 10, 1, "0" * 64, "a.pdf"))
    else:
        await store.fail_job(claimed.id, "w", JobError("invalid_input", "bad"), retry_in_s=None)
    return job.id
