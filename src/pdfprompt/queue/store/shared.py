"""The job store both dialects share.

Every query that is the same on SQLite and PostgreSQL runs here: submission (quota
reservation and idempotency), reads, leases, fenced updates, user actions, and through its
parts the files (`files.py`), statistics (`stats.py`) and versions (`versions.py`). What
differs by dialect is handed to a `DialectQueries` (`sqlite.py`, `postgres.py`): the
hot-path statements that run straight on the driver, and how other processes hear of a
change. Statements come from `statements.py` and `claiming.py`; rows are mapped by
`rows.py`. What each method promises is written once, on the `JobStore` protocol
(`protocol.py`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdfprompt.db import DriverStatement, read_all, read_one, write_transaction
from pdfprompt.domain import (
    ConflictError,
    DuplicateJobError,
    Generator,
    Job,
    JobError,
    JobStage,
    JobStatus,
    JobType,
    LeaseLostError,
    NotFoundError,
    QuotaExceededError,
    period_bounds,
    period_of,
)
from pdfprompt.queue.events import JobEvents
from pdfprompt.queue.store import statements as sql
from pdfprompt.queue.store.batches import JobBatches
from pdfprompt.queue.store.files import StoredFiles, stored_keys
from pdfprompt.queue.store.protocol import DialectQueries, Refused
from pdfprompt.queue.store.records import DocumentPage, Finished, JobPage, NewJob, StoredFile
from pdfprompt.queue.store.rows import (
    decoded,
    job_from_mapping,
    job_from_row,
    job_values,
    summary_from_mapping,
)
from pdfprompt.queue.store.stats import QueueStats
from pdfprompt.queue.store.versions import JobVersions

NOTIFY_PAYLOAD_BYTES = 7900  # PostgreSQL refuses NOTIFY payloads of 8000 bytes or more
# Most jobs one claim or finish statement handles: their ids, comma-separated, fit in one
# NOTIFY payload (36-character ids).
MAX_BATCH = NOTIFY_PAYLOAD_BYTES // 37


def quota_exceeded(period: str, limit: int | None) -> QuotaExceededError:
    _, end = period_bounds(period)
    now = datetime.now(UTC)
    return QuotaExceededError(
        f"the plan's {limit} PDFs for {period} are used or reserved by jobs in flight; "
        f"the quota resets at {end.isoformat()}",
        reset_at=end.isoformat(),
        retry_after_s=max(1.0, (end - now).total_seconds()),
    )


class SharedJobStore(StoredFiles, QueueStats, JobVersions, JobBatches):
    """A `JobStore` on `engine`, with `dialect` doing what differs; build one with
    `job_store_for(engine)` (or `SqliteJobStore` / `PostgresJobStore`)."""

    def __init__(
        self, engine: AsyncEngine, dialect: DialectQueries, events: JobEvents | None = None
    ) -> None:
        self.engine = engine
        self.dialect = dialect
        self.events = events or JobEvents()
        self._documents_sql: dict[tuple[int, bool, bool, bool, bool], DriverStatement] = {}

    @contextlib.asynccontextmanager
    async def _write(self, changed: list[str] | None = None) -> AsyncIterator[AsyncConnection]:
        """A write transaction. Ids the caller adds to `changed` are announced: to other
        processes inside the transaction (the dialect's `notify_changed`), to this one after
        commit."""
        async with write_transaction(self.engine) as conn:
            yield conn
            if changed:
                await self.dialect.notify_changed(conn, changed)
        if changed:
            self.events.publish(changed)

    async def aclose(self) -> None:
        """Call before the engine is disposed: the dialect finishes what it still sends."""
        await self.dialect.aclose()

    # -- submission and reading -------------------------------------------------

    async def enqueue(self, new: NewJob) -> Job:
        if new.quota_period is not None and new.quota_limit == 0:
            raise quota_exceeded(new.quota_period, 0)
        reserve = None
        if new.quota_period is not None:
            reserve = {
                "q_user_id": new.user_id,
                "q_period": new.quota_period,
                "q_limit": new.quota_limit,
            }
        try:
            row, warn = await self.dialect.insert_job(job_values(new), reserve)
        except Refused as refused:
            if refused.quota:
                assert new.quota_period is not None
                raise quota_exceeded(new.quota_period, new.quota_limit) from None
            existing = None
            if new.idempotency_key is not None:
                existing = await self._find_by_idempotency_key(new.user_id, new.idempotency_key)
            if existing is None:
                raise ConflictError(
                    "the job could not be added: a unique constraint refused it"
                ) from None
            raise DuplicateJobError(
                "a job with this Idempotency-Key exists", existing_job_id=existing
            ) from None
        # As inserted, before any worker can change it.
        return job_from_mapping(row, {"quota_warning": True} if warn else None)

    async def _find_by_idempotency_key(self, user_id: str, key: str) -> str | None:
        async with self.engine.connect() as conn:
            query = sql.job_id_by_idempotency_key(user_id, key)
            found: str | None = (await conn.execute(query)).scalar_one_or_none()
        return found

    @cached_property
    def _get_sql(self) -> tuple[DriverStatement, DriverStatement]:
        """A job by id; a job by id and owner."""
        return (
            DriverStatement(sql.job_by_id(), self.engine),
            DriverStatement(sql.job_of_owner(), self.engine),
        )

    async def get(self, job_id: str, user_id: str | None = None) -> Job:
        """The job; `NotFoundError` when it does not exist or is not `user_id`'s. Users poll
        this, so it runs on the driver (db/driver.py; what that saves: docs/api.md)."""
        by_id, by_owner = self._get_sql
        if user_id is None:
            row = await read_one(self.engine, by_id, job_id=job_id)
        else:
            row = await read_one(self.engine, by_owner, job_id=job_id, user_id=user_id)
        if row is None:
            raise NotFoundError(f"job {job_id} not found")
        return job_from_mapping(decoded(row))

    async def list_jobs(
        self, user_id: str, *, status: JobStatus | None, limit: int, cursor: str | None
    ) -> JobPage:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sql.jobs_page(user_id, status, limit, cursor))).all()
        items = [job_from_row(r) for r in rows[:limit]]
        return JobPage(items, items[-1].id if len(rows) > limit else None)

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
        """A page of the history, on the driver (`read_all`): one round trip, with the
        statement of its filters' shape compiled once."""
        shape = (limit, status is not None, type is not None, bool(text), bool(cursor))
        statement = self._documents_sql.get(shape)
        if statement is None:
            query = sql.documents_page(
                limit, status=shape[1], type=shape[2], search=shape[3], after=shape[4]
            )
            statement = self._documents_sql[shape] = DriverStatement(query, self.engine)
        values = {
            "doc_user_id": user_id,
            "doc_status": None if status is None else status.value,
            "doc_type": None if type is None else type.value,
            "doc_pattern": sql.contains_pattern(text) if text else None,
            "doc_cursor": cursor,
        }
        rows = await read_all(self.engine, statement, **values)
        items = [summary_from_mapping(decoded(r)) for r in rows[:limit]]
        return DocumentPage(items, items[-1].id if len(rows) > limit else None)

    # -- claiming and leases ----------------------------------------------------

    async def claim_jobs(
        self, worker_id: str, limit: int, lease_s: float, *, per_user_cap: int = 1_000_000
    ) -> list[Job]:
        """Take up to `limit` due jobs for `worker_id`, leased for `lease_s` seconds."""
        if limit <= 0:
            return []
        params = {
            "claim_limit": min(limit, MAX_BATCH),
            "per_user_cap": per_user_cap,
            "worker_id": worker_id,
            "lease_s": float(lease_s),
        }
        rows = await self.dialect.claim_rows(params)
        self.events.publish([r["id"] for r in rows])
        # `extra["pickup_s"]`: seconds from the job being due to this claim.
        found = [job_from_mapping(r, {"pickup_s": float(r["waited_s"])}) for r in rows]
        found.sort(key=lambda j: (-j.priority, j.id))
        return found

    async def lost_jobs(self, worker_id: str, job_ids: Sequence[str]) -> set[str]:
        if not job_ids:
            return set()
        async with self.engine.connect() as conn:
            still = set((await conn.execute(sql.still_owned(worker_id, list(job_ids)))).scalars())
        return set(job_ids) - still

    async def renew_leases(self, worker_id: str, lease_s: float) -> int:
        async with write_transaction(self.engine) as conn:
            result = await conn.execute(sql.renew_leases(worker_id, lease_s))
        return result.rowcount

    async def requeue_expired(self) -> int:
        changed: list[str] = []
        async with self._write(changed) as conn:
            changed.extend((await conn.execute(sql.fail_expired())).scalars())
            changed.extend((await conn.execute(sql.requeue_expired())).scalars())
        return len(changed)

    async def release_jobs(self, worker_id: str) -> int:
        changed: list[str] = []
        async with self._write(changed) as conn:
            # The attempt did not fail: it is given back.
            changed.extend((await conn.execute(sql.release_jobs(worker_id))).scalars())
        return len(changed)

    # -- fenced updates by the owning worker ------------------------------------

    async def set_stage(
        self,
        job_id: str,
        worker_id: str,
        stage: JobStage,
        progress: float,
        generator: Generator | None = None,
    ) -> None:
        """Write a running job's stage and progress (and generator, when given), fenced on
        its owner. Called a few times a second per job: it runs on the driver."""
        params = {
            "stage_job_id": job_id,
            "worker_id": worker_id,
            "new_stage": stage.value,
            "new_progress": float(progress),
            "new_generator": generator.value if generator is not None else None,
        }
        if not await self.dialect.set_stage_row(params):
            raise LeaseLostError(f"job {job_id} is no longer owned by {worker_id}")
        self.events.publish([job_id])

    async def record_model_call(self, job: Job, model: str, duration_ms: int) -> None:
        params = {
            "m_user_id": job.user_id,
            "m_period": period_of(job.created_at),
            "m_job_id": job.id,
            "m_model": model[:32],
            "m_duration_ms": max(0, int(duration_ms)),
        }
        async with self._write() as conn:
            await conn.execute(sql.record_model_call(), params)

    async def finish_job(
        self, job_id: str, worker_id: str, user_id: str, stored: StoredFile
    ) -> str:
        outcome = (await self.finish_jobs(worker_id, [Finished(job_id, user_id, stored)]))[job_id]
        if outcome is None:
            raise LeaseLostError(f"job {job_id} is no longer owned by {worker_id}")
        return outcome

    async def finish_jobs(self, worker_id: str, done: Sequence[Finished]) -> dict[str, str | None]:
        outcome = await self.dialect.finish_jobs(worker_id, done)
        self.events.publish([j for j, f in outcome.items() if f is not None])
        return outcome

    async def fail_job(
        self,
        job_id: str,
        worker_id: str,
        error: JobError,
        *,
        retry_in_s: float | None,
        give_back_attempt: bool = False,
    ) -> JobStatus:
        status = JobStatus.FAILED if retry_in_s is None else JobStatus.QUEUED
        statement = sql.fail_attempt(
            job_id, worker_id, error, retry_in_s=retry_in_s, give_back_attempt=give_back_attempt
        )
        async with self._write([job_id]) as conn:
            if (await conn.execute(statement)).rowcount != 1:
                raise LeaseLostError(f"job {job_id} is no longer owned by {worker_id}")
        return status

    # -- user actions -----------------------------------------------------------

    async def cancel_job(self, job_id: str, user_id: str) -> Job:
        async with self._write([job_id]) as conn:
            await conn.execute(sql.cancel_job(job_id, user_id))
        return await self.get(job_id, user_id)

    async def delete_job(self, job_id: str, user_id: str) -> list[str]:
        async with write_transaction(self.engine) as conn:
            row = (await conn.execute(sql.job_and_file(job_id, user_id))).first()
            if row is None:
                raise NotFoundError(f"job {job_id} not found")
            if not JobStatus(row.status).is_final:
                raise ConflictError(f"job {job_id} is {row.status}; cancel it before deleting")
            await conn.execute(sql.delete_job(job_id))
            if row.file_id is not None:
                await conn.execute(sql.delete_file(row.file_id))
        return stored_keys([row])
