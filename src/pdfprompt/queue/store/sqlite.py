"""SQLite: everything the job store does differently on SQLite, in one place.

- Claiming. SQLite has no row locks: a claim takes the database's write lock up front
  (`BEGIN IMMEDIATE`), so claims run one after another, two claimers never read the same rows,
  and each claim sees every earlier one (the per-user cap holds). SQLite has no LATERAL and no
  outer column in LIMIT: a user's first jobs are a correlated `IN (… LIMIT n)` probing the
  primary key, and the cap is applied on the ranks.
- The hot path (claim, enqueue with its quota reservation, stage writes, completions) runs
  as whole transactions on the engine's `SqliteDriver` thread (db/driver.py): one hop to that
  thread per transaction instead of one per statement.
- Completions: each job's file row is inserted, then the job finished if still owned, else
  the file row dropped (no CTEs that write, as PostgreSQL uses).
- Wake-ups: no other process to tell; the in-process `JobEvents` and `Wakeup` do.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from functools import cached_property, partial
from typing import Any

from sqlalchemy import Insert, Select, String, Update, bindparam, func, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdfprompt.db import DriverStatement, files, jobs, sqlite_driver
from pdfprompt.domain import JobStatus
from pdfprompt.queue.events import JobEvents
from pdfprompt.queue.store import statements as sql
from pdfprompt.queue.store.batches import batch_records, reserve_many
from pdfprompt.queue.store.claiming import claim_jobs, due_head, user_cap
from pdfprompt.queue.store.protocol import Refused
from pdfprompt.queue.store.records import Finished
from pdfprompt.queue.store.rows import crossed_warning, decoded, file_rows, insert_args
from pdfprompt.queue.store.shared import SharedJobStore


def least(a: Any, b: Any) -> Any:
    return func.min(a, b)  # SQLite's scalar min


def heads(
    users: Any, running: Any, limit: Any, per_user_cap: Any, *, plan_caps: Mapping[str, int]
) -> Any:
    """Per waiting user, their first due jobs (at most `limit`), with the number of jobs the
    user runs and their cap: (id, user_id, priority, run_after, running, cap)."""
    head = due_head(users).limit(limit).correlate(users)
    picked = jobs.alias("picked")
    return (
        select(
            picked.c.id,
            picked.c.user_id,
            picked.c.priority,
            picked.c.run_after,
            func.coalesce(running.c.n, 0).label("running"),
            user_cap(users, per_user_cap, plan_caps, least).label("cap"),
        )
        .select_from(
            users.outerjoin(running, running.c.user_id == users.c.user_id).join(
                picked, picked.c.id.in_(head)
            )
        )
        .where(users.c.user_id.is_not(None))
        .subquery("heads")
    )


def lock_claimable(candidates: Select[Any]) -> Select[Any]:
    """The candidates still queued (the claim's transaction holds the write lock)."""
    return select(jobs.c.id).where(
        jobs.c.id.in_(candidates.scalar_subquery()),
        sql.status_is(JobStatus.QUEUED),
    )


def add_file_row() -> Insert:
    """A finished job's file row from bound `new_<column>` values; nothing when the job
    already has one (`files.job_id` is unique)."""
    values = {c: bindparam(f"new_{c.name}", type_=c.type) for c in sql.FILE_ROW_COLUMNS}
    return sqlite_insert(files).values(values).on_conflict_do_nothing(index_elements=["job_id"])


def finish_owned_job() -> Update:
    """Mark the bound `finished_job_id` succeeded with `new_file_id` if `worker_id` owns it."""
    return (
        update(jobs)
        .where(
            sql.owned(
                bindparam("finished_job_id", type_=String), bindparam("worker_id", type_=String)
            )
        )
        .values(**sql.succeeded(bindparam("new_file_id", type_=String)))
    )


class SqliteQueries:
    """SQLite's `DialectQueries`: statements compiled once for `engine`, run on its
    `SqliteDriver`."""

    def __init__(self, engine: AsyncEngine, plan_caps: Mapping[str, int] | None = None) -> None:
        """`plan_caps`: plans whose users may run fewer jobs at once than the worker's
        per-user cap (plan name -> `max_concurrent_jobs`)."""
        self.engine = engine
        self.plan_caps = dict(plan_caps or {})

    @cached_property
    def _claim_sql(self) -> DriverStatement:
        claim = claim_jobs(partial(heads, plan_caps=self.plan_caps), lock_claimable)
        return DriverStatement(claim, self.engine)

    @cached_property
    def _stage_sql(self) -> DriverStatement:
        return DriverStatement(sql.set_stage(), self.engine)

    @cached_property
    def _insert_sql(self) -> DriverStatement:
        return DriverStatement(sql.insert_job(sqlite_insert), self.engine)

    @cached_property
    def _reserve_sql(self) -> tuple[DriverStatement, DriverStatement, DriverStatement]:
        return sql.quota_statements(sqlite_insert, self.engine)

    @cached_property
    def _finish_sql(self) -> tuple[DriverStatement, DriverStatement, DriverStatement]:
        """Add a file row, finish one owned job, drop a file row (its job was lost)."""
        return (
            DriverStatement(add_file_row(), self.engine),
            DriverStatement(finish_owned_job(), self.engine),
            DriverStatement(sql.delete_file(bindparam("dropped_id", type_=String)), self.engine),
        )

    async def claim_rows(self, params: dict[str, Any]) -> Sequence[Mapping[str, Any]]:
        statement, args = self._claim_sql.sql, self._claim_sql.args(**params)

        def claim(db: sqlite3.Connection) -> list[dict[str, Any]]:
            cursor = db.execute(statement, args)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        rows = await sqlite_driver(self.engine).transaction(claim)
        return [decoded(r) for r in rows]

    async def insert_job(
        self, values: dict[str, Any], reserve: dict[str, Any] | None
    ) -> tuple[Mapping[str, Any], bool]:
        insert_sql, insert_values = self._insert_sql.sql, insert_args(self._insert_sql, values)
        reserve_sql, warn_sql, event_sql = self._reserve_sql
        limit = None if reserve is None else reserve["q_limit"]

        def enqueue(db: sqlite3.Connection) -> tuple[dict[str, Any], bool]:
            # The job first, the counter last (the order PostgreSQL needs, see postgres.py);
            # a refusal rolls the job back with the savepoint.
            cursor = db.execute(insert_sql, insert_values)
            row = cursor.fetchone()
            if row is None:
                raise Refused(quota=False)
            job = dict(zip([d[0] for d in cursor.description], row, strict=True))
            warn = False
            if reserve is not None:
                reserved = db.execute(reserve_sql.sql, reserve_sql.args(**reserve)).fetchone()
                if reserved is None:
                    raise Refused(quota=True)
                if crossed_warning(reserved, limit):
                    warn = db.execute(warn_sql.sql, warn_sql.args(**reserve)).rowcount == 1
                    if warn:
                        db.execute(event_sql.sql, event_sql.args(**reserve))
            return job, warn

        row, warn = await sqlite_driver(self.engine).transaction(enqueue)
        return decoded(row), warn

    @cached_property
    def _batch_reserve_sql(self) -> tuple[DriverStatement, DriverStatement, DriverStatement]:
        _, warn, event = sql.quota_statements(sqlite_insert, self.engine)
        return DriverStatement(reserve_many(sqlite_insert), self.engine), warn, event

    async def insert_batch(
        self,
        batch: dict[str, Any],
        rows: Sequence[dict[str, Any]],
        reserve: dict[str, Any] | None,
    ) -> bool:
        batch_names = list(batch)
        add_batch = (
            f"INSERT OR IGNORE INTO batches ({', '.join(batch_names)}) "
            f"VALUES ({', '.join('?' * len(batch_names))})"
        )
        names, records = batch_records(rows)
        add_jobs = f"INSERT INTO jobs ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        reserve_sql, warn_sql, event_sql = self._batch_reserve_sql

        def enqueue(db: sqlite3.Connection) -> bool:
            if db.execute(add_batch, [batch[n] for n in batch_names]).rowcount != 1:
                raise Refused(quota=False)
            db.executemany(add_jobs, records)
            if reserve is None:
                return False
            reserved = db.execute(reserve_sql.sql, reserve_sql.args(**reserve)).fetchone()
            if reserved is None:
                raise Refused(quota=True)
            if not crossed_warning(reserved, reserve["q_limit"]):
                return False
            plain = {k: reserve[k] for k in ("q_user_id", "q_period")}
            if db.execute(warn_sql.sql, warn_sql.args(**plain)).rowcount != 1:
                return False
            db.execute(event_sql.sql, event_sql.args(**plain))
            return True

        return await sqlite_driver(self.engine).transaction(enqueue)

    async def set_stage_row(self, params: dict[str, Any]) -> bool:
        statement, args = self._stage_sql.sql, self._stage_sql.args(**params)

        def write(db: sqlite3.Connection) -> bool:
            return db.execute(statement, args).rowcount == 1

        return await sqlite_driver(self.engine).transaction(write)

    async def finish_jobs(self, worker_id: str, done: Sequence[Finished]) -> dict[str, str | None]:
        add_file, finish_one, drop_file = self._finish_sql
        rows = file_rows(done)
        file_args = [add_file.args(**{f"new_{k}": v for k, v in r.items()}) for r in rows]

        def finish(db: sqlite3.Connection) -> dict[str, str | None]:
            outcome: dict[str, str | None] = {}
            for row, args in zip(rows, file_args, strict=True):
                job_id, file_id = row["job_id"], row["id"]
                outcome[job_id] = None
                # The file row first (the job points at it). A job that already has a file
                # was finished by another attempt: nothing is added and the job is not ours.
                if db.execute(add_file.sql, args).rowcount != 1:
                    continue
                owned = finish_one.args(
                    finished_job_id=job_id, worker_id=worker_id, new_file_id=file_id
                )
                if db.execute(finish_one.sql, owned).rowcount == 1:
                    outcome[job_id] = file_id
                else:
                    db.execute(drop_file.sql, drop_file.args(dropped_id=file_id))
            return outcome

        return await sqlite_driver(self.engine).transaction(finish)

    def upsert(self, table: Any) -> Any:
        return sqlite_insert(table)

    async def notify_changed(self, conn: AsyncConnection, job_ids: Sequence[str]) -> None:
        """Nothing: no other process listens (the in-process events are published after
        commit by the shared store)."""

    async def aclose(self) -> None:
        """Nothing runs in the background."""


class SqliteJobStore(SharedJobStore):
    """The job store on SQLite."""

    def __init__(
        self,
        engine: AsyncEngine,
        events: JobEvents | None = None,
        plan_caps: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(engine, SqliteQueries(engine, plan_caps), events)
