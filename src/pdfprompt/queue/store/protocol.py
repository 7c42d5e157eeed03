"""The job store's two contracts.

`JobStore`: what the worker, the pipeline, the API and the CLI use; both stores
(`SqliteJobStore`, `PostgresJobStore`) provide it, and tests/contract runs one suite against
both. `DialectQueries`: what a dialect supplies to the code both stores share
(`shared.SharedJobStore`), that is, everything that differs between SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from pdfprompt.domain import (
    Batch,
    FileInfo,
    Generator,
    Job,
    JobError,
    JobStage,
    JobStatus,
    JobType,
)
from pdfprompt.queue.events import JobEvents
from pdfprompt.queue.store.records import (
    BatchFile,
    BatchPage,
    CachedRender,
    DocumentPage,
    Finished,
    JobPage,
    NewBatch,
    NewJob,
    StoredFile,
)
from pdfprompt.queue.store.stats import HourStats, WindowStats


class JobStore(Protocol):
    """Every query on jobs and their files. Times come from the database clock; every write
    by a worker after its claim is fenced on `lease_owner`, so a worker that lost its lease
    cannot change the job. Each committed change is published to `events`."""

    @property
    def events(self) -> JobEvents: ...

    # -- submission and reading (the API) --

    async def enqueue(self, new: NewJob) -> Job:
        """Insert a queued job, reserving one PDF of the owner's quota in the same transaction
        (`new.quota_period`): `QuotaExceededError` when none is left, `DuplicateJobError`
        for a repeated idempotency key (and then nothing is reserved)."""
        ...

    async def get(self, job_id: str, user_id: str | None = None) -> Job:
        """The job; `NotFoundError` when it does not exist or is not `user_id`'s."""
        ...

    async def list_jobs(
        self, user_id: str, *, status: JobStatus | None, limit: int, cursor: str | None
    ) -> JobPage:
        """A user's jobs newest first; `cursor` is the last id of the previous page."""
        ...

    async def versions(self, job_id: str, user_id: str) -> list[Job]:
        """Every version of the user's document `job_id` belongs to, newest first: up
        through `parent_id` to the job that revises nothing (or whose parent was deleted),
        then that job and all its revisions, at most `versions.MAX_VERSIONS`;
        `NotFoundError` when `job_id` is not the user's."""
        ...

    async def queue_position(self, job_id: str) -> int | None:
        """How many queued jobs are claimed before this one, by the claim order (priority,
        then users taking turns), not counting running caps or retry delays; None when the
        job is not queued."""
        ...

    async def list_documents(
        self,
        user_id: str,
        *,
        status: JobStatus | None = None,
        type: JobType | None = None,
        text: str | None = None,
        limit: int,
        cursor: str | None = None,
    ) -> DocumentPage:
        """A user's history newest first, as its lines show it (title, status, type, date,
        pages, whether a thumbnail exists; never the input): of `status` and `type` when
        given, and whose title or start of input contains `text` (a `domain.search_key`,
        matched literally: `%` and `_` are no wildcards); `cursor` is the last id of the
        previous page."""
        ...

    async def cancel_job(self, job_id: str, user_id: str) -> Job:
        """Cancel a queued or running job; a running job's worker loses it at once (fencing)."""
        ...

    async def delete_job(self, job_id: str, user_id: str) -> list[str]:
        """Delete a finished job and its file row; returns the storage keys to remove (its
        PDF, kept HTML and thumbnail)."""
        ...

    async def get_file(self, file_id: str, user_id: str) -> FileInfo:
        """The user's file; `NotFoundError` when there is none."""
        ...

    # -- batches (the API; the completion pass) --

    async def enqueue_batch(self, new: NewBatch) -> tuple[Batch, bool]:
        """Insert a batch and all its jobs in one transaction, reserving one PDF per job
        (`QuotaExceededError` when they do not all fit: nothing is added); the batch and
        whether it is new (False: an earlier batch with the same idempotency key)."""
        ...

    async def get_batch(self, batch_id: str, user_id: str) -> Batch:
        """The user's batch with its jobs' counts by status; `NotFoundError` otherwise."""
        ...

    async def list_batches(self, user_id: str, *, limit: int, cursor: str | None) -> BatchPage:
        """The user's batches newest first; `cursor` is the last id of the previous page."""
        ...

    async def batch_jobs(
        self,
        batch_id: str,
        user_id: str,
        *,
        status: JobStatus | None,
        limit: int,
        after_row: int | None,
    ) -> tuple[list[Job], int | None]:
        """The batch's jobs in row order (`extra["batch_row"]`), of `status` when given,
        after row `after_row`; and the row to continue after when there are more."""
        ...

    async def batch_files(self, batch_id: str, user_id: str) -> list[BatchFile]:
        """The files of the batch's succeeded jobs in row order, with their archive names."""
        ...

    async def cancel_batch(self, batch_id: str, user_id: str) -> Batch:
        """Cancel every job of the batch not yet ended and mark it canceled (idempotent)."""
        ...

    async def complete_batches(self, *, limit: int = ...) -> list[str]:
        """Mark open batches whose jobs all ended `completed`, each exactly once, writing
        their `batch.completed` deliveries in the same transaction; the ids marked."""
        ...

    # -- claiming and leases (the worker) --

    async def claim_jobs(
        self, worker_id: str, limit: int, lease_s: float, *, per_user_cap: int = ...
    ) -> list[Job]:
        """Take up to `limit` due jobs for `worker_id`, leased for `lease_s` seconds, at most
        `per_user_cap` (or the plan's cap) running per user; `extra["pickup_s"]` is the
        seconds from each job being due to this claim."""
        ...

    async def lost_jobs(self, worker_id: str, job_ids: Sequence[str]) -> set[str]:
        """Those of `job_ids` that `worker_id` no longer runs (cancelled, expired, taken over)."""
        ...

    async def renew_leases(self, worker_id: str, lease_s: float) -> int:
        """Extend every lease `worker_id` holds, in one statement."""
        ...

    async def requeue_expired(self) -> int:
        """Put running jobs whose lease ran out back in the queue, or fail them if out of tries."""
        ...

    async def release_jobs(self, worker_id: str) -> int:
        """Hand every job `worker_id` still runs straight back to the queue (shutdown)."""
        ...

    # -- fenced updates by the owning worker --

    async def set_stage(
        self,
        job_id: str,
        worker_id: str,
        stage: JobStage,
        progress: float,
        generator: Generator | None = None,
    ) -> None:
        """Write a running job's stage and progress (and generator, when given);
        `LeaseLostError` when `worker_id` no longer owns it."""
        ...

    async def record_model_call(self, job: Job, model: str, duration_ms: int) -> None:
        """Add a call of a model that answered for `job` to its owner's usage history (kind
        `llm_call`, the model as its generator), in the period the job was submitted in."""
        ...

    async def finish_job(
        self, job_id: str, worker_id: str, user_id: str, stored: StoredFile
    ) -> str:
        """Record the file and mark the job succeeded, only if `worker_id` still owns it
        (else `LeaseLostError`); the file's id."""
        ...

    async def finish_jobs(self, worker_id: str, done: Sequence[Finished]) -> dict[str, str | None]:
        """Finish many jobs together, each fenced on its own: a job's file id, or None for a
        job `worker_id` no longer owns (its file row is not kept)."""
        ...

    async def fail_job(
        self,
        job_id: str,
        worker_id: str,
        error: JobError,
        *,
        retry_in_s: float | None,
        give_back_attempt: bool = False,
    ) -> JobStatus:
        """End an attempt with an error: queued again after `retry_in_s`, or failed for good.
        `give_back_attempt`: the attempt does not count (it waited on something outside the
        job, such as every LLM key cooling down)."""
        ...

    # -- files, render cache, retention (the pipeline and the maintenance passes) --

    async def cached_render(self, user_id: str, render_key: str) -> CachedRender | None:
        """The newest of `user_id`'s stored files made by an identical render, if any."""
        ...

    async def storage_used(self, user_id: str) -> int:
        """Bytes of the user's stored PDFs and assets."""
        ...

    async def database_time(self) -> datetime:
        """The database's clock, the one leases and retries are measured by."""
        ...

    async def referenced_keys(self, keys: Sequence[str]) -> set[str]:
        """Those of `keys` a file row points to (as its PDF, its kept HTML or its
        thumbnail)."""
        ...

    async def delete_expired_files(
        self, retention_days: Mapping[str, int], *, now: datetime, limit: int = 500
    ) -> list[str]:
        """Delete up to `limit` file rows older than their owner's plan keeps files
        (`retention_days`: plan -> days); their storage keys (PDF, kept HTML, thumbnail), to
        remove after this commits."""
        ...

    async def prune_jobs(self, older_than_s: float, *, limit: int = 500) -> int:
        """Delete up to `limit` ended jobs without a file that ended more than
        `older_than_s` ago; how many."""
        ...

    async def prune_batches(self, older_than_s: float, *, limit: int = 500) -> int:
        """Delete up to `limit` ended batches made more than `older_than_s` ago that have
        no job left; how many."""
        ...

    async def delete_stale_previews(
        self, older_than_s: float, *, limit: int = 500
    ) -> tuple[int, list[str]]:
        """Delete up to `limit` template previews' jobs made more than `older_than_s` ago
        with their files' rows; how many jobs, and the storage keys to remove after."""
        ...

    async def delete_user_documents(
        self, user_id: str, *, limit: int = 500
    ) -> tuple[int, list[str]]:
        """Delete up to `limit` of the user's jobs (any status) with their files' rows, or
        once none is left up to `limit` files left without a job, in one short transaction;
        how many rows went, and the storage keys to remove after it commits. Called until
        it deletes nothing (deleting a person's account)."""
        ...

    # -- statistics (the CLI, the metrics) --

    async def window_stats(self, window_s: float) -> WindowStats:
        """Jobs that ended in the last `window_s` seconds: counts and latency percentiles."""
        ...

    async def hourly_stats(self, hours: int) -> list[HourStats]:
        """Jobs that ended in each of the last `hours` hours by status, oldest hour first."""
        ...

    async def queue_depth(self) -> dict[str, int]:
        """Queued and running jobs, by status."""
        ...

    async def aclose(self) -> None:
        """Call before the engine is disposed."""
        ...


class Refused(Exception):
    """An enqueue refused inside its transaction (rolled back): no quota left, or the
    idempotency key was taken."""

    def __init__(self, *, quota: bool) -> None:
        super().__init__()
        self.quota = quota


class DialectQueries(Protocol):
    """What differs between SQLite and PostgreSQL, and nothing else:

    - the hot-path statements run straight on the driver (db/driver.py), each as one
      transaction: the claim (and how claims are serialized so per-user caps hold), the
      insert of a job with its quota reservation, a stage write, a batch of completions;
    - how other processes hear of a change: PostgreSQL NOTIFYs (inside the hot-path
      statements, and `notify_changed` for the others); SQLite has no other process to tell.

    Rows come back decoded (`rows.decoded`). None of these publishes to the in-process
    `JobEvents`: the shared store does that after commit.
    """

    async def claim_rows(self, params: dict[str, Any]) -> Sequence[Mapping[str, Any]]:
        """Run the claim statement with `params` (`claim_limit`, `per_user_cap`, `worker_id`,
        `lease_s`); the rows it changed (job columns and `waited_s`), committed."""
        ...

    async def insert_job(
        self, values: dict[str, Any], reserve: dict[str, Any] | None
    ) -> tuple[Mapping[str, Any], bool]:
        """Reserve (when `reserve` is given: `q_user_id`, `q_period`, `q_limit`), insert one
        job row and announce it, in one transaction; the row as inserted and whether this
        submission crossed the quota warning threshold (first time in the period). Raises
        `Refused` (rolled back)."""
        ...

    async def set_stage_row(self, params: dict[str, Any]) -> bool:
        """Run `statements.set_stage` with `params`; whether it changed the row (committed)."""
        ...

    async def finish_jobs(self, worker_id: str, done: Sequence[Finished]) -> dict[str, str | None]:
        """Add the file rows of the jobs `worker_id` still owns and mark those succeeded,
        each fenced on its own; a job's file id, or None where it was lost."""
        ...

    async def notify_changed(self, conn: AsyncConnection, job_ids: Sequence[str]) -> None:
        """Tell other processes of changed jobs, inside the transaction on `conn`."""
        ...

    async def insert_batch(
        self,
        batch: dict[str, Any],
        rows: Sequence[dict[str, Any]],
        reserve: dict[str, Any] | None,
    ) -> bool:
        """Insert a batch row (`batch`: column values) and all its jobs (`rows`: column
        values, the same columns in each), reserve `reserve["q_count"]` PDFs when given,
        and wake idle workers, in one transaction on the driver (a multi-row insert: COPY
        on PostgreSQL); whether the reservation crossed the quota warning threshold.
        Raises `Refused` (rolled back): no quota left, or the batch's idempotency key taken."""
        ...

    def upsert(self, table: Any) -> Any:
        """The dialect's INSERT for `table`, with `ON CONFLICT` (`statements.Upsert`)."""
        ...

    async def aclose(self) -> None:
        """Finish what the dialect still sends in the background."""
        ...
