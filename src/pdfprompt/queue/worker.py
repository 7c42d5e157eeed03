"""The worker loop: claim by free slots, run, finish fenced, heartbeat, reap.

The worker knows nothing of rendering: it runs a `JobHandler` that turns a
claimed job into a stored file. It claims only as many jobs as it has free
slots and claims again as soon as one frees, so no batch waits for its
slowest job. A slot frees when the handler returns: the outcome is recorded
while the next job already runs (the job keeps its lease until then, so a
crash in between only means the job runs again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from pdfprompt.db import is_unavailable
from pdfprompt.domain import (
    Generator,
    Job,
    JobError,
    JobStage,
    LeaseLostError,
    PdfPromptError,
    RetryPolicy,
    log_context,
    new_id,
    retry_decision,
    set_log_stage,
)
from pdfprompt.queue.completions import COMPLETION_BATCH, Completions
from pdfprompt.queue.maintenance import Sleep, retention_pass, run_every
from pdfprompt.queue.metrics import QueueMetrics
from pdfprompt.queue.store import Finished, JobStore, StoredFile
from pdfprompt.queue.wakeup import Wakeup

log = logging.getLogger(__name__)

T = TypeVar("T")
RECORD_RETRY_S = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
CLAIM_GATHER_S = 0.002  # wait this long for more slots before claiming for a few
RECHECK_AFTER_END_S = 0.02  # after a short claim, look again this soon when a job ends
SETTLING_LIMIT = 2 * COMPLETION_BATCH  # outcomes waiting to be recorded before claiming pauses
# A job's stage as its log lines name it (`finish`, the PDF's finishing steps, is set by the
# pipeline; `record`, its outcome being written, by the worker).
LOG_STAGES = {
    JobStage.GENERATING: "generate",
    JobStage.RENDERING: "render",
    JobStage.CHECKING: "check",
    JobStage.REPAIRING: "repair",
    JobStage.STORING: "store",
    JobStage.DONE: "record",
}


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{new_id()[-12:]}"


@dataclass
class JobContext:
    """Given to the handler: the job and a throttled way to report stage and progress."""

    job: Job
    worker_id: str
    store: JobStore
    metrics: QueueMetrics | None = None
    min_interval_s: float = 0.25
    _last_write: float = field(default=0.0, init=False)
    _stage: JobStage = field(default=JobStage.GENERATING, init=False)
    _stage_started: float = field(default_factory=time.monotonic, init=False)

    async def report(
        self, stage: JobStage, progress: float, generator: Generator | None = None
    ) -> None:
        """Write stage/progress. A new stage is written at once; progress within a stage at
        most every `min_interval_s` (a few writes a second), so streams stay cheap."""
        now = time.monotonic()
        set_log_stage(LOG_STAGES.get(stage, stage.value))
        new_stage = stage != self._stage
        if not new_stage and generator is None and now - self._last_write < self.min_interval_s:
            return
        await self.store.set_stage(self.job.id, self.worker_id, stage, progress, generator)
        self._last_write = now
        if new_stage:
            self.end_stage(now)
            self._stage = stage

    def end_stage(self, now: float | None = None) -> None:
        """Record how long the current stage took."""
        now = time.monotonic() if now is None else now
        if self.metrics is not None:
            self.metrics.stage_duration.labels(self._stage.value).observe(now - self._stage_started)
        self._stage_started = now


JobHandler = Callable[[JobContext], Awaitable[StoredFile]]
Discard = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    concurrency: int = 8
    batch_size: int = 8
    lease_s: float = 30.0
    poll_ms: int = 1000
    shutdown_grace_s: float = 30.0
    per_user_cap: int = 10
    cancel_check_s: float = 0.5
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Files are deleted once older than their owner's plan keeps them (plan -> days),
    # checked every `retention_every_s`.
    retention_days: dict[str, int] = field(default_factory=dict)
    retention_every_s: float = 300.0
    # Ended jobs without a file are deleted this long after they ended (0: kept).
    job_retention_s: float = 0.0


class Worker:
    """Runs jobs from a `JobStore` until stopped (or, in burst mode, until the queue is empty)."""

    def __init__(
        self,
        store: JobStore,
        handler: JobHandler,
        discard: Discard,
        config: WorkerConfig,
        *,
        wakeup: Wakeup | None = None,
        worker_id: str | None = None,
        metrics: QueueMetrics | None = None,
        maintenance: Sequence[tuple[float, Callable[[], Awaitable[object]]]] = (),
        maintenance_sleep: Sleep = asyncio.sleep,
    ) -> None:
        """`maintenance`: (every seconds, work) run in the background while the worker runs
        (not in burst mode), its own retention pass among them; a failing run is logged and
        tried again next time. `maintenance_sleep`: what waits between runs (a test's clock
        may stand in for time)."""
        self.store = store
        self.maintenance = list(maintenance)
        self.maintenance_sleep = maintenance_sleep
        self.handler = handler
        self.discard = discard
        self.config = config
        self.wakeup = wakeup or Wakeup()
        self.worker_id = worker_id or new_worker_id()
        self.metrics = metrics or QueueMetrics()
        self.metrics.running.set_function(lambda: float(len(self._busy)))
        # Jobs this worker owns (handler running or outcome being recorded), and the subset
        # whose handler is running: those take the `concurrency` slots.
        self._active: dict[str, asyncio.Task[None]] = {}
        self._busy: set[str] = set()
        self._lost: set[str] = set()
        self._finishing: set[str] = set()
        self._maybe_more = True
        self._completions = Completions(self._finish_batch, self._discard)
        self._pending_wake: asyncio.TimerHandle | None = None
        self._stopping = asyncio.Event()
        self.completed = 0

    def stop(self) -> None:
        """Stop claiming; `run` then drains for up to the grace period."""
        self._stopping.set()
        self.wakeup.notify()

    @property
    def active_jobs(self) -> int:
        return len(self._active)

    def _free_slots(self) -> int:
        if len(self._active) - len(self._busy) >= SETTLING_LIMIT:
            return 0  # the database is behind on recording outcomes: let it catch up
        return self.config.concurrency - len(self._busy)

    async def run(self, *, burst: bool = False) -> None:
        helpers = [
            asyncio.create_task(self._heartbeat(), name="pdfprompt-heartbeat"),
            asyncio.create_task(self._watch_lost(), name="pdfprompt-watch"),
        ]
        if not burst:
            helpers += [
                asyncio.create_task(
                    run_every(every_s, work, sleep=self.maintenance_sleep),
                    name="pdfprompt-maintenance",
                )
                for every_s, work in self._maintenance()
            ]
        try:
            await self._claim_loop(burst)
        finally:
            await self._drain()
            for task in helpers:
                task.cancel()
            for task in helpers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _claim_loop(self, burst: bool) -> None:
        poll_s = self.config.poll_ms / 1000
        next_reap = 0.0
        while not self._stopping.is_set():
            self.metrics.loop_turned.set_to_current_time()  # the worker's liveness
            if time.monotonic() >= next_reap:
                await self._reap()
                next_reap = time.monotonic() + max(1.0, self.config.lease_s / 2)
            free = self._free_slots()
            claimed: list[Job] = []
            if free > 0:
                try:
                    claimed = await self.store.claim_jobs(
                        self.worker_id,
                        min(free, self.config.batch_size),
                        self.config.lease_s,
                        per_user_cap=self.config.per_user_cap,
                    )
                except Exception as exc:
                    log.warning("claim failed (%s); retrying after the poll interval", exc)
            for job in claimed:
                self.metrics.claimed.inc()
                self.metrics.pickup_latency.observe(max(0.0, job.extra.get("pickup_s", 0.0)))
                self._start(job)
            if burst and not claimed and not self._active:
                return
            # A full batch means more may be waiting: slots that free up claim again soon.
            # A short one means the queue (or the users' caps) ran dry: only new work, a
            # rate-limited re-check after a job ends, or the poll wakes the loop.
            self._maybe_more = free > 0 and len(claimed) == min(free, self.config.batch_size)
            if self._maybe_more and self._free_slots() > 0:
                continue  # slots are free and there may be more: claim again at once
            await self.wakeup.wait(poll_s)

    async def _reap(self) -> None:
        try:
            n = await self.store.requeue_expired()
            self.metrics.set_depth(await self.store.queue_depth())
        except Exception as exc:
            log.warning("reaping expired leases failed (%s)", exc)
            return
        if n:
            self.metrics.lease_expiries.inc(n)
            log.warning("returned %d jobs with expired leases to the queue", n)

    def _maintenance(self) -> list[tuple[float, Callable[[], Awaitable[object]]]]:
        """The background work: the retention pass (always: it deletes template previews
        left behind; files and ended jobs when configured), and what was handed in."""
        return [*self.maintenance, (self.config.retention_every_s, self._retention_pass)]

    async def _retention_pass(self) -> None:
        config = self.config
        await retention_pass(
            self.store, self._discard, config.retention_days, config.job_retention_s
        )

    def _start(self, job: Job) -> None:
        task = asyncio.create_task(self._run_job(job), name=f"pdfprompt-job-{job.id}")
        self._active[job.id] = task
        self._busy.add(job.id)

        def _done(_t: asyncio.Task[None]) -> None:
            self._active.pop(job.id, None)
            self._finishing.discard(job.id)
            if job.id in self._busy:
                self._busy.discard(job.id)
                self._slot_freed()
            elif len(self._active) - len(self._busy) == SETTLING_LIMIT - 1:
                self._slot_freed()  # recording caught up: claiming may resume
            elif not self._maybe_more and self._free_slots() > 0:
                # Its outcome is recorded: the job no longer counts against its user's cap of
                # running jobs, which is what a short claim most often met (one user's batch).
                # Look again soon rather than at the next poll.
                self._slot_freed()

        task.add_done_callback(_done)

    def _slot_freed(self) -> None:
        """Wake the claim loop for a freed slot, gathering slots into fewer, larger claims:
        at once when half a batch is free and more work is likely, else after a short delay
        (a job that ended may have made room under its user's cap)."""
        free = self._free_slots()
        half_batch = max(1, min(self.config.batch_size, self.config.concurrency) // 2)
        if self._maybe_more and free >= half_batch:
            self.wakeup.notify()
        elif self._pending_wake is None:
            delay_s = CLAIM_GATHER_S if self._maybe_more else RECHECK_AFTER_END_S
            self._pending_wake = asyncio.get_running_loop().call_later(delay_s, self._wake_later)

    def _wake_later(self) -> None:
        self._pending_wake = None
        self.wakeup.notify()

    async def _run_job(self, job: Job) -> None:
        # Every line written while the job runs, by any library, names it (the job runs in a
        # task of its own: what it sets stays with it).
        with log_context(
            job_id=job.id,
            user_id=job.user_id,
            worker_id=self.worker_id,
            attempt=job.attempts,
            stage=LOG_STAGES[JobStage.GENERATING],
            request_id=job.request_id,
        ):
            await self._run_job_logged(job)

    async def _run_job_logged(self, job: Job) -> None:
        started = time.monotonic()
        ctx = JobContext(job=job, worker_id=self.worker_id, store=self.store, metrics=self.metrics)
        try:
            try:
                stored = await self.handler(ctx)
            finally:
                self._busy.discard(job.id)
                self._slot_freed()
        except asyncio.CancelledError:
            if job.id in self._lost:  # cancelled by its owner or taken over: stop quietly
                self._lost.discard(job.id)
                self.metrics.canceled.inc()
                log.info("job %s stopped: it was cancelled or taken over", job.id)
                return
            raise
        except LeaseLostError:
            log.info("job %s was lost (cancelled or taken over); dropping it", job.id)
            return
        except PdfPromptError as exc:
            wait_s = getattr(exc, "retry_after_s", None)
            await self._fail(
                job, JobError(exc.code, exc.message), transient=exc.transient, wait_s=wait_s
            )
            return
        except Exception as exc:
            if is_unavailable(exc):
                log.warning("job %s: the database was unavailable (%s)", job.id, exc)
                error = JobError("unavailable", "the database was unavailable; will retry")
            else:
                log.exception("job %s failed unexpectedly", job.id)
                message = f"unexpected {type(exc).__name__} while running the job"
                error = JobError("internal", message)
            await self._fail(job, error, transient=True)
            return
        # From here the job's outcome is being recorded: the lost-job watcher must not take
        # a job that its own completion just made "not running" for a cancelled one.
        self._finishing.add(job.id)
        set_log_stage(LOG_STAGES[JobStage.DONE])
        try:
            file_id = await self._completions.finish(Finished(job.id, job.user_id, stored))
        except Exception as exc:
            # The commit may or may not have happened, so the file stays: removing it could
            # leave a succeeded job without its PDF. An unreferenced one is an orphan.
            log.warning(
                "job %s: could not record its result (%s); if it was not recorded, its "
                "lease expires and it runs again",
                job.id,
                exc,
            )
            return
        if file_id is None:
            log.info("job %s was lost before it finished; discarding its file", job.id)
            for key in stored.discarded_keys():
                await self._discard(key)
            return
        ctx.end_stage()
        self.completed += 1
        self.metrics.succeeded.inc()
        log.info(
            "job %s succeeded in %.0f ms (attempt %d, %d pages)",
            job.id,
            (time.monotonic() - started) * 1000,
            job.attempts,
            stored.pages,
        )

    async def _record(self, write: Callable[[], Awaitable[T]]) -> T:
        """Run a write that ends a job, retrying while the database is unavailable (a
        restart or failover takes seconds); other errors are raised at once."""
        for delay_s in RECORD_RETRY_S:
            try:
                return await write()
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                log.warning("database unavailable (%s); retrying in %.1f s", exc, delay_s)
                await asyncio.sleep(delay_s)
        return await write()

    async def _finish_batch(self, done: list[Finished]) -> dict[str, str | None]:
        return await self._record(lambda: self.store.finish_jobs(self.worker_id, done))

    async def _discard(self, storage_key: str) -> None:
        try:
            await self.discard(storage_key)
        except Exception:
            log.exception("could not remove %s; it is an orphan now", storage_key)

    async def _fail(
        self, job: Job, error: JobError, *, transient: bool, wait_s: float | None = None
    ) -> None:
        """Record a failed attempt. `wait_s`: the error says when to try again (every LLM key
        cooling down); the job waits that long and the attempt does not count."""
        self._finishing.add(job.id)  # see _run_job: recording an outcome is not a loss
        set_log_stage(LOG_STAGES[JobStage.DONE])
        give_back = wait_s is not None and transient
        if give_back:
            delay: float | None = wait_s
        else:
            retry = retry_decision(
                transient=transient, attempts=job.attempts, max_attempts=job.max_attempts
            )
            delay = self.config.retry.delay_s(job.attempts) if retry else None
        try:
            await self._record(
                lambda: self.store.fail_job(
                    job.id, self.worker_id, error, retry_in_s=delay, give_back_attempt=give_back
                )
            )
        except LeaseLostError:
            log.info("job %s was lost before its failure was recorded", job.id)
            return
        except Exception as exc:
            log.warning(
                "job %s: could not record its failure (%s); its lease will expire "
                "and it will run again",
                job.id,
                exc,
            )
            return
        if delay is None:
            self.metrics.failed.labels(error.code).inc()
        else:
            self.metrics.retried.inc()
        outcome = f"retry in {delay:.1f} s" if delay is not None else "failed"
        log.warning(
            "job %s attempt %d: %s: %s (%s)",
            job.id,
            job.attempts,
            error.code,
            error.message,
            outcome,
        )

    async def _heartbeat(self) -> None:
        interval = max(0.5, self.config.lease_s / 3)
        while True:
            await asyncio.sleep(interval)
            if not self._active:
                continue
            try:
                await self.store.renew_leases(self.worker_id, self.config.lease_s)
            except Exception:
                log.exception("lease renewal failed; retrying")

    async def _watch_lost(self) -> None:
        """Stop, within about `cancel_check_s`, jobs this worker no longer owns."""
        while True:
            await asyncio.sleep(self.config.cancel_check_s)
            if not self._active:
                continue
            try:
                lost = await self.store.lost_jobs(self.worker_id, list(self._active))
            except Exception as exc:
                log.warning("checking for cancelled jobs failed (%s)", exc)
                continue
            for job_id in lost - self._finishing:
                task = self._active.get(job_id)
                if task is not None and not task.done():
                    self._lost.add(job_id)
                    task.cancel()

    async def _drain(self) -> None:
        """Let running jobs finish within the grace period, then hand the rest back."""
        if self._active:
            _, pending = await asyncio.wait(
                list(self._active.values()), timeout=self.config.shutdown_grace_s
            )
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        with contextlib.suppress(Exception):
            released = await self.store.release_jobs(self.worker_id)
            if released:
                log.warning("handed %d unfinished jobs back to the queue", released)
