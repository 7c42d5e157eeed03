"""The FastAPI app factory: wires database, storage and, in `serve`, the worker."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Iterator

from fastapi import FastAPI
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from pdfprompt.accounts import (
    ACCOUNTS_CHANNEL,
    AccountStore,
    DeliveryConfig,
    ShareStore,
    WebhookDispatcher,
    WebhookSender,
    WebhookStore,
    address_rule,
    check_default_plan,
    load_plans,
    rate_limiter_for,
)
from pdfprompt.api import account, jobs, ops, shares, webhooks
from pdfprompt.api.errors import install_error_handlers
from pdfprompt.api.guard import RequestGuard
from pdfprompt.api.jobs import job_body_limit
from pdfprompt.api.openapi import install_openapi
from pdfprompt.api.services import Services
from pdfprompt.db import listen_dsn, open_database
from pdfprompt.domain import RetryPolicy
from pdfprompt.generate import LlmClient, llm_client_from_settings
from pdfprompt.pipeline import JobPipeline
from pdfprompt.queue import (
    ORPHAN_SWEEP_EVERY_S,
    JobEvents,
    PostgresWakeup,
    QueueMetrics,
    Wakeup,
    Worker,
    WorkerConfig,
    delete_in_batches,
    job_store_for,
    new_worker_id,
    sweep_orphans,
)
from pdfprompt.render import Renderer, renderer_from_settings
from pdfprompt.settings import Settings
from pdfprompt.storage import storage_from_settings

log = logging.getLogger(__name__)


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


def wakeup_for(
    settings: Settings,
    events: JobEvents | None = None,
    accounts: AccountStore | None = None,
) -> Wakeup:
    """In-process wake-ups on SQLite; LISTEN (jobs, job changes and, for an API, account
    changes that invalidate its key cache) on PostgreSQL."""
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        return Wakeup()
    channels: dict[str, Callable[[str], None]] = {}
    if accounts is not None:
        channels[ACCOUNTS_CHANNEL] = accounts.on_change
    return PostgresWakeup(listen_dsn(url), events=events, channels=channels)


def build_worker(
    svc: Services, renderer: Renderer, wakeup: Wakeup, llm: LlmClient | None = None
) -> Worker:
    """A worker that runs the real pipeline on this process's database and storage."""
    pipeline = JobPipeline(renderer, svc.storage, llm, svc.accounts.plans)
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
            (config.retention_every_s, lambda: prune_deliveries(svc)),
        ],
    )


async def prune_deliveries(svc: Services) -> int:
    """Delete webhook deliveries that ended past PDFPROMPT_WEBHOOK_RETENTION_DAYS, in
    batches; returns how many."""
    days = svc.settings.webhook_retention_days
    if days <= 0:
        return 0
    return await delete_in_batches(
        lambda: svc.webhooks.prune(days * 86400), "ended webhook deliveries"
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
    dispatcher = WebhookDispatcher(
        svc.webhooks,
        sender,
        webhooks.event_data(svc),
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


async def prepare_database(settings: Settings) -> Services:
    """Engine, stores and storage; SQLite is migrated here, PostgreSQL must be up to date."""
    plans = load_plans(settings.plans_file)  # a bad plans file stops here, with its problem
    check_default_plan(plans, settings.default_plan)
    engine = await open_database(settings)
    storage = storage_from_settings(settings)
    await storage.check()
    events, metrics = JobEvents(), QueueMetrics()
    metrics.track_pool(engine.pool.checkedout)  # type: ignore[attr-defined]
    accounts = AccountStore(
        engine,
        cache_ttl_s=settings.subscription_cache_ttl_s,
        plans=plans,
        default_plan=settings.default_plan,
    )
    metrics.registry.register(_KeyCacheMetrics(accounts))
    return Services(
        settings=settings,
        engine=engine,
        jobs=job_store_for(
            engine,
            events,
            {p.name: p.max_concurrent_jobs for p in plans.values() if p.max_concurrent_jobs},
        ),
        accounts=accounts,
        rate_limiter=rate_limiter_for(settings.redis_url),
        shares=ShareStore(engine),
        webhooks=WebhookStore(engine),
        webhook_rule=address_rule(settings.webhook_allow_private),
        storage=storage,
        events=events,
        metrics=metrics,
    )


class _KeyCacheMetrics(Collector):
    """API keys resolved from this process's memory (hit) or the database (miss)."""

    def __init__(self, accounts: AccountStore) -> None:
        self.accounts = accounts

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "pdfprompt_subscription_cache",
            "API key and plan lookups answered from memory (hit) or the database (miss).",
            labels=["result"],
        )
        family.add_metric(["hit"], self.accounts.cache_hits)
        family.add_metric(["miss"], self.accounts.cache_misses)
        yield family


def create_app(settings: Settings, *, with_worker: bool = False) -> FastAPI:
    """The HTTP API; with `with_worker`, the same process also runs jobs (embedded default)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = await prepare_database(settings)
        app.state.services = svc
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(svc.engine.dispose)
            stack.push_async_callback(svc.jobs.aclose)
            stack.push_async_callback(svc.accounts.aclose)
            stack.push_async_callback(svc.rate_limiter.aclose)
            worker_task: asyncio.Task[None] | None = None
            # Wakes the in-process worker and, on PostgreSQL, hears other nodes' job changes.
            svc.wakeup = await stack.enter_async_context(
                wakeup_for(settings, svc.events, svc.accounts)
            )
            if with_worker:
                renderer = await stack.enter_async_context(renderer_from_settings(settings))
                llm = llm_client_from_settings(settings)
                if llm is not None:
                    stack.push_async_callback(llm.aclose)
                    svc.metrics.registry.register(llm.collector())
                    svc.llm = llm
                worker = build_worker(svc, renderer, svc.wakeup, llm)
                svc.renderer, svc.worker = renderer, worker
                await stack.enter_async_context(delivering_webhooks(svc))
                worker_task = asyncio.create_task(worker.run(), name="pdfprompt-worker")
            try:
                yield
            finally:
                if worker_task is not None and svc.worker is not None:
                    svc.worker.stop()
                    await worker_task

    app = FastAPI(
        title="pdfprompt",
        version="1",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(RequestGuard, max_body_bytes=job_body_limit(settings))
    app.include_router(ops.router)
    app.include_router(jobs.router)
    app.include_router(account.router)
    app.include_router(shares.router)
    app.include_router(webhooks.router)
    return app
