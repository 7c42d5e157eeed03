"""The job store: every query on the jobs table, as named functions.

The jobs table is the single source of truth. Claiming is the only statement
that differs by dialect (`PostgresJobStore` locks with `FOR UPDATE SKIP
LOCKED`, `SqliteJobStore` takes SQLite's write lock up front with `BEGIN
IMMEDIATE`); everything after a claim is fenced by `lease_owner` so that a
worker that lost its lease cannot change the job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, case, delete, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdfprompt.db import db_now, files, is_sqlite, jobs, now_plus, write_transaction
from pdfprompt.domain import (
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


def _select_jobs() -> Select[Any]:
    return select(*_JOB_COLUMNS, *_FILE_COLUMNS).select_from(
        jobs.outerjoin(files, files.c.id == jobs.c.file_id)
    )


class JobStore:
    """Queries on jobs shared by both dialects; build one with `job_store_for(engine)`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

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
                await self._after_enqueue(conn)
        except IntegrityError as exc:
            if new.idempotency_key is None:
                raise
            existing = await self._find_by_idempotency_key(new.user_id, new.idempotency_key)
            if existing is None:
                raise
            raise DuplicateJobError(
                "a job with this Idempotency-Key exists", existing_job_id=existing
            ) from exc
        return _job_from_row(row)  # as inserted, before any worker can change it

    async def _after_enqueue(self, conn: AsyncConnection) -> None:
        """Hook for wake-ups sent in the enqueue transaction (PostgreSQL NOTIFY)."""

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

    async def count_by_status(self) -> dict[str, int]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status))
            ).all()
        return {status: count for status, count in rows}

    # -- claiming and leases ----------------------------------------------------

    def _claimable(self, limit: int) -> Select[Any]:
        return (
            select(jobs.c.id)
            .where(jobs.c.status == JobStatus.QUEUED.value, jobs.c.run_after <= db_now())
            .order_by(jobs.c.priority.desc(), jobs.c.run_after, jobs.c.id)
            .limit(limit)
        )

    async def claim_jobs(self, worker_id: str, limit: int, lease_s: float) -> list[Job]:
        """Take up to `limit` due jobs for `worker_id`, leased for `lease_s` seconds."""
        if limit <= 0:
            return []
        claim = (
            update(jobs)
            .where(jobs.c.id.in_(self._claimable(limit).scalar_subquery()))
            .values(
                status=JobStatus.RUNNING.value,
                stage=JobStage.GENERATING.value,
                progress=0.0,
                lease_owner=worker_id,
                lease_expires_at=now_plus(lease_s),
                attempts=jobs.c.attempts + 1,
                started_at=func.coalesce(jobs.c.started_at, db_now()),
                updated_at=db_now(),
            )
            .returning(jobs.c.id)
        )
        async with write_transaction(self.engine) as conn:
            ids = list((await conn.execute(claim)).scalars())
        if not ids:
            return []
        async with self.engine.connect() as conn:
            rows = (await conn.execute(_select_jobs().where(jobs.c.id.in_(ids)))).all()
        claimed = [_job_from_row(r) for r in rows]
        claimed.sort(key=lambda j: (-j.priority, j.id))
        return claimed

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
        async with write_transaction(self.engine) as conn:
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
            )
            requeued = await conn.execute(
                update(jobs).where(expired).values(**_back_in_queue(run_after=db_now()))
            )
        return failed.rowcount + requeued.rowcount

    async def release_jobs(self, worker_id: str) -> int:
        """Hand every job `worker_id` still runs straight back to the queue (shutdown)."""
        async with write_transaction(self.engine) as conn:
            result = await conn.execute(
                update(jobs)
                .where(jobs.c.lease_owner == worker_id, jobs.c.status == JobStatus.RUNNING.value)
                .values(
                    **_back_in_queue(run_after=db_now()),
                    # The attempt did not fail: give it back.
                    attempts=case((jobs.c.attempts > 0, jobs.c.attempts - 1), else_=0),
                )
            )
        return result.rowcount

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
        async with write_transaction(self.engine) as conn:
            result = await conn.execute(
                update(jobs).where(self._owned(job_id, worker_id)).values(**values)
            )
        if result.rowcount != 1:
            raise LeaseLostError(f"job {job_id} is no longer owned by {worker_id}")

    async def finish_job(
        self, job_id: str, worker_id: str, user_id: str, stored: StoredFile
    ) -> str:
        """Record the file and mark the job succeeded, only if `worker_id` still owns it."""
        file_id = new_id()
        async with write_transaction(self.engine) as conn:
            owned = (
                await conn.execute(select(jobs.c.id).where(self._owned(job_id, worker_id)))
            ).first()
            if owned is None:
                raise LeaseLostError(f"job {job_id} is no longer owned by {worker_id}")
            try:
                await conn.execute(
                    insert(files).values(
                        id=file_id,
                        user_id=user_id,
                        job_id=job_id,
                        storage_key=stored.storage_key,
                        content_type=stored.content_type,
                        filename=stored.filename,
                        size_bytes=stored.size_bytes,
                        pages=stored.pages,
                        sha256=stored.sha256,
                    )
                )
            except IntegrityError as exc:  # another attempt already recorded a file
                raise LeaseLostError(f"job {job_id} already has a file") from exc
            result = await conn.execute(
                update(jobs)
                .where(self._owned(job_id, worker_id))
                .values(
                    status=JobStatus.SUCCEEDED.value,
                    stage=JobStage.DONE.value,
                    progress=1.0,
                    file_id=file_id,
                    error_code=None,
                    error_message=None,
                    lease_owner=None,
                    lease_expires_at=None,
                    finished_at=db_now(),
                    updated_at=db_now(),
                )
            )
            if result.rowcount != 1:
                raise LeaseLostError(f"job {job_id} is no longer owned by {worker_id}")
        return file_id

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
        async with write_transaction(self.engine) as conn:
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
        async with write_transaction(self.engine) as conn:
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

    def _claimable(self, limit: int) -> Select[Any]:
        return super()._claimable(limit).with_for_update(skip_locked=True)

    async def _after_enqueue(self, conn: AsyncConnection) -> None:
        await conn.execute(select(func.pg_notify(self.CHANNEL, "")))


def job_store_for(engine: AsyncEngine) -> JobStore:
    return SqliteJobStore(engine) if is_sqlite(engine) else PostgresJobStore(engine)
