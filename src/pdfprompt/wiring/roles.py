"""The roles a process plays, composed from settings: the API's services (with, in `serve`,
the worker inside the same process) and the standalone worker with its signals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

from pdfprompt.generate import llm_client_from_settings
from pdfprompt.render import renderer_from_settings
from pdfprompt.settings import Settings
from pdfprompt.wiring.database import prepare_database
from pdfprompt.wiring.services import Services
from pdfprompt.wiring.worker import build_worker, delivering_webhooks, process_wakeup

log = logging.getLogger("pdfprompt")


@contextlib.asynccontextmanager
async def running_services(settings: Settings, *, with_worker: bool) -> AsyncIterator[Services]:
    """The services an API process serves from while the context is open; with
    `with_worker`, the same process also runs jobs and sends webhooks (the embedded
    default). On exit the worker finishes what it runs within its grace period."""
    svc = await prepare_database(settings)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(svc.engine.dispose)
        stack.push_async_callback(svc.jobs.aclose)
        stack.push_async_callback(svc.accounts.aclose)
        stack.push_async_callback(svc.rate_limiter.aclose)
        worker_task: asyncio.Task[None] | None = None
        # Wakes the in-process worker and, on PostgreSQL, hears other nodes' job changes.
        svc.wakeup = await stack.enter_async_context(
            process_wakeup(settings, svc.events, svc.accounts)
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
            yield svc
        finally:
            if worker_task is not None and svc.worker is not None:
                svc.worker.stop()
                await worker_task


async def run_worker(settings: Settings, *, burst: bool = False) -> None:
    """The `pdfprompt worker` process: claims and runs jobs and sends webhooks until the
    queue is empty (`burst`) or a signal arrives. The first SIGTERM/SIGINT lets running
    jobs finish within the shutdown grace; a second exits at once (their leases bring
    the jobs back)."""
    from prometheus_client import start_http_server

    svc = await prepare_database(settings)
    llm = llm_client_from_settings(settings)
    try:
        async with (
            renderer_from_settings(settings) as renderer,
            process_wakeup(settings) as wakeup,
            delivering_webhooks(svc) as dispatcher,
        ):
            worker = build_worker(svc, renderer, wakeup, llm)
            if llm is not None:
                svc.metrics.registry.register(llm.collector())
            if settings.worker_metrics_port is not None:
                start_http_server(
                    settings.worker_metrics_port, addr=settings.host, registry=svc.metrics.registry
                )
                log.info(
                    "worker metrics on http://%s:%d/metrics",
                    settings.host,
                    settings.worker_metrics_port,
                )
            signals = 0

            def on_signal() -> None:
                nonlocal signals
                signals += 1
                if signals == 1:
                    log.info("stopping: finishing running jobs (signal again to exit at once)")
                    worker.stop()
                    dispatcher.stop()
                else:
                    log.warning(
                        "second signal: exiting now; unfinished jobs return on lease expiry"
                    )
                    raise SystemExit(1)

            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, on_signal)
            log.info(
                "worker %s running: %d job slots, %d render slots",
                worker.worker_id,
                settings.worker_concurrency,
                settings.max_pdf_concurrency,
            )
            await worker.run(burst=burst)
    finally:
        if llm is not None:
            await llm.aclose()
        await svc.engine.dispose()
