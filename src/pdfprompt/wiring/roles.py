"""The roles a process plays, composed from settings: the API's services (with, in `serve`,
the worker inside the same process) and the standalone worker with its signals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator

from pdfprompt.generate import llm_client_from_settings
from pdfprompt.render import lower_session_group, process_tree, renderer_from_settings
from pdfprompt.settings import Settings
from pdfprompt.wiring.database import prepare_database
from pdfprompt.wiring.loop_watch import watching_loop
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
            # The API answers from this process: only the browsers are lowered.
            nice = settings.worker_nice or None
            renderer = await stack.enter_async_context(renderer_from_settings(settings, nice=nice))
            llm = llm_client_from_settings(settings)
            if llm is not None:
                stack.push_async_callback(llm.aclose)
                svc.metrics.registry.register(llm.collector())
                svc.llm = llm
            worker = build_worker(svc, renderer, svc.wakeup, llm)
            svc.renderer, svc.worker = renderer, worker
            await stack.enter_async_context(delivering_webhooks(svc))
            worker_task = asyncio.create_task(worker.run(), name="pdfprompt-worker")
        # From here: what starting up holds the loop with (imports, migrations, the
        # browsers' launch) is not a stall of the service.
        await stack.enter_async_context(watching_loop(svc.metrics.registry, settings.loop_stall_ms))
        try:
            yield svc
        finally:
            if worker_task is not None and svc.worker is not None:
                svc.worker.stop()
                await worker_task


def exit_at_second_signal() -> None:
    """End the process at once (status 1): every process below it (browsers in their own
    sessions, render and template processes) is killed first, then the process exits
    without unwinding. A clean exit would wait for what cannot be interrupted: a document
    being built in a thread, a browser asked to close. The jobs it held come back when their
    leases run out."""
    log.warning("second signal: exiting now; unfinished jobs return on lease expiry")
    for pid in process_tree(os.getpid())[1:]:
        with contextlib.suppress(OSError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)  # a browser and every process it started
            else:
                os.kill(pid, signal.SIGKILL)
    logging.shutdown()  # what was logged reaches its file
    os._exit(1)


async def run_worker(settings: Settings, *, burst: bool = False) -> None:
    """The `pdfprompt worker` process: claims and runs jobs and sends webhooks until the
    queue is empty (`burst`) or a signal arrives. The first SIGTERM/SIGINT lets running
    jobs finish within the shutdown grace; a second exits at once (their leases bring
    the jobs back)."""
    from prometheus_client import start_http_server

    browser_nice = None
    if settings.worker_nice:
        # Before anything starts: its children inherit it, and its browsers keep it.
        niceness = os.nice(settings.worker_nice)
        lower_session_group()  # when it leads its own session, as systemd starts it
        log.info("worker running at niceness %d (PDFPROMPT_WORKER_NICE)", niceness)
        browser_nice = 0
    svc = await prepare_database(settings)
    llm = llm_client_from_settings(settings)
    try:
        async with (
            renderer_from_settings(settings, nice=browser_nice) as renderer,
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
                    exit_at_second_signal()

            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, on_signal)
            log.info(
                "worker %s running: %d job slots, %d render slots",
                worker.worker_id,
                settings.worker_concurrency,
                settings.max_pdf_concurrency,
            )
            async with watching_loop(svc.metrics.registry, settings.loop_stall_ms):
                await worker.run(burst=burst)
    finally:
        if llm is not None:
            await llm.aclose()
        await svc.engine.dispose()
