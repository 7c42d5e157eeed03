"""The job store: every query on the jobs table, as named functions.

The jobs table is the single source of truth. Claiming is the only statement
that differs by dialect (`PostgresJobStore` locks with `FOR UPDATE SKIP
LOCKED`, `SqliteJobStore` takes SQLite's write lock up front with `BEGIN
IMMEDIATE`); everything after a claim is fenced by `lease_owner` so that a
worker that lost its lease cannot change the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    Select,
    String,
    and_,
    any_,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdfprompt.db import (
    db_now,
    files,
    is_sqlite,
    jobs,
    now_plus,
    seconds_between,
    seconds_since,
    write_transaction,
)
from pdfprompt.domain import (
    FINAL_STATUSES,
    ConflictError,
    DuplicateJobError,
    FileInfo,
    Generator,
    Job,
    JobError,
    JobStage,
    JobStatus,
    JobType,
    LeaseLostError,
    NotFoundError,
    new_id,
)
from pdfprompt.queue.events import JobEvents

log = logging.getLogger(__name__)

NOTIFY_PAYLOAD_BYTES = 7900

_JOB_COLUMNS = [c for c in jobs.c if c.name != "input"] + [jobs.c.input]
_FILE_COLUMNS = [
    files.c.id.label("f_id"),
    files.c.size_bytes.label("f_size_bytes"),
    files.c.pages.label("f_pages"),
    files.c.filename.label("f_filename"),
    files.c.storage_key.label("f_storage_key"),
    files.c.content_type.label("f_content_type"),
]


@dataclass(frozen=True, slots=True)
class NewJob:
    user_id: str
    type: JobType
    input: str
    options: dict[str, Any]
    max_attempts: int
    priority: int = 0
    idempotency_key: str | None = None
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class StoredFile:
    """What the worker kept in storage for one attempt."""

    storage_key: str
    size_bytes: int
    pages: int
    sha256: str
    filename: str
    content_type: str = "application/pdf"


@dataclass(frozen=True, slots=True)
class Finished:
    """A job a worker completed, with the file it stored."""

    job_id: str
    user_id: str
    stored: StoredFile


@dataclass(frozen=True, slots=True)
class JobPage:
    items: list[Job]
    next_cursor: str | None


def _file_from_row(row: Row[Any]) -> FileInfo:
    m = row._mapping
    return FileInfo(
        id=m["f_id"],
        size_bytes=m["f_size_bytes"],
        pages=m["f_pages"],
        filename=m["f_filename"],
        storage_key=m["f_storage_key"],
        content_type=m["f_content_type"],
    )


def _job_from_row(row: Row[Any]) -> Job:
    m = row._mapping
    file = _file_from_row(row) if m.get("f_id") is not None else None
    return Job(
        id=m["id"],
        user_id=m["user_id"],
        type=JobType(m["type"]),
        input=m["input"],
        options=dict(m["options"] or {}),
        status=JobStatus(m["status"]),
        stage=JobStage(m["stage"]),
        progress=float(m["progress"]),
        attempts=m["attempts"],
        max_attempts=m["max_attempts"],
        priority=m["priority"],
        created_at=m["created_at"],
        error=JobError(m["error_code"], m["error_message"] or "") if m["error_code"] else None,
        generator=Generator(m["generator"]) if m["generator"] else None,
        idempotency_key=m["idempotency_key"],
        lease_owner=m["lease_owner"],
        lease_expires_at=m["lease_expires_at"],
        run_after=m["run_after"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        updated_at=m["updated_at"],
        file=file,
    )


@dataclass(frozen=True, slots=True)
class WindowStats:
    window_s: float
    succeeded: int
    failed: int
    canceled: int
    p50_s: float | None
    p95_s: float | None

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed + self.canceled

    @property
    def per_hour(self) -> float:
        return self.finished * 3600 / self.window_s

    @property
    def error_rate(self) -> float | None:
        ended = self.succeeded + self.failed
        return self.failed / ended if ended else None


def _percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _back_in_queue(*, run_after: Any) -> dict[str, Any]:
    """Column values that return a job to the queue, due at `run_after`."""
    return {
        "status": JobStatus.QUEUED.value,
        "stage": JobStage.QUEUED.value,
        "progress": 0.0,
        "lease_owner": None,
        "lease_expires_at": None,
        "run_after": run_after,
        "updated_at": db_now(),
    }


def _running_per_user() -> Any:
    """Running jobs per user (`user_id`, `n`), counted on the partial index of running rows."""
    return (
        select(jobs.c.user_id, func.count().label("n"))
        .where(jobs.c.status == JobStatus.RUNNING.value)
        .group_by(jobs.c.user_id)
        .subquery("running")
    )


def _select_jobs() -> Select[Any]:
    return select(*_JOB_COLUMNS, *_FILE_COLUMNS).select_from(
        jobs.outerjoin(files, files.c.id == jobs.c.file_id)
    )


class JobStore:
    """Queries on jobs shared by both dialects; build one with `job_store_for(engine)`."""

    def __init__(self, engine: AsyncEngine, events: JobEvents | None = None) -> None:
        self.engine = engine
        self.events = events or JobEvents()
        self._claim: Any = None

    @contextlib.asynccontextmanager
    async def _write(self, changed: list[str] | None = None) -> AsyncIterator[AsyncConnection]:
        """A write transaction. Ids the caller adds to `changed` are announced: to other
        processes inside the transaction (PostgreSQL NOTIFY), to this one after commit."""
        async with write_transaction(self.engine) as conn:
            yield conn
            if changed:
                await self._notify_changed(conn, changed)
        if changed:
            self.events.publish(changed)

    async def _notify_changed(self, conn: AsyncConnection, job_ids: Sequence[str]) -> None:
        """Hook: tell other processes of changed jobs (PostgreSQL NOTIFY)."""

    # -- submission and reading -------------------------------------------------

    async def enqueue(self, new: NewJob) -> Job:
        """Insert a queued job; a repeated idempotency key raises `DuplicateJobError`."""
        values = {
            "id": new_id(),
            "user_id": new.user_id,
            "type": new.type.value,
            "input": new.input,
            "options": new.options,
            "status": JobStatus.QUEUED.value,
            "stage": JobStage.QUEUED.value,
            "max_attempts": new.max_attempts,
            "priority": new.priority,
            "idempotency_key": new.idempotency_key,
            "parent_id": new.parent_id,
        }
        try:
            async with write_transaction(self.engine) as conn:
                row = (await conn.execute(insert(jobs).values(**values).returning(*jobs.c))).one()
                announced = await self._announce_enqueue(conn)
        except IntegrityError as exc:
            if new.idempotency_key is None:
                raise
            existing = await self._find_by_idempotency_key(new.user_id, new.idempotency_key)
            if existing is None:
                raise
            raise DuplicateJobError(
                "a job with this Idempotency-Key exists", existing_job_id=existing
            ) from exc
        if not announced:
            self._announce_later()
        return _job_from_row(row)  # as inserted, before any worker can change it

    async def _announce_enqueue(self, conn: AsyncConnection) -> bool:
        """Hook: wake workers in the enqueue transaction (PostgreSQL NOTIFY). False means
        not now: `_announce_later` runs after the commit."""
        return True

    def _announce_later(self) -> None:
        """Hook: wake workers soon, after a commit that `_announce_enqueue` left unannounced."""

    async def _find_by_idempotency_key(self, user_id: str, key: str) -> str | None:
        async with self.engine.connect() as conn:
            return (
                await conn.execute(
                    select(jobs.c.id).where(
                        jobs.c.user_id == user_id, jobs.c.idempotency_key == key
                    )
                )
            ).scalar_one_or_none()

    async def get(self, job_id: str, user_id: str | None = None) -> Job:
        """The job; `NotFoundError` when it does not exist or is not `user_id`'s."""
        query = _select_jobs().where(jobs.c.id == job_id)
        if user_id is not None:
            query = query.where(jobs.c.user_id == user_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise NotFoundError(f"job {job_id} not found")
        return _job_from_row(row)

    async def list_jobs(
        self, user_id: str, *, status: JobStatus | None, limit: int, cursor: str | None
    ) -> JobPage:
        """A user's jobs newest first; `cursor` is the last id of the previous page."""
        query = _select_jobs().where(jobs.c.user_id == user_id)
        if status is not None:
            query = query.where(jobs.c.status == status.value)
        if cursor:
            query = query.where(jobs.c.id < cursor)
        query = query.order_by(jobs.c.id.desc()).limit(limit + 1)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        items = [_job_from_row(r) for r in rows[:limit]]
        return JobPage(items, items[-1].id if len(rows) > limit else None)

    # -- claiming and leases ----------------------------------------------------

    def _claimable(self, limit: Any, per_user_cap: Any) -> Select[Any]:
        """Due jobs in claim order, interleaving users, within each user's running cap.

        Each queued job is ranked within its user and priority; claiming takes rank 1 of every
        user before rank 2 of any, so one user's backlog never holds another user's job back.
        A user's rank plus the jobs they already run must stay within `per_user_cap`.
        """
        rank = (
            func.row_number()
            .over(
                partition_by=(jobs.c.user_id, jobs.c.priority),
                order_by=(jobs.c.run_after, jobs.c.id),
            )
            .label("rank")
        )
        ranked = (
            select(jobs.c.id, jobs.c.user_id, jobs.c.priority, jobs.c.run_after, rank)
            .where(jobs.c.status == JobStatus.QUEUED.value, jobs.c.run_after <= db_now())
            .subquery("ranked")
        )
        running = _running_per_user()
        return (
            select(ranked.c.id)
            .select_from(ranked.outerjoin(running, running.c.user_id == ranked.c.user_id))
            .where(ranked.c.rank + func.coalesce(running.c.n, 0) <= per_user_cap)
            .order_by(ranked.c.priority.desc(), ranked.c.rank, ranked.c.run_after, ranked.c.id)
            .limit(limit)
        )

    def _lock_claimable(self, candidates: Select[Any]) -> Select[Any]:
        """The candidates still queued; PostgreSQL also locks them, skipping locked rows."""
        return select(jobs.c.id).where(
            jobs.c.id.in_(candidates.scalar_subquery()),
            jobs.c.status == JobStatus.QUEUED.value,
        )

    async def _serialize_claims(self, conn: AsyncConnection) -> None:
        """Hook: make claims one at a time across processes (SQLite: BEGIN IMMEDIATE does)."""

    def _claim_statement(self) -> Any:
        """The claim UPDATE, built once; limit, cap, owner and lease are bound per call."""
        if self._claim is None:
            limit = bindparam("claim_limit", type_=Integer)
            cap = bindparam("per_user_cap", type_=Integer)
            # A CTE is planned and run once; as a plain IN-subquery the planner may re-run
            # the locking scan for every queued row (seen on tables with no statistics yet).
            chosen = self._lock_claimable(self._claimable(limit, cap)).cte("claimable")
            self._claim = (
                update(jobs)
                .where(
                    jobs.c.id.in_(select(chosen.c.id)),
                    jobs.c.status == JobStatus.QUEUED.value,
                )
                .values(
                    status=JobStatus.RUNNING.value,
                    stage=JobStage.GENERATING.value,
                    progress=0.0,
                    lease_owner=bindparam("worker_id", type_=String),
                    lease_expires_at=now_plus(bindparam("lease_s", type_=Float)),
                    attempts=jobs.c.attempts + 1,
                    started_at=func.coalesce(jobs.c.started_at, db_now()),
                    updated_at=db_now(),
                )
                .returning(*jobs.c, seconds_since(jobs.c.run_after).label("waited_s"))
            )
        return self._claim

    async def claim_jobs(
        self, worker_id: str, limit: int, lease_s: float, *, per_user_cap: int = 1_000_000
    ) -> list[Job]:
        """Take up to `limit` due jobs for `worker_id`, leased for `lease_s` seconds."""
        if limit <= 0:
            return []
        params = {
            "claim_limit": limit,
            "per_user_cap": per_user_cap,
            "worker_id": worker_id,
            "lease_s": float(lease_s),
        }
        changed: list[str] = []
        async with self._write(changed) as conn:
            await self._serialize_claims(conn)
            rows = (await conn.execute(self._claim_statement(), params)).all()
            changed.extend(r.id for r in rows)
        # `extra["pickup_s"]`: seconds from the job being due to this claim.
        found = [replace(_job_from_row(r), extra={"pickup_s": float(r.waited_s)}) for r in rows]
        found.sort(key=lambda j: (-j.priority, j.id))
        return found

    async def lost_jobs(self, worker_id: str, job_ids: Sequence[str]) -> set[str]:
        """Those of `job_ids` that `worker_id` no longer runs (cancelled, expired, taken over)."""
        if not job_ids:
            return set()
        async with self.engine.connect() as conn:
            still = set(
                (
                    await conn.execute(
                        select(jobs.c.id).where(
                            jobs.c.id.in_(list(job_ids)),
                            jobs.c.lease_owner == worker_id,
                            jobs.c.status == JobStatus.RUNNING.value,
                        )
                    )
                ).scalars()
            )
        return set(job_ids) - still

    async def window_stats(self, window_s: float) -> WindowStats:
        """Jobs that ended in the last `window_s` seconds: counts and latency percentiles."""
        since = now_plus(-window_s)
        query = select(jobs.c.status, seconds_between(jobs.c.created_at, jobs.c.finished_at)).where(
            jobs.c.finished_at.is_not(None), jobs.c.finished_at >= since
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        counts = {s.value: 0 for s in FINAL_STATUSES}
        latencies: list[float] = []
        for status, seconds in rows:
            counts[status] = counts.get(status, 0) + 1
            if status == JobStatus.SUCCEEDED.value:
                latencies.append(float(seconds))
        latencies.sort()
        return WindowStats(
            window_s=window_s,
            succeeded=counts[JobStatus.SUCCEEDED.value],
            failed=counts[JobStatus.FAILED.value],
            canceled=counts[JobStatus.CANCELED.value],
            p50_s=_percentile(latencies, 0.50),
            p95_s=_percentile(latencies, 0.95),
        )

    async def queue_depth(self) -> dict[str, int]:
        """Queued and running jobs; counted on their partial indexes, not the whole table."""
        statuses = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
        counts = [
            select(func.count()).select_from(jobs).where(jobs.c.status == s).scalar_subquery()
            for s in statuses
        ]
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(*counts))).one()
        return dict(zip(statuses, row, strict=True))

    async def renew_leases(self, worker_id: str, lease_s: float) -> int:
        """Extend every lease `worker_id` holds, in one statement."""
        async with write_transaction(self.engine) as conn:
            result = await conn.execute(
                update(jobs)
                .where(jobs.c.lease_owner == worker_id, jobs.c.status == JobStatus.RUNNING.value)
                .values(lease_expires_at=now_plus(lease_s))
            )
        return result.rowcount

    async def requeue_expired(self) -> int:
        """Put running jobs whose lease ran out back in the queue, or fail them if out of tries."""
        expired = and_(jobs.c.status == JobStatus.RUNNING.value, jobs.c.lease_expires_at < db_now())
        changed: list[str] = []
        async with self._write(changed) as conn:
            failed = await conn.execute(
                update(jobs)
                .where(expired, jobs.c.attempts >= jobs.c.max_attempts)
                .values(
                    status=JobStatus.FAILED.value,
                    stage=JobStage.DONE.value,
                    error_code="lease_expired",
                    error_message="the worker running this job stopped answering",
                    lease_owner=None,
                    lease_expires_at=None,
                    finished_at=db_now(),
                    updated_at=db_now(),
                )
                .returning(jobs.c.id)
            )
            changed.extend(failed.scalars())
            requeued = await conn.execute(
                update(jobs)
                .where(expired)
                .values(**_back_in_queue(run_after=db_now()))
                .returning(jobs.c.id)
            )
            changed.extend(requeued.scalars())
        return len(changed)

    async def release_jobs(self, worker_id: str) -> int:
        """Hand every job `worker_id` still runs straight back to the queue (shutdown)."""
        changed: list[str] = []
        async with self._write(changed) as conn:
            result = await conn.execute(
                update(jobs)
                .where(jobs.c.lease_owner == worker_id, jobs.c.status == JobStatus.RUNNING.value)
                .values(
                    **_back_in_queue(run_after=db_now()),
                    # The attempt did not fail: give it back.
                    attempts=case((jobs.c.attempts > 0, jobs.c.attempts - 1), else_=0),
                )
                .returning(jobs.c.id)
            )
            changed.extend(result.scalars())
        return len(changed)

    # -- fenced updates by the owning worker ------------------------------------

    def _owned(self, job_id: str, worker_id: str) -> Any:
        return and_(
            jobs.c.id == job_id,
            jobs.c.lease_owner == worker_id,
            jobs.c.status == JobStatus.RUNNING.value,
        )

    async def set_stage(
        self,
        job_id: str,
        worker_id: str,
        stage: JobStage,
        progress: float,
        generator: Generator | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "stage": stage.value,
            "progress": progress,
            "updated_at": db_now(),
        }
        if generator is not None:
            values["generator"] = generator.value
        async with self._write([job_id]) as conn:
            result = await conn.execute(
                update(jobs).where(self._owned(job_id, worker_id)).values(**values)
            )
            if result.rowcount != 1:
                raise LeaseLostError(f"job {job_id} is no longer owned by {worker_id}")

    async def finish_job(
        self, job_id: str, worker_id: str, user_id: str, stored: StoredFile
    ) -> str:
        """Record the file and mark the job succeeded, only if `worker_id` still owns it."""
        outcome = (await self.finish_jobs(worker_id, [Finished(job_id, user_id, stored)]))[job_id]
        if outcome is None:
            raise LeaseLostError(f"job {job_id} is no longer owned by {worker_id}")
        return outcome

    async def finish_jobs(self, worker_id: str, done: Sequence[Finished]) -> dict[str, str | None]:
        """Finish many jobs in one transaction, each fenced on its own: a job's file id, or
        None for a job `worker_id` no longer owns (its file row is not kept)."""
        rows: list[dict[str, Any]] = [
            {
                "id": new_id(),
                "user_id": d.user_id,
                "job_id": d.job_id,
                "storage_key": d.stored.storage_key,
                "content_type": d.stored.content_type,
                "filename": d.stored.filename,
                "size_bytes": d.stored.size_bytes,
                "pages": d.stored.pages,
                "sha256": d.stored.sha256,
            }
            for d in done
        ]
        file_of = {r["job_id"]: r["id"] for r in rows}
        ids = list(file_of)
        changed: list[str] = []
        async with self._write(changed) as conn:
            # File rows first (jobs point at them). A job that already has a file was
            # finished by another attempt: its row is skipped, and the fence below fails it.
            await conn.execute(self._insert_files_if_new(), rows)
            won = set(
                (
                    await conn.execute(
                        update(jobs)
                        .where(
                            jobs.c.id.in_(ids),
                            jobs.c.lease_owner == worker_id,
                            jobs.c.status == JobStatus.RUNNING.value,
                        )
                        .values(
                            status=JobStatus.SUCCEEDED.value,
                            stage=JobStage.DONE.value,
                            progress=1.0,
                            file_id=select(files.c.id)
                            .where(files.c.job_id == jobs.c.id)
                            .scalar_subquery(),
                            error_code=None,
                            error_message=None,
                            lease_owner=None,
                            lease_expires_at=None,
                            finished_at=db_now(),
                            updated_at=db_now(),
                        )
                        .returning(jobs.c.id)
                    )
                ).scalars()
            )
            lost = [file_of[j] for j in ids if j not in won]
            if lost:
                await conn.execute(delete(files).where(files.c.id.in_(lost)))
            changed.extend(won)
        return {j: (file_of[j] if j in won else None) for j in ids}

    def _insert_files_if_new(self) -> Any:
        return sqlite_insert(files).on_conflict_do_nothing(index_elements=["job_id"])

    async def fail_job(
        self, job_id: str, worker_id: str, error: JobError, *, retry_in_s: float | None
    ) -> JobStatus:
        """End an attempt with an error: queued again after `retry_in_s`, or failed for good."""
        values: dict[str, Any] = {
            "error_code": error.code,
            "error_message": error.message,
            "lease_owner": None,
            "lease_expires_at": None,
            "updated_at": db_now(),
        }
        if retry_in_s is None:
            status = JobStatus.FAILED
            values.update(status=status.value, stage=JobStage.DONE.value, finished_at=db_now())
        else:
            status = JobStatus.QUEUED
            values.update(_back_in_queue(run_after=now_plus(retry_in_s)))
        async with self._write([job_id]) as conn:
            result = await conn.execute(
                update(jobs).where(self._owned(job_id, worker_id)).values(**values)
            )
            if result.rowcount != 1:
                raise LeaseLostError(f"job {job_id} is no longer owned by {worker_id}")
        return status

    # -- user actions -----------------------------------------------------------

    async def cancel_job(self, job_id: str, user_id: str) -> Job:
        """Cancel a queued or running job; a running job's worker loses it at once (fencing)."""
        active = [JobStatus.QUEUED.value, JobStatus.RUNNING.value]
        async with self._write([job_id]) as conn:
            await conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.user_id == user_id, jobs.c.status.in_(active))
                .values(
                    status=JobStatus.CANCELED.value,
                    stage=JobStage.DONE.value,
                    lease_owner=None,
                    lease_expires_at=None,
                    finished_at=db_now(),
                    updated_at=db_now(),
                )
            )
        return await self.get(job_id, user_id)

    async def get_file(self, file_id: str, user_id: str) -> FileInfo:
        query = select(*_FILE_COLUMNS).where(files.c.id == file_id, files.c.user_id == user_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise NotFoundError(f"file {file_id} not found")
        return _file_from_row(row)

    async def delete_job(self, job_id: str, user_id: str) -> str | None:
        """Delete a finished job and its file row; returns the storage key to remove."""
        async with write_transaction(self.engine) as conn:
            row = (
                await conn.execute(
                    select(jobs.c.status, files.c.storage_key, files.c.id.label("file_id"))
                    .select_from(jobs.outerjoin(files, files.c.job_id == jobs.c.id))
                    .where(jobs.c.id == job_id, jobs.c.user_id == user_id)
                )
            ).first()
            if row is None:
                raise NotFoundError(f"job {job_id} not found")
            if not JobStatus(row.status).is_final:
                raise ConflictError(f"job {job_id} is {row.status}; cancel it before deleting")
            await conn.execute(delete(jobs).where(jobs.c.id == job_id))
            if row.file_id is not None:
                await conn.execute(delete(files).where(files.c.id == row.file_id))
        return row.storage_key  # type: ignore[no-any-return]

    async def files_of_jobs(self, job_ids: Sequence[str]) -> dict[str, int]:
        """How many file rows each job has (used by tests and checks: it must be 0 or 1)."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(files.c.job_id, func.count())
                    .where(files.c.job_id.in_(list(job_ids)))
                    .group_by(files.c.job_id)
                )
            ).all()
        return {job_id: count for job_id, count in rows}


class SqliteJobStore(JobStore):
    """SQLite: the claim runs in `BEGIN IMMEDIATE`, so two claimers never read the same rows."""


class PostgresJobStore(JobStore):
    """PostgreSQL: the claim locks its rows with `FOR UPDATE SKIP LOCKED`; enqueue NOTIFYs."""

    CHANNEL = "pdfprompt_jobs"
    EVENTS_CHANNEL = "pdfprompt_job_events"

    CLAIM_LOCK = 0x70646670  # advisory lock key: claims run one at a time, as on SQLite

    def _lock_claimable(self, candidates: Select[Any]) -> Select[Any]:
        # `= ANY(ARRAY(...))` runs the candidate query once and probes the primary key,
        # whatever the statistics say; skip rows another transaction holds.
        return (
            select(jobs.c.id)
            .where(
                jobs.c.id == any_(func.array(candidates.scalar_subquery())),
                jobs.c.status == JobStatus.QUEUED.value,
            )
            .with_for_update(skip_locked=True)
        )

    def _insert_files_if_new(self) -> Any:
        return pg_insert(files).on_conflict_do_nothing(index_elements=["job_id"])

    def _claimable(self, limit: Any, per_user_cap: Any) -> Select[Any]:
        """As on SQLite, but each user's slice is read by a LATERAL index scan that stops
        after the few jobs that user may start now, instead of ranking the whole backlog."""
        queued_users = (
            select(jobs.c.user_id)
            .where(jobs.c.status == JobStatus.QUEUED.value)
            .distinct()
            .subquery("queued_users")
        )
        running = _running_per_user()
        room = func.least(limit, per_user_cap - func.coalesce(running.c.n, 0))
        head = (
            select(jobs.c.id, jobs.c.priority, jobs.c.run_after)
            .where(
                jobs.c.status == JobStatus.QUEUED.value,
                jobs.c.user_id == queued_users.c.user_id,
                jobs.c.run_after <= db_now(),
            )
            .order_by(jobs.c.priority.desc(), jobs.c.run_after, jobs.c.id)
            .limit(func.greatest(room, 0))
            .lateral("head")
        )
        rank = func.row_number().over(
            partition_by=(queued_users.c.user_id, head.c.priority),
            order_by=(head.c.run_after, head.c.id),
        )
        heads = (
            select(head.c.id, head.c.priority, head.c.run_after, rank.label("rank"))
            .select_from(
                queued_users.outerjoin(running, running.c.user_id == queued_users.c.user_id).join(
                    head, true()
                )
            )
            .subquery("heads")
        )
        return (
            select(heads.c.id)
            .order_by(heads.c.priority.desc(), heads.c.rank, heads.c.run_after, heads.c.id)
            .limit(limit)
        )

    async def _serialize_claims(self, conn: AsyncConnection) -> None:
        # The per-user running cap is a count over other claims; serializing claims (held to
        # commit) makes each claim see every earlier one, so the cap holds across workers.
        await conn.execute(select(func.pg_advisory_xact_lock(self.CLAIM_LOCK)))

    NOTIFY_DEBOUNCE_S = 0.005

    def __init__(self, engine: AsyncEngine, events: JobEvents | None = None) -> None:
        super().__init__(engine, events)
        self._last_notify = 0.0
        self._trailing: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    async def _announce_enqueue(self, conn: AsyncConnection) -> bool:
        """NOTIFY idle workers at most once per debounce window per process. The first
        enqueue of a window notifies in its transaction; later ones share one trailing
        NOTIFY sent after their commits, so no submission goes unannounced."""
        now = time.monotonic()
        if now - self._last_notify < self.NOTIFY_DEBOUNCE_S:
            return False
        self._last_notify = now
        await conn.execute(select(func.pg_notify(self.CHANNEL, "")))
        return True

    def _announce_later(self) -> None:
        if self._trailing is None:
            self._trailing = asyncio.create_task(self._notify_later())
            self._background.add(self._trailing)
            self._trailing.add_done_callback(self._background.discard)

    async def _notify_later(self) -> None:
        try:
            await asyncio.sleep(self.NOTIFY_DEBOUNCE_S)
            self._trailing = None  # commits from here on schedule their own
            self._last_notify = time.monotonic()
            async with self.engine.begin() as conn:
                await conn.execute(select(func.pg_notify(self.CHANNEL, "")))
        except Exception as exc:  # the poll still finds the job
            self._trailing = None
            log.warning("trailing NOTIFY failed (%s)", exc)

    async def _notify_changed(self, conn: AsyncConnection, job_ids: Sequence[str]) -> None:
        # One notification carries many ids, comma-separated, under PostgreSQL's 8000-byte
        # payload limit: NOTIFY serializes commits, so fewer is cheaper.
        payloads, current = [], ""
        for job_id in job_ids:
            if current and len(current) + len(job_id) + 1 > NOTIFY_PAYLOAD_BYTES:
                payloads.append(current)
                current = ""
            current = f"{current},{job_id}" if current else job_id
        payloads.append(current)
        for payload in payloads:
            await conn.execute(select(func.pg_notify(self.EVENTS_CHANNEL, payload)))


def job_store_for(engine: AsyncEngine, events: JobEvents | None = None) -> JobStore:
    cls = SqliteJobStore if is_sqlite(engine) else PostgresJobStore
    return cls(engine, events)
