"""Opening the stores: the database, the job and account stores, storage and metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from pdfprompt.accounts import (
    AccountStore,
    AssetStore,
    CertificateStore,
    ShareStore,
    rate_limiter_for,
)
from pdfprompt.db import open_database
from pdfprompt.domain import (
    ASSET_TYPES,
    PDF_CONTENT_TYPE,
    InvalidInputError,
    PdfPromptError,
    sniff_type,
)
from pdfprompt.generate import InspectedAsset, inspect_asset
from pdfprompt.pdf import PdfWorkshop
from pdfprompt.queue import JobEvents, QueueMetrics, TemplateStore, job_store_for
from pdfprompt.settings import Settings
from pdfprompt.storage import storage_from_settings
from pdfprompt.webhooks import WebhookOutbox, WebhookStore, address_rule
from pdfprompt.wiring.admin import open_accounts, open_sessions, plans_in_force
from pdfprompt.wiring.services import Services
from pdfprompt.wiring.signing import sealer_from_settings, signing_from_settings


async def prepare_database(settings: Settings) -> Services:
    """Engine, stores and storage; SQLite is migrated here, PostgreSQL must be up to date."""
    plans = plans_in_force(settings)
    signing = signing_from_settings(settings)  # a bad certificate stops the start here
    sealer = sealer_from_settings(settings)
    engine = await open_database(settings)
    storage = storage_from_settings(settings)
    await storage.check()
    events, metrics = JobEvents(), QueueMetrics()
    metrics.track_pool(engine.pool.checkedout)  # type: ignore[attr-defined]
    accounts = open_accounts(engine, settings, plans)
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
        sessions=open_sessions(engine, settings),
        webhooks=WebhookStore(engine),
        webhook_outbox=WebhookOutbox(engine),
        webhook_rule=address_rule(settings.webhook_allow_private),
        assets=AssetStore(engine, upload_check(settings)),
        templates=TemplateStore(engine),
        certificates=CertificateStore(engine, sealer),
        signing=signing,
        storage=storage,
        events=events,
        metrics=metrics,
    )


def upload_check(settings: Settings) -> Callable[[bytes], InspectedAsset]:
    """How an upload's bytes are checked (blocking: run in a thread): a PDF read in a
    child process within the PDF limits (`PdfWorkshop.inspect`), anything else by
    `inspect_asset`."""
    workshop = PdfWorkshop(settings.pdf_limits(), processes=settings.pdf_processes)

    def check(data: bytes) -> InspectedAsset:
        if sniff_type(data) != PDF_CONTENT_TYPE:
            return inspect_asset(data)
        try:
            workshop.inspect(data)
        except PdfPromptError as exc:
            raise InvalidInputError(f"file: {exc.message}", field="file") from None
        return InspectedAsset(data, PDF_CONTENT_TYPE, ASSET_TYPES[PDF_CONTENT_TYPE][0])

    return check


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
