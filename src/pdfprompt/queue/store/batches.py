"""Batches in the job store: many jobs queued in one transaction with the month's quota
reserved for all of them or none, their counts (one GROUP BY on the partial index of batch
jobs), cancelling them together, and the pass that marks a batch completed exactly once and
writes its `batch.completed` deliveries in the same transaction.

A part of `SharedJobStore` (like `files.py`): it runs on the store's engine and dialect.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    Integer,
    Select,
    String,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdfprompt.db import (
    batches,
    db_now,
    files,
    jobs,
    now_plus,
    usage_counters,
    webhook_deliveries,
    webhooks,
    write_transaction,
)
from pdfprompt.domain import (
    Batch,
    BatchCounts,
    BatchState,
    ConflictError,
    Job,
    JobStage,
    JobStatus,
    NotFoundError,
    new_batch_id,
)
from pdfprompt.queue.events import JobEvents
from pdfprompt.queue.store import statements as sql
from pdfprompt.queue.store.protocol import DialectQueries, Refused
from pdfprompt.queue.store.records import BatchFile, BatchPage, NewBatch
from pdfprompt.queue.store.rows import file_from_mapping, job_from_row, job_values

AnyRow = Mapping[str, Any] | RowMapping
BATCH_COMPLETED = "batch.completed"
COMPLETE_AT_ONCE = 100  # batches the completion pass marks per transaction
ACTIVE = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


class _Store(Protocol):
    engine: AsyncEngine
    dialect: DialectQueries
    events: JobEvents


# -- statements ---------------------------------------------------------------


def reserve_many(upsert: Any) -> Any:
    """Reserve `q_count` PDFs in the period's counter row (made on first use) unless that
    passes `q_limit`: one conditional upsert, as `statements.reserve_quota` does for one."""
    limit = bindparam("q_limit", type_=Integer)
    count = bindparam("q_count", type_=Integer)
    counters = usage_counters.c
    return (
        upsert(usage_counters)
        .values(
            user_id=bindparam("q_user_id", type_=String),
            period=bindparam("q_period", type_=String),
            reserved=count,
            used=0,
        )
        .on_conflict_do_update(
            index_elements=["user_id", "period"],
            set_={"reserved": counters.reserved + count},
            where=or_(limit.is_(None), counters.reserved + counters.used + count <= limit),
        )
        .returning(counters.reserved, counters.used, counters.warned_at)
    )


def batch_records(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The column names of job rows and each row's values in that order, as the driver
    takes them (options as JSON text)."""
    names = list(rows[0])
    at = names.index("options")
    records = []
    for row in rows:
        values = [row[n] for n in names]
        values[at] = json.dumps(values[at])
        records.append(tuple(values))
    return names, records


def counts_of(batch_ids: Sequence[str]) -> Select[Any]:
    """Jobs per batch and status, with the last end time: one GROUP BY on the batch index."""
    return (
        select(
            jobs.c.batch_id,
            jobs.c.status,
            func.count().label("n"),
            func.max(jobs.c.finished_at).label("last_finished_at"),
        )
        .where(jobs.c.batch_id.in_(list(batch_ids)))
        .group_by(jobs.c.batch_id, jobs.c.status)
    )


def batch_from_row(
    row: Mapping[str, Any] | RowMapping, tally: Mapping[str, int], last: Any
) -> Batch:
    return Batch(
        id=row["id"],
        user_id=row["user_id"],
        total=row["total"],
        state=BatchState(row["state"]),
        filename=row["filename"],
        created_at=row["created_at"],
        counts=BatchCounts(**{s: tally.get(s, 0) for s in BatchCounts.__slots__}),
        template_id=row["template_id"],
        template_version=row["template_version"],
        finished_at=row["finished_at"],
        canceled_at=row["canceled_at"],
        last_finished_at=last,
    )


# -- the store's part ---------------------------------------------------------


class JobBatches:
    """The batch queries of `SharedJobStore`."""

    async def enqueue_batch(self: _Store, new: NewBatch) -> tuple[Batch, bool]:
        """Insert the batch and all its jobs, reserving `len(jobs)` PDFs, in one
        transaction; the batch and whether it is new (False: an earlier batch with the same
        idempotency key, and nothing was added)."""
        if new.idempotency_key is not None:
            found = await _batch_by_key(self, new.user_id, new.idempotency_key)
            if found is not None:
                return await JobBatches.get_batch(self, found, new.user_id), False
        batch_id = new_batch_id()
        rows = []
        for n, (job, name) in enumerate(zip(new.jobs, new.names, strict=True)):
            values = job_values(job)
            values.update(batch_id=batch_id, batch_row=n, batch_name=name)
            rows.append(values)
        limit = new.quota_limit
        if new.quota_period is not None and limit is not None and len(rows) > limit:
            from pdfprompt.queue.store.shared import quota_exceeded

            raise quota_exceeded(new.quota_period, new.quota_limit)
        reserve = None
        if new.quota_period is not None:
            reserve = {
                "q_user_id": new.user_id,
                "q_period": new.quota_period,
                "q_limit": new.quota_limit,
                "q_count": len(rows),
            }
        values = {
            "id": batch_id,
            "user_id": new.user_id,
            "total": len(rows),
            "state": BatchState.OPEN.value,
            "filename": new.filename,
            "template_id": new.template_id,
            "template_version": new.template_version,
            "idempotency_key": new.idempotency_key,
        }
        try:
            await self.dialect.insert_batch(values, rows, reserve)
        except Refused as refused:
            if refused.quota:
                from pdfprompt.queue.store.shared import quota_exceeded

                assert new.quota_period is not None
                raise quota_exceeded(new.quota_period, new.quota_limit) from None
            # The same idempotency key, committed by a concurrent request meanwhile.
            found = None
            if new.idempotency_key is not None:
                found = await _batch_by_key(self, new.user_id, new.idempotency_key)
            if found is None:
                raise ConflictError(
                    "the batch could not be added: a unique constraint refused it"
                ) from None
            return await JobBatches.get_batch(self, found, new.user_id), False
        return await JobBatches.get_batch(self, batch_id, new.user_id), True

    async def get_batch(self: _Store, batch_id: str, user_id: str) -> Batch:
        """The user's batch with its counts; `NotFoundError` otherwise."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(batches).where(batches.c.id == batch_id, batches.c.user_id == user_id)
                )
            ).first()
            if row is None:
                raise NotFoundError(f"batch {batch_id} not found")
            found = await _with_counts(conn, [row._mapping])
        return found[0]

    async def list_batches(
        self: _Store, user_id: str, *, limit: int, cursor: str | None
    ) -> BatchPage:
        """The user's batches newest first; `cursor` is the last id of the previous page."""
        query = select(batches).where(batches.c.user_id == user_id)
        if cursor:
            query = query.where(batches.c.id < cursor)
        query = query.order_by(batches.c.id.desc()).limit(limit + 1)
        async with self.engine.connect() as conn:
            rows = [r._mapping for r in (await conn.execute(query)).all()]
            items = await _with_counts(conn, rows[:limit])
        return BatchPage(items, items[-1].id if len(rows) > limit else None)

    async def batch_jobs(
        self: _Store,
        batch_id: str,
        user_id: str,
        *,
        status: JobStatus | None,
        limit: int,
        after_row: int | None,
    ) -> tuple[list[Job], int | None]:
        """The batch's jobs in row order (each with `extra["batch_row"]`), of `status` when
        given, after row `after_row`; and the row to continue after, if there is more."""
        await JobBatches.get_batch(self, batch_id, user_id)  # NotFoundError first
        query = sql.select_jobs().add_columns(jobs.c.batch_row)
        query = query.where(jobs.c.batch_id == batch_id, jobs.c.user_id == user_id)
        if status is not None:
            query = query.where(jobs.c.status == status.value)
        if after_row is not None:
            query = query.where(jobs.c.batch_row > after_row)
        query = query.order_by(jobs.c.batch_row).limit(limit + 1)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        items = [job_from_row(r, batch_id=batch_id, batch_row=r.batch_row) for r in rows[:limit]]
        more = items[-1].extra["batch_row"] if len(rows) > limit else None
        return items, more

    async def batch_files(self: _Store, batch_id: str, user_id: str) -> list[BatchFile]:
        """The files of the batch's succeeded jobs in row order, with their archive names."""
        await JobBatches.get_batch(self, batch_id, user_id)
        query = (
            select(jobs.c.batch_row, jobs.c.batch_name, *sql.FILE_COLUMNS)
            .select_from(jobs.join(files, files.c.id == jobs.c.file_id))
            .where(
                jobs.c.batch_id == batch_id,
                jobs.c.user_id == user_id,
                sql.status_is(JobStatus.SUCCEEDED),
            )
            .order_by(jobs.c.batch_row)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            BatchFile(
                r.batch_row, r.batch_name or f"{r.batch_row}.pdf", file_from_mapping(r._mapping)
            )
            for r in rows
        ]

    async def cancel_batch(self: _Store, batch_id: str, user_id: str) -> Batch:
        """Cancel every job of the batch not yet ended (a running one's worker loses it at
        once; each cancelled job's reservation is released by the quota triggers) and mark
        the batch canceled unless it already ended. Repeating it changes nothing."""
        await JobBatches.get_batch(self, batch_id, user_id)
        changed: list[str] = []
        async with write_transaction(self.engine) as conn:
            stopped = (
                update(jobs)
                .where(
                    jobs.c.batch_id == batch_id,
                    jobs.c.user_id == user_id,
                    jobs.c.status.in_(ACTIVE),
                )
                .values(
                    status=JobStatus.CANCELED.value,
                    stage=JobStage.DONE.value,
                    lease_owner=None,
                    lease_expires_at=None,
                    finished_at=db_now(),
                    updated_at=db_now(),
                )
                .returning(jobs.c.id)
            )
            changed.extend((await conn.execute(stopped)).scalars())
            # A batch whose jobs had all ended already is complete (the pass marks it), not
            # canceled; one cancelled again stays as it is.
            if changed:
                await conn.execute(
                    update(batches)
                    .where(batches.c.id == batch_id, batches.c.state == BatchState.OPEN.value)
                    .values(
                        state=BatchState.CANCELED.value,
                        canceled_at=db_now(),
                        finished_at=db_now(),
                    )
                )
                await self.dialect.notify_changed(conn, changed)
        self.events.publish(changed)
        return await JobBatches.get_batch(self, batch_id, user_id)

    async def complete_batches(self: _Store, *, limit: int = COMPLETE_AT_ONCE) -> list[str]:
        """Mark open batches whose jobs have all ended `completed`, each exactly once (a
        conditional UPDATE), and write their `batch.completed` deliveries to the endpoints
        subscribed, in the same transaction; the ids marked."""
        done: list[str] = []
        candidates = (
            select(batches.c.id, batches.c.user_id)
            .where(
                batches.c.state == literal_column(f"'{BatchState.OPEN.value}'"),
                ~_has_active(batches.c.id),
            )
            .order_by(batches.c.id)
            .limit(limit)
        )
        async with write_transaction(self.engine) as conn:
            for batch_id, user_id in (await conn.execute(candidates)).all():
                marked = await conn.execute(
                    update(batches)
                    .where(batches.c.id == batch_id, batches.c.state == BatchState.OPEN.value)
                    .values(state=BatchState.COMPLETED.value, finished_at=db_now())
                )
                if marked.rowcount != 1:
                    continue
                done.append(batch_id)
                await _write_deliveries(conn, user_id, batch_id)
        return done

    async def prune_batches(self: _Store, older_than_s: float, *, limit: int = 500) -> int:
        """Delete up to `limit` ended batches (completed or canceled) made over
        `older_than_s` ago none of whose jobs is left (retention pruned them, or their owner
        deleted them); one short transaction. How many it deleted."""
        gone = (
            select(batches.c.id)
            .where(
                batches.c.state != BatchState.OPEN.value,
                batches.c.created_at < now_plus(-older_than_s),
                ~exists(select(jobs.c.id).where(jobs.c.batch_id == batches.c.id)),
            )
            .limit(limit)
        )
        async with write_transaction(self.engine) as conn:
            done = await conn.execute(
                delete(batches).where(batches.c.id.in_(gone.scalar_subquery()))
            )
        return int(done.rowcount or 0)


def _has_active(batch_id: Any) -> Any:
    return exists(select(jobs.c.id).where(jobs.c.batch_id == batch_id, jobs.c.status.in_(ACTIVE)))


async def _write_deliveries(conn: AsyncConnection, user_id: str, batch_id: str) -> None:
    hooks = await conn.execute(
        select(webhooks.c.id, webhooks.c.events).where(
            webhooks.c.user_id == user_id, webhooks.c.disabled_at.is_(None)
        )
    )
    rows = [
        {"webhook_id": h.id, "user_id": user_id, "event": BATCH_COMPLETED, "subject": batch_id}
        for h in hooks
        if BATCH_COMPLETED in (h.events or ())
    ]
    if rows:
        await conn.execute(insert(webhook_deliveries), rows)


async def _batch_by_key(store: _Store, user_id: str, key: str) -> str | None:
    async with store.engine.connect() as conn:
        found: str | None = (
            await conn.execute(
                select(batches.c.id).where(
                    batches.c.user_id == user_id, batches.c.idempotency_key == key
                )
            )
        ).scalar_one_or_none()
    return found


async def _with_counts(
    conn: AsyncConnection, rows: Sequence[Mapping[str, Any] | RowMapping]
) -> list[Batch]:
    if not rows:
        return []
    tally: dict[str, dict[str, int]] = {r["id"]: {} for r in rows}
    last: dict[str, datetime | None] = {}
    for batch_id, status, n, finished in (await conn.execute(counts_of(list(tally)))).all():
        tally[batch_id][status] = n
        if finished is not None and (last.get(batch_id) is None or finished > last[batch_id]):
            last[batch_id] = finished
    return [batch_from_row(r, tally[r["id"]], last.get(r["id"])) for r in rows]
