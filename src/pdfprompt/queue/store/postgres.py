"""PostgreSQL: everything the job store does differently on PostgreSQL, in one place.

- Claiming. Each candidate is locked with `FOR UPDATE SKIP LOCKED` (a primary-key probe per
  candidate, LATERAL), so concurrent claimers skip each other's rows; claims are serialized
  by a transaction-scoped advisory lock so that the per-user cap, a count over other claims,
  holds across workers. A user's first jobs are a LATERAL index scan that stops at the
  user's room under the cap.
- Wake-ups and change events: an enqueue NOTIFYs `JOBS_CHANNEL` (at most once per
  `NOTIFY_DEBOUNCE_S` per process, with one trailing NOTIFY for the enqueues held back); every
  change NOTIFYs the changed ids on `EVENTS_CHANNEL`, from inside the hot-path statements
  themselves (no extra round trip). `wakeup.PostgresWakeup` listens.
- The hot path (claim, enqueue with its quota reservation, stage writes, completions) runs on
  the pooled connection's asyncpg connection (db/driver.py); a batch of completions is one
  statement (lock the jobs still owned, add their file rows, mark them succeeded).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import cached_property, partial
from typing import Any

from sqlalchemy import Select, String, any_, bindparam, func, select, true, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdfprompt.db import DriverStatement, driver_connection, driver_transaction, files, jobs
from pdfprompt.domain import JobStatus
from pdfprompt.queue.events import JobEvents
from pdfprompt.queue.store import statements as sql
from pdfprompt.queue.store.batches import batch_records, reserve_many
from pdfprompt.queue.store.claiming import claim_jobs, claimable, due_head, user_cap
from pdfprompt.queue.store.protocol import Refused
from pdfprompt.queue.store.records import Finished
from pdfprompt.queue.store.rows import crossed_warning, decoded, file_rows, insert_args
from pdfprompt.queue.store.shared import MAX_BATCH, NOTIFY_PAYLOAD_BYTES, SharedJobStore

log = logging.getLogger(__name__)

JOBS_CHANNEL = "pdfprompt_jobs"  # NOTIFY: jobs were enqueued (empty payload)
EVENTS_CHANNEL = "pdfprompt_job_events"  # NOTIFY: these jobs changed (comma-separated ids)
CLAIM_LOCK = 0x70646670  # advisory lock key: claims run one at a time, as on SQLite
NOTIFY_DEBOUNCE_S = 0.005
TRAILING_NOTIFY = "pdfprompt-trailing-notify"  # the task name of a debounced enqueue NOTIFY


async def finish_trailing_notifies() -> None:
    """Wait for this loop's debounced enqueue NOTIFYs to be sent. One still pending when its
    engine is disposed would open a connection on the disposed engine and leave it behind."""
    pending = [t for t in asyncio.all_tasks() if t.get_name() == TRAILING_NOTIFY]
    if pending:
        await asyncio.wait(pending, timeout=5)


# -- statements -----------------------------------------------------------------


def least(a: Any, b: Any) -> Any:
    return func.least(a, b)


def heads(
    users: Any, running: Any, limit: Any, per_user_cap: Any, *, plan_caps: Mapping[str, int]
) -> Any:
    """Per waiting user, a LATERAL index scan that stops after the jobs they may start:
    `limit`, less what the cap leaves them."""
    ran = func.coalesce(running.c.n, 0)
    cap = user_cap(users, per_user_cap, plan_caps, least)
    room = func.greatest(func.least(limit, cap - ran), 0)
    head = (
        due_head(users)
        .add_columns(jobs.c.user_id, jobs.c.priority, jobs.c.run_after)
        .limit(room)
        .lateral("head")
    )
    return (
        select(
            head.c.id,
            head.c.user_id,
            head.c.priority,
            head.c.run_after,
            ran.label("running"),
            cap.label("cap"),
        )
        .select_from(
            users.outerjoin(running, running.c.user_id == users.c.user_id).join(head, true())
        )
        .where(users.c.user_id.is_not(None))
        .subquery("heads")
    )


def lock_claimable(candidates: Select[Any]) -> Select[Any]:
    """The candidates still queued, each locked by a primary-key probe (LATERAL,
    `id = candidate`) so the plan does not depend on statistics (a fresh table has none and
    makes the partial index of queued rows look tiny); rows another transaction holds are
    skipped."""
    chosen = candidates.subquery("candidates")
    locked = (
        select(jobs.c.id)
        .where(jobs.c.id == chosen.c.id, sql.status_is(JobStatus.QUEUED))
        .with_for_update(skip_locked=True)
        .lateral("locked")
    )
    return select(locked.c.id).select_from(chosen.join(locked, true()))


def claim_candidates(
    limit: Any, per_user_cap: Any, plan_caps: Mapping[str, int] | None = None
) -> Select[Any]:
    """The ids a claim would lock and take, without taking them (what the claim's plan is
    checked on: tests/integration/test_claim_plan.py)."""
    return lock_claimable(
        claimable(partial(heads, plan_caps=dict(plan_caps or {})), limit, per_user_cap)
    )


def announced(changed: Any) -> Select[Any]:
    """`changed` (a CTE of changed rows with `id`) with one NOTIFY of all their ids, sent by
    the statement itself: no extra round trip. No rows, no notification."""
    notice = (
        select(func.pg_notify(EVENTS_CHANNEL, func.string_agg(changed.c.id, ",")).label("notified"))
        .select_from(changed)
        .having(func.count() > 0)
        .cte("notice")
    )
    return select(changed, notice.c.notified).select_from(changed.join(notice, true()))


def finish_batch() -> Select[Any]:
    """Finish a batch in one statement: lock the jobs the bound `worker_id` still owns of
    `job_ids`, add their file rows (bound as one array per column, `file_<column>`), mark
    them succeeded, NOTIFY; returns the ids it finished."""
    owned = (
        select(jobs.c.id)
        .where(
            jobs.c.id == any_(bindparam("job_ids", type_=ARRAY(String))),
            jobs.c.lease_owner == bindparam("worker_id", type_=String),
            sql.status_is(JobStatus.RUNNING),
        )
        .with_for_update()
        .cte("owned")
    )
    names = [c.name for c in sql.FILE_ROW_COLUMNS]
    given = select(
        *[
            func.unnest(bindparam(f"file_{c.name}", type_=ARRAY(c.type))).label(c.name)
            for c in sql.FILE_ROW_COLUMNS
        ]
    ).subquery("given")
    added = (
        pg_insert(files)
        .from_select(
            names,
            select(*[given.c[n] for n in names]).where(given.c.job_id.in_(select(owned.c.id))),
        )
        .on_conflict_do_nothing(index_elements=["job_id"])
        .returning(files.c.id, files.c.job_id)
        .cte("added")
    )
    won = (
        update(jobs)
        .where(jobs.c.id == added.c.job_id)
        .values(**sql.succeeded(added.c.id))
        .returning(jobs.c.id)
        .cte("won")
    )
    return announced(won)


def notify_payloads(job_ids: Sequence[str]) -> list[str]:
    """The ids, comma-separated, in as few payloads as fit PostgreSQL's payload limit:
    NOTIFY serializes commits, so fewer is cheaper."""
    payloads, current = [], ""
    for job_id in job_ids:
        if current and len(current) + len(job_id) + 1 > NOTIFY_PAYLOAD_BYTES:
            payloads.append(current)
            current = ""
        current = f"{current},{job_id}" if current else job_id
    payloads.append(current)
    return payloads


# -- execution ------------------------------------------------------------------


class PostgresQueries:
    """PostgreSQL's `DialectQueries`: statements compiled once for `engine`, run on asyncpg."""

    def __init__(
        self,
        engine: AsyncEngine,
        plan_caps: Mapping[str, int] | None = None,
        *,
        notify_debounce_s: float = NOTIFY_DEBOUNCE_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`plan_caps`: plans whose users may run fewer jobs at once than the worker's
        per-user cap (plan name -> `max_concurrent_jobs`). `notify_debounce_s`: enqueues
        this close to the last NOTIFY share one trailing NOTIFY; `clock` and `sleep` time
        that window (monotonic seconds)."""
        self.engine = engine
        self.plan_caps = dict(plan_caps or {})
        self.notify_debounce_s = notify_debounce_s
        self._clock = clock
        self._sleep = sleep
        self._last_notify = 0.0
        self._trailing: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    # The statements a worker runs per batch of jobs go straight to asyncpg (db/driver.py),
    # and each announces the jobs it changed from inside the statement.

    @cached_property
    def _claim_sql(self) -> DriverStatement:
        claim = claim_jobs(partial(heads, plan_caps=self.plan_caps), lock_claimable)
        return DriverStatement(announced(claim.cte("claimed")), self.engine)

    @cached_property
    def _stage_sql(self) -> DriverStatement:
        changed = sql.set_stage().returning(jobs.c.id).cte("changed")
        return DriverStatement(announced(changed), self.engine)

    @cached_property
    def _finish_sql(self) -> DriverStatement:
        return DriverStatement(finish_batch(), self.engine)

    @cached_property
    def _insert_sql(self) -> tuple[DriverStatement, DriverStatement]:
        """Insert a job; and insert a job with a NOTIFY to idle workers in the statement."""
        inserted = sql.insert_job(pg_insert)
        added = inserted.cte("added")
        notifying = select(added, func.pg_notify(JOBS_CHANNEL, "").label("notified"))
        return DriverStatement(inserted, self.engine), DriverStatement(notifying, self.engine)

    @cached_property
    def _reserve_sql(self) -> tuple[DriverStatement, DriverStatement, DriverStatement]:
        return sql.quota_statements(pg_insert, self.engine)

    @cached_property
    def _batch_reserve_sql(self) -> tuple[DriverStatement, DriverStatement, DriverStatement]:
        _, warn, event = sql.quota_statements(pg_insert, self.engine)
        return DriverStatement(reserve_many(pg_insert), self.engine), warn, event

    async def insert_batch(
        self,
        batch: dict[str, Any],
        rows: Sequence[dict[str, Any]],
        reserve: dict[str, Any] | None,
    ) -> bool:
        batch_names = list(batch)
        add_batch = (
            f"INSERT INTO batches ({', '.join(batch_names)}) "
            f"VALUES ({', '.join(f'${n + 1}' for n in range(len(batch_names)))}) "
            "ON CONFLICT DO NOTHING RETURNING id"
        )
        names, records = batch_records(rows)
        reserve_sql, warn_sql, event_sql = self._batch_reserve_sql
        warn = False
        refusal: Refused | None = None
        async with driver_connection(self.engine) as db:
            try:
                async with db.transaction():
                    if await db.fetchval(add_batch, *[batch[n] for n in batch_names]) is None:
                        raise Refused(quota=False)
                    # COPY: the rows go in one stream, not one statement each.
                    await db.copy_records_to_table("jobs", records=records, columns=names)
                    if reserve is not None:
                        reserved = await db.fetchrow(reserve_sql.sql, *reserve_sql.args(**reserve))
                        if reserved is None:
                            raise Refused(quota=True)
                        if crossed_warning(reserved, reserve["q_limit"]):
                            plain = {k: reserve[k] for k in ("q_user_id", "q_period")}
                            done = await db.execute(warn_sql.sql, *warn_sql.args(**plain))
                            warn = done == "UPDATE 1"
                            if warn:
                                await db.execute(event_sql.sql, *event_sql.args(**plain))
                    await db.execute(f"SELECT pg_notify('{JOBS_CHANNEL}', '')")
            except Refused as refused:
                refusal = refused  # rolled back; the connection stays usable
        if refusal is not None:
            raise refusal
        self._last_notify = self._clock()
        return warn

    async def claim_rows(self, params: dict[str, Any]) -> Sequence[Mapping[str, Any]]:
        # The per-user running cap is a count over other claims; serializing claims (held to
        # commit) makes each claim see every earlier one, so the cap holds across workers.
        # The lock is taken in the BEGIN's round trip.
        lock = f"SELECT pg_advisory_xact_lock({CLAIM_LOCK})"
        async with driver_transaction(self.engine, lock) as db:
            rows = await db.fetch(self._claim_sql.sql, *self._claim_sql.args(**params))
        return [decoded(r) for r in rows]

    async def set_stage_row(self, params: dict[str, Any]) -> bool:
        async with driver_connection(self.engine) as db:
            rows = await db.fetch(self._stage_sql.sql, *self._stage_sql.args(**params))
        return len(rows) == 1

    async def finish_jobs(self, worker_id: str, done: Sequence[Finished]) -> dict[str, str | None]:
        statement = self._finish_sql
        outcome: dict[str, str | None] = {}
        for start in range(0, len(done), MAX_BATCH):
            rows = file_rows(done[start : start + MAX_BATCH])
            columns = {f"file_{c.name}": [r[c.name] for r in rows] for c in sql.FILE_ROW_COLUMNS}
            ids = [r["job_id"] for r in rows]
            async with driver_connection(self.engine) as db:
                won = {
                    r["id"]
                    for r in await db.fetch(
                        statement.sql,
                        *statement.args(job_ids=ids, worker_id=worker_id, **columns),
                    )
                }
            outcome.update({r["job_id"]: (r["id"] if r["job_id"] in won else None) for r in rows})
        return outcome

    async def insert_job(
        self, values: dict[str, Any], reserve: dict[str, Any] | None
    ) -> tuple[Mapping[str, Any], bool]:
        quiet, notifying = self._insert_sql
        now = self._clock()
        announce = now - self._last_notify >= self.notify_debounce_s
        statement = notifying if announce else quiet
        if announce:
            self._last_notify = now
        insert_values = insert_args(statement, values)
        reserve_sql, warn_sql, event_sql = self._reserve_sql
        warn = False
        refusal: Refused | None = None
        async with driver_connection(self.engine) as db:
            try:
                if reserve is None:  # one statement, no transaction needed
                    row = await db.fetchrow(statement.sql, *insert_values)
                    if row is None:
                        raise Refused(quota=False)
                else:
                    # The job first, the counter row last: a job that ends settles its
                    # reservation (trigger) after locking the job, so an enqueue holding
                    # the counter while it waited on a job (same idempotency key) could
                    # deadlock with it. A refusal rolls the job back.
                    async with db.transaction():
                        row = await db.fetchrow(statement.sql, *insert_values)
                        if row is None:
                            raise Refused(quota=False)
                        args = reserve_sql.args(**reserve)
                        reserved = await db.fetchrow(reserve_sql.sql, *args)
                        if reserved is None:
                            raise Refused(quota=True)
                        if crossed_warning(reserved, reserve["q_limit"]):
                            done = await db.execute(warn_sql.sql, *warn_sql.args(**reserve))
                            warn = done == "UPDATE 1"
                            if warn:
                                await db.execute(event_sql.sql, *event_sql.args(**reserve))
            except Refused as refused:
                refusal = refused  # rolled back; the connection stays usable
        if refusal is not None:
            raise refusal
        if not announce:
            self._announce_later()
        inserted = decoded(row)
        inserted.pop("notified", None)
        return inserted, warn

    def _announce_later(self) -> None:
        """Wake workers soon, after an enqueue that did not announce itself."""
        if self._trailing is None:
            self._trailing = asyncio.create_task(self._notify_later(), name=TRAILING_NOTIFY)
            self._background.add(self._trailing)
            self._trailing.add_done_callback(self._background.discard)

    async def _notify_later(self) -> None:
        try:
            await self._sleep(self.notify_debounce_s)
            self._trailing = None  # commits from here on schedule their own
            self._last_notify = self._clock()
            async with self.engine.begin() as conn:
                await conn.execute(select(func.pg_notify(JOBS_CHANNEL, "")))
        except Exception as exc:  # the poll still finds the job
            self._trailing = None
            log.warning("trailing NOTIFY failed (%s)", exc)

    def upsert(self, table: Any) -> Any:
        return pg_insert(table)

    async def notify_changed(self, conn: AsyncConnection, job_ids: Sequence[str]) -> None:
        for payload in notify_payloads(job_ids):
            await conn.execute(select(func.pg_notify(EVENTS_CHANNEL, payload)))

    async def aclose(self) -> None:
        await finish_trailing_notifies()


class PostgresJobStore(SharedJobStore):
    """The job store on PostgreSQL."""

    def __init__(
        self,
        engine: AsyncEngine,
        events: JobEvents | None = None,
        plan_caps: Mapping[str, int] | None = None,
        *,
        notify_debounce_s: float = NOTIFY_DEBOUNCE_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        dialect = PostgresQueries(
            engine, plan_caps, notify_debounce_s=notify_debounce_s, clock=clock, sleep=sleep
        )
        super().__init__(engine, dialect, events)
