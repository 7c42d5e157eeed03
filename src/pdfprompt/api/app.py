"""The FastAPI app factory: wires database, storage and, in `serve`, the worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from pdfprompt.accounts import AccountStore
from pdfprompt.api import jobs, ops
from pdfprompt.api.errors import install_error_handlers
from pdfprompt.api.services import Services
from pdfprompt.db import (
    create_engine,
    current_revision,
    head_revision,
    is_sqlite,
    listen_dsn,
    upgrade,
)
from pdfprompt.domain import UnavailableError
from pdfprompt.pipeline import JobPipeline
from pdfprompt.queue import PostgresWakeup, Wakeup, Worker, WorkerConfig, job_store_for
from pdfprompt.render import chromium_renderer
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
    )


def wakeup_for(settings: Settings) -> Wakeup:
    url = settings.effective_database_url
    return Wakeup() if url.startswith("sqlite") else PostgresWakeup(listen_dsn(url))


async def prepare_database(settings: Settings) -> Services:
    """Engine, stores and storage; SQLite is migrated here, PostgreSQL must be up to date."""
    engine = create_engine(settings)
    if is_sqlite(engine):
        await upgrade(engine)
    else:
        revision, head = await current_revision(engine), head_revision()
        if revision != head:
            await engine.dispose()
            raise UnavailableError(
                f"database schema is at {revision or 'nothing'}, expected {head}: "
                "run `pdfprompt db upgrade`"
            )
    storage = storage_from_settings(settings)
    await storage.check()
    return Services(
        settings=settings,
        engine=engine,
        jobs=job_store_for(engine),
        accounts=AccountStore(engine),
        storage=storage,
    )


def create_app(settings: Settings, *, with_worker: bool = False) -> FastAPI:
    """The HTTP API; with `with_worker`, the same process also runs jobs (embedded default)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = await prepare_database(settings)
        app.state.services = svc
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(svc.engine.dispose)
            worker_task: asyncio.Task[None] | None = None
            if with_worker:
                renderer = await stack.enter_async_context(chromium_renderer(settings))
                wakeup = await stack.enter_async_context(wakeup_for(settings))
                pipeline = JobPipeline(renderer, svc.storage)
                worker = Worker(
                    svc.jobs, pipeline, pipeline.discard, worker_config(settings), wakeup=wakeup
                )
                svc.renderer, svc.worker, svc.wakeup = renderer, worker, wakeup
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
    app.include_router(ops.router)
    app.include_router(jobs.router)
    return app
