"""The services one process runs with, built once by the composition root and handed to
whatever serves them (the HTTP API, the worker, the administration commands)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.accounts import (
    AccountStore,
    AssetStore,
    CertificateStore,
    RateLimiter,
    SessionStore,
    ShareStore,
)
from pdfprompt.generate import LlmClient
from pdfprompt.pdf import SigningSetup
from pdfprompt.queue import JobEvents, JobStore, QueueMetrics, TemplateStore, Wakeup, Worker
from pdfprompt.render import Renderer
from pdfprompt.settings import Settings
from pdfprompt.storage import Storage
from pdfprompt.webhooks import AddressRule, WebhookDispatcher, WebhookOutbox, WebhookStore


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
    sessions: SessionStore
    webhooks: WebhookStore
    webhook_outbox: WebhookOutbox
    webhook_rule: AddressRule
    assets: AssetStore
    templates: TemplateStore
    certificates: CertificateStore
    signing: SigningSetup
    renderer: Renderer | None = None
    llm: LlmClient | None = None
    worker: Worker | None = None
    wakeup: Wakeup | None = None
    dispatcher: WebhookDispatcher | None = None
