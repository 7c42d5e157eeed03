"""The worker side composed: wake-ups, the job pipeline, maintenance and webhook delivery."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable

from pdfprompt.accounts import ACCOUNTS_CHANNEL, AccountStore, prune_sessions
from pdfprompt.domain import RetryPolicy
from pdfprompt.generate import LlmClient, template_filler_from_settings
from pdfprompt.pdf import PdfWorkshop
from pdfprompt.pipeline import CertificateSigner, JobPipeline
from pdfprompt.queue import (
    ORPHAN_SWEEP_EVERY_S,
    JobEvents,
    Wakeup,
    Worker,
    WorkerConfig,
    new_worker_id,
    sweep_orphans,
    wakeup_for,
)
from pdfprompt.render import Renderer, WebFetcher, nameserver_resolve, system_resolve
from pdfprompt.settings import Settings
from pdfprompt.webhooks import (
    DeliveryConfig,
    WebhookDispatcher,
    WebhookSender,
    event_composer,
    prune_deliveries,
)
from pdfprompt.wiring.services import Services

# How often a worker marks the batches whose jobs have all ended (and writes their
# `batch.completed` deliveries): one indexed read of the open batches.
BATCH_CHECK_EVERY_S = 1.0


def worker_config(settings: Settings) -> WorkerConfig:
    return WorkerConfig(
        concurrency=settings.worker_concurrency,
        batch_size=settings.batch_size,
        lease_s=settings.lease_s,
        poll_ms=settings.poll_ms,
        shutdown_grace_s=settings.shutdown_grace_s,
        per_user_cap=settings.max_concurrent_jobs,
        retry=RetryPolicy(base_s=settings.retry_base_s, cap_s=settings.retry_cap_s),
    )


def process_wakeup(
    settings: Settings,
    events: JobEvents | None = None,
    accounts: AccountStore | None = None,
) -> Wakeup:
    """Wake-ups for this process: new jobs, job changes and, for an API, account changes
    that invalidate its key cache (heard from other processes on PostgreSQL)."""
    channels: dict[str, Callable[[str], None]] = {}
    if accounts is not None:
        channels[ACCOUNTS_CHANNEL] = accounts.on_change
    return wakeup_for(settings.effective_database_url, events, channels)


def web_fetcher(settings: Settings) -> WebFetcher:
    """How URL jobs fetch their pages, as the settings say (docs/url-jobs.md)."""
    resolve = (
        nameserver_resolve(settings.url_nameservers, settings.url_request_timeout_s)
        if settings.url_nameservers.strip()
        else system_resolve
    )
    return WebFetcher(
        settings.url_policy,
        resolve=resolve,
        timeout_s=settings.url_request_timeout_s,
        max_response_bytes=int(settings.url_max_response_mb * 1024 * 1024),
        max_page_bytes=int(settings.url_max_page_mb * 1024 * 1024),
        max_requests=settings.url_max_requests,
    )


def build_worker(
    svc: Services, renderer: Renderer, wakeup: Wakeup, llm: LlmClient | None = None
) -> Worker:
    """A worker that runs the real pipeline on this process's database and storage."""
    pipeline = JobPipeline(
        renderer,
        svc.storage,
        llm,
        svc.accounts.plans,
        assets=svc.assets,
        max_assets_bytes=svc.settings.max_document_assets_bytes,
        templates=template_filler_from_settings(svc.settings),
        template_store=svc.templates,
        web=web_fetcher(svc.settings),
        signer=CertificateSigner(svc.signing, svc.certificates),
        pdfs=PdfWorkshop(svc.settings.pdf_limits(), processes=svc.settings.pdf_processes),
        print_check=svc.settings.print_check,
        # The repair's one call may take as long as a first answer: each read may wait the
        # LLM's timeout, and an answer streams for a few of them at most.
        repair_timeout_s=svc.settings.llm_timeout_s * 3,
    )
    config = dataclasses.replace(
        worker_config(svc.settings),
        retention_days={
            p.name: p.retention_days for p in svc.accounts.plans.values() if p.retention_days
        },
        job_retention_s=svc.settings.job_retention_days * 86400,
    )
    return Worker(
        svc.jobs,
        pipeline,
        pipeline.discard,
        config,
        wakeup=wakeup,
        metrics=svc.metrics,
        maintenance=[
            (ORPHAN_SWEEP_EVERY_S, lambda: sweep_orphans(svc.jobs, svc.storage)),
            (
                config.retention_every_s,
                lambda: prune_deliveries(svc.webhook_outbox, svc.settings.webhook_retention_days),
            ),
            (config.retention_every_s, lambda: prune_sessions(svc.sessions)),
            (BATCH_CHECK_EVERY_S, svc.jobs.complete_batches),
        ],
    )


@contextlib.asynccontextmanager
async def delivering_webhooks(svc: Services) -> AsyncIterator[WebhookDispatcher]:
    """Webhook deliveries sent from this process while the context is open; on exit the
    attempts in flight get their timeout to finish."""
    settings = svc.settings
    config = DeliveryConfig(
        concurrency=settings.webhook_concurrency,
        poll_s=settings.webhook_poll_ms / 1000,
        retry=RetryPolicy(base_s=settings.webhook_retry_base_s, cap_s=settings.webhook_retry_cap_s),
        window_s=settings.webhook_retry_window_s,
        disable_after=settings.webhook_disable_after,
        timeout_s=settings.webhook_timeout_s,
    )
    sender = WebhookSender(timeout_s=config.timeout_s, rule=svc.webhook_rule)
    compose = event_composer(
        svc.jobs.get,
        svc.accounts.user_usage,
        svc.settings.effective_public_url,
        svc.jobs.get_batch,
    )
    dispatcher = WebhookDispatcher(
        svc.webhook_outbox,
        sender,
        compose,
        config,
        owner=new_worker_id(),
        registry=svc.metrics.registry,
    )
    task = asyncio.create_task(dispatcher.run(), name="pdfprompt-webhooks")
    svc.dispatcher = dispatcher
    try:
        yield dispatcher
    finally:
        dispatcher.stop()
        await task
        await sender.aclose()
