"""What routes need, built once per process in the app lifespan and found on `app.state`."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.accounts import (
    AccountStore,
    AddressRule,
    RateLimiter,
    ShareStore,
    WebhookDispatcher,
    WebhookStore,
)
from pdfprompt.generate import LlmClient
from pdfprompt.queue import JobEvents, JobStore, QueueMetrics, Wakeup, Worker
from pdfprompt.render import Renderer
from pdfprompt.settings import Settings
from pdfprompt.storage import Storage


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    jobs: JobStore
    accounts: AccountStore
    storage: Storage
    events: JobEvents
    metrics: QueueMetrics
    rate_limiter: RateLimiter
    shares: ShareStore
    webhooks: WebhookStore
    webhook_rule: AddressRule
    renderer: Renderer | None = None
    llm: LlmClient | None = None
    worker: Worker | None = None
    wakeup: Wakeup | None = None
    dispatcher: WebhookDispatcher | None = None


async def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc
