"""The worker loop with the real pipeline (Chromium, local storage) on both databases."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.domain import BUILTIN_PLANS, Job, JobStatus, JobType, RenderError, RetryPolicy
from pdfprompt.pipeline import JobPipeline
from pdfprompt.queue import (
    JobContext,
    JobStore,
    StoredFile,
    Worker,
    WorkerConfig,
    job_store_for,
)
from pdfprompt.render import chromium_renderer, renderer_from_settings
from pdfprompt.settings import Settings
from pdfprompt.storage import LocalStorage
from tests.support.bombs import huge_image, noise_image, noise_pages
from tests.support.leases import end_retry_wait
from tests.support.store import new_job, new_user
from tests.support.waiting import until


async def _ended(store: JobStore, jobs: list[Job]) -> bool:
    return all([(await store.get(j.id)).status.is_final for j in jobs])


def _sample(exposition: bytes, name: str) -> float:
    """An unlabelled sample's value in a Prometheus text exposition, as a scrape reads it."""
    [value] = [
        sample.value
        for family in text_string_to_metric_families(exposition.decode())
        for sample in family.samples
        if sample.name == name and not sample.labels
    ]
    return value


async def test_burst_runs_every_job_once_and_fails_oversized_ones_for_good(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    store = job_store_for(engine)
    user = await new_user(engine, "w@example.com")
    ok = [await store.enqueue(new_job(user, input=f"# Doc {i}")) for i in range(12)]
    pages = "\n\n".join("<div style='break-before: page'>x</div>" for _ in range(6))
    too_long = await store.enqueue(new_job(user, input=pages, type=JobType.HTML))

    storage = LocalStorage(tmp_path / "files")
    render_settings = settings.model_copy(update={"max_pages": 5, "max_pdf_concurrency": 2})
    async with chromium_renderer(render_settings) as renderer:
        pipeline = JobPipeline(renderer, storage)
        worker = Worker(store, pipeline, pipeline.discard, WorkerConfig(concurrency=4, poll_ms=20))
        await asyncio.wait_for(worker.run(burst=True), 120)

    for job in ok:
        done = await store.get(job.id)
        assert done.status is JobStatus.SUCCEEDED and done.attempts == 1
        assert done.file is not None and done.file.pages == 1
        assert (tmp_path / "files" / done.file.storage_key).read_bytes().startswith(b"%PDF-")
    failed = await store.get(too_long.id)
    assert failed.status is JobStatus.FAILED and failed.attempts == 1
    assert failed.error is not None and failed.error.code == "page_limit_exceeded"
    assert "more than 5 pages" in failed.error.message
    assert len(list((tmp_path / "files").rglob("*.pdf"))) == 12


async def test_transient_errors_are_retried_then_fail(engine: AsyncEngine) -> None:
    store = job_store_for(engine)
    user = await new_user(engine, "t@example.com")
    flaky = await store.enqueue(new_job(user, input="flaky"))
    broken = await store.enqueue(new_job(user, input="broken", max_attempts=2))
    calls: dict[str, int] = {}

    async def handler(ctx: JobContext) -> StoredFile:
        calls[ctx.job.input] = calls.get(ctx.job.input, 0) + 1
        if ctx.job.input == "broken" or calls[ctx.job.input] == 1:
            raise RenderError("the browser went away")
        return StoredFile(f"k/{ctx.job.id}", 1, 1, "0" * 64, "f.pdf")

    async def discard(key: str) -> None:
        return None

    config = WorkerConfig(concurrency=2, poll_ms=20, retry=RetryPolicy(base_s=0.05, cap_s=0.1))
    worker = Worker(store, handler, discard, config)
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: _ended(store, [flaky, broken]), 30, "both jobs ended")
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)

    done, failed = await store.get(flaky.id), await store.get(broken.id)
    assert done.status is JobStatus.SUCCEEDED and done.attempts == 2
    assert failed.status is JobStatus.FAILED and failed.attempts == 2
    assert failed.error is not None and failed.error.code == "render_failed"
    assert calls == {"flaky": 2, "broken": 2}


async def _queued_after(store: JobStore, job_id: str, attempts: int) -> Job | None:
    """The job, once it is back in the queue after its attempt number `attempts` failed."""
    job = await store.get(job_id)
    failed = job.status is JobStatus.QUEUED and job.attempts == attempts and job.error is not None
    return job if failed else None


async def test_a_failed_attempt_waits_the_policys_backoff_before_the_next(
    engine: AsyncEngine,
) -> None:
    """The worker queues a failed attempt again after the retry policy's delay for that
    attempt: the base, doubled each time, of which the jitter keeps half to all. Read from
    the job's row on the database's clock (when it is due again against when the attempt
    ended); each wait is then ended in SQL, so the test waits for none of them."""
    store = job_store_for(engine)
    user = await new_user(engine, "b@example.com")
    job = await store.enqueue(new_job(user, input="flaky"))
    attempts: list[int] = []

    async def handler(ctx: JobContext) -> StoredFile:
        attempts.append(ctx.job.attempts)
        if len(attempts) < 3:
            raise RenderError("the browser went away")
        return StoredFile(f"k/{ctx.job.id}", 1, 1, "0" * 64, "f.pdf")

    async def discard(key: str) -> None:
        return None

    base_s = 600.0
    config = WorkerConfig(poll_ms=20, retry=RetryPolicy(base_s=base_s, cap_s=100 * base_s))
    worker = Worker(store, handler, discard, config)
    task = asyncio.create_task(worker.run())
    try:
        for attempt, ceiling_s in ((1, base_s), (2, 2 * base_s)):
            queued = await until(
                lambda n=attempt: _queued_after(store, job.id, n), 30, f"attempt {attempt} failed"
            )
            assert queued.run_after is not None and queued.updated_at is not None
            waits_s = (queued.run_after - queued.updated_at).total_seconds()
            # Half to all of the ceiling (a millisecond either way: SQLite's clock's grain).
            assert ceiling_s / 2 - 0.002 <= waits_s <= ceiling_s + 0.002, (attempt, waits_s)
            await end_retry_wait(engine, job.id)
        await until(lambda: _ended(store, [job]), 30, "the third attempt ended")
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)
    done = await store.get(job.id)
    assert done.status is JobStatus.SUCCEEDED and done.attempts == 3
    assert attempts == [1, 2, 3]


async def test_shutdown_hands_unfinished_jobs_back(engine: AsyncEngine) -> None:
    store = job_store_for(engine)
    user = await new_user(engine, "s@example.com")
    job = await store.enqueue(new_job(user, input="slow"))
    started = asyncio.Event()

    async def handler(ctx: JobContext) -> StoredFile:
        started.set()
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def discard(key: str) -> None:
        return None

    worker = Worker(store, handler, discard, WorkerConfig(poll_ms=20, shutdown_grace_s=0.2))
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 10)
    assert (await store.get(job.id)).status is JobStatus.RUNNING
    worker.stop()
    await asyncio.wait_for(task, 10)
    back = await store.get(job.id)
    assert back.status is JobStatus.QUEUED and back.attempts == 0 and back.lease_owner is None


async def test_cancelling_a_running_job_stops_it_within_a_second(engine: AsyncEngine) -> None:
    store = job_store_for(engine)
    user = await new_user(engine, "c@example.com")
    job = await store.enqueue(new_job(user, input="long"))
    started, stopped = asyncio.Event(), asyncio.Event()
    discarded: list[str] = []

    async def handler(ctx: JobContext) -> StoredFile:
        started.set()
        try:
            await asyncio.sleep(3600)
        finally:
            stopped.set()
        raise AssertionError("unreachable")

    async def discard(key: str) -> None:
        discarded.append(key)

    worker = Worker(store, handler, discard, WorkerConfig(poll_ms=20, cancel_check_s=0.2))
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(started.wait(), 10)
        canceled = await store.cancel_job(job.id, user)
        assert canceled.status is JobStatus.CANCELED
        # "Within about a second": a generous bound here, the latency itself is a benchmark's.
        await asyncio.wait_for(stopped.wait(), 3)
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)
    final = await store.get(job.id)
    assert final.status is JobStatus.CANCELED and final.file is None
    assert discarded == []  # it stored nothing, so there was nothing to remove
    # As a scrape of the worker's metrics reads it.
    assert _sample(worker.metrics.render(), "pdfprompt_jobs_canceled_total") == 1
    assert worker.active_jobs == 0


async def test_a_render_timeout_is_retried_once_then_final(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    store = job_store_for(engine)
    user = await new_user(engine, "slow@example.com")
    heavy = "\n\n".join(f"## Part {i}\n\n" + "words " * 400 for i in range(60))
    job = await store.enqueue(new_job(user, input=heavy, max_attempts=5))
    tight = settings.model_copy(update={"render_timeout_s": 0.01, "max_pdf_concurrency": 1})
    config = WorkerConfig(poll_ms=20, retry=RetryPolicy(base_s=0.05, cap_s=0.1))
    async with chromium_renderer(tight) as renderer:
        pipeline = JobPipeline(renderer, LocalStorage(tmp_path / "files"))
        worker = Worker(store, pipeline, pipeline.discard, config)
        task = asyncio.create_task(worker.run())
        try:
            await until(lambda: _ended(store, [job]), 30, "the job ended")
        finally:
            worker.stop()
            await asyncio.wait_for(task, 20)
    final = await store.get(job.id)
    assert final.status is JobStatus.FAILED
    assert final.attempts == 2  # once more after the first timeout, not five times
    assert final.error is not None and final.error.code == "render_timeout"
    assert "not retrying" in final.error.message


async def _run_until_final(
    store: JobStore, pipeline: JobPipeline, jobs: list[Job], deadline_s: float = 120
) -> list[Job]:
    """Run a worker (retrying quickly) until every job has ended; the jobs as they ended."""
    config = WorkerConfig(poll_ms=20, retry=RetryPolicy(base_s=0.05, cap_s=0.1))
    worker = Worker(store, pipeline, pipeline.discard, config)
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: _ended(store, jobs), deadline_s, "the jobs ended")
    finally:
        worker.stop()
        await asyncio.wait_for(task, 30)
    return [await store.get(j.id) for j in jobs]


RENDER_ENGINES = ["chromium", "weasyprint"]


@pytest.mark.parametrize("render_engine", RENDER_ENGINES)
async def test_a_render_over_the_memory_limit_fails_its_job_the_second_time_and_the_worker_goes_on(
    render_engine: str, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    """320 KB of HTML whose image decodes to 243 MB, under a render memory limit of 400 MB:
    Chromium's browser is killed by the memory watch, WeasyPrint's process runs out of its
    address space. Like a timeout, the first time may be a busy machine and is retried; the
    second fails the job with render_memory_exceeded. The job beside it succeeds."""
    store = job_store_for(engine)
    user = await new_user(engine, "m@example.com")
    bomb = await store.enqueue(new_job(user, input=huge_image(), type=JobType.HTML, max_attempts=5))
    plain = await store.enqueue(new_job(user, input="# After the bomb"))
    limited = settings.model_copy(
        update={
            "render_engine": render_engine,
            "render_memory_limit_mb": 400,
            "max_pdf_concurrency": 1,
        }
    )
    async with renderer_from_settings(limited) as renderer:
        pipeline = JobPipeline(renderer, LocalStorage(tmp_path / "files"))
        failed, done = await _run_until_final(store, pipeline, [bomb, plain])
    assert failed.status is JobStatus.FAILED and failed.attempts == 2
    assert failed.error is not None and failed.error.code == "render_memory_exceeded"
    assert "memory limit" in failed.error.message and "not retrying" in failed.error.message
    assert done.status is JobStatus.SUCCEEDED


@pytest.mark.parametrize("render_engine", RENDER_ENGINES)
async def test_a_pdf_over_the_plans_file_limit_fails_its_job_at_once(
    render_engine: str, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    """A plan allowing 1 MB files and a document whose PDF is far larger (Chromium: 30 MB
    of SVG noise; WeasyPrint: an incompressible image): the render stops at the limit and
    the job fails after one attempt, naming the plan."""
    store = job_store_for(engine)
    user = await new_user(engine, "f@example.com")
    tiny = replace(BUILTIN_PLANS["starter"], name="tiny", max_file_bytes=1_000_000, watermark=False)
    document = noise_pages(1) + noise_image(700)
    job = await store.enqueue(new_job(user, input=document, type=JobType.HTML, plan="tiny"))
    update = {"render_engine": render_engine, "max_pdf_concurrency": 1}
    async with renderer_from_settings(settings.model_copy(update=update)) as renderer:
        pipeline = JobPipeline(renderer, LocalStorage(tmp_path / "files"), plans={"tiny": tiny})
        (failed,) = await _run_until_final(store, pipeline, [job])
    assert failed.status is JobStatus.FAILED and failed.attempts == 1
    assert failed.error is not None and failed.error.code == "file_too_large"
    # Stopped at the limit, so its full size is never known (test_render_limits.py checks
    # that the rest is never held either).
    assert failed.error.message == (
        "the PDF is larger than 1000000 bytes; plan tiny allows 1000000"
    )
    assert list((tmp_path / "files").rglob("*.pdf")) == []


@pytest.mark.parametrize("render_engine", RENDER_ENGINES)
async def test_a_render_the_engine_refuses_every_time_fails_its_job_after_one_attempt(
    render_engine: str, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    """What reaches the renderer and fails the same way each time is not retried: margins
    wider than the page on Chromium (invalid_input on options.margin), a font size
    WeasyPrint divides by zero on (render_refused)."""
    store = job_store_for(engine)
    user = await new_user(engine, "d@example.com")
    if render_engine == "chromium":
        wide = {side: "200mm" for side in ("top", "right", "bottom", "left")}
        job = await store.enqueue(
            new_job(user, input="<p>x</p>", type=JobType.HTML, options={"margin": wide})
        )
        code = "invalid_input"
    else:
        document = "<p style='font-size: 1e30px'>x</p>"
        job = await store.enqueue(new_job(user, input=document, type=JobType.HTML))
        code = "render_refused"
    update = {"render_engine": render_engine, "max_pdf_concurrency": 1}
    async with renderer_from_settings(settings.model_copy(update=update)) as renderer:
        pipeline = JobPipeline(renderer, LocalStorage(tmp_path / "files"))
        (failed,) = await _run_until_final(store, pipeline, [job])
    assert failed.status is JobStatus.FAILED and failed.attempts == 1
    assert failed.error is not None and failed.error.code == code
