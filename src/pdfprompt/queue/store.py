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
import json
import logging
import math
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
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
    literal,
    literal_column,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row, RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.expression import ColumnElement

from pdfprompt.db import (
    DriverStatement,
    Timestamp,
    db_now,
    driver_connection,
    driver_transaction,
    files,
    is_sqlite,
    jobs,
    now_plus,
    read_one,
    seconds_between,
    seconds_since,
    sqlite_driver,
    stored_bytes,
    usage_counters,
    usage_events,
    write_transaction,
)
from pdfprompt.db import (
    users as user_rows,
)
from pdfprompt.domain import (
    FINAL_STATUSES,
    WARN_AT,
    ConflictError,
    DuplicateJobError,
    FileInfo,
    Generator,
    Job,
    JobError,
    JobStage,
    JobStatus,
    JobType,
    JobWarning,
    LeaseLostError,
    NotFoundError,
    QuotaExceededError,
    first_id_at,
    new_id,
    period_bounds,
)
from pdfprompt.queue.events import JobEvents

log = logging.getLogger(__name__)

NOTIFY_PAYLOAD_BYTES = 7900
# Most jobs one claim or finish statement handles: their ids, comma-separated, fit in one
# NOTIFY payload (36-character ids).
MAX_BATCH = NOTIFY_PAYLOAD_BYTES // 37
TRAILING_NOTIFY = "pdfprompt-trailing-notify"  # the task name of a debounced enqueue NOTIFY
_JOB_INSERT_COLUMNS = [
    jobs.c[name]
    for name in (
        "id",
        "user_id",
        "type",
        "input",
        "options",
        "status",
        "stage",
        "max_attempts",
        "priority",
        "idempotency_key",
        "parent_id",
        "plan",
        "quota_period",
    )
]

_JOB_COLUMNS = [c for c in jobs.c if c.name != "input"] + [jobs.c.input]
_FILE_COLUMNS = [
    files.c.id.label("f_id"),
    files.c.size_bytes.label("f_size_bytes"),
    files.c.pages.label("f_pages"),
    files.c.filename.label("f_filename"),
    files.c.storage_key.label("f_storage_key"),
    files.c.content_type.label("f_content_type"),
    files.c.html_key.label("f_html_key"),
    files.c.warnings.label("f_warnings"),
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
    # The owner's plan, and the quota period to reserve one PDF in (None: no reservation),
    # with the plan's PDFs per period (None: unlimited, still counted).
    plan: str | None = None
    quota_period: str | None = None
    quota_limit: int | None = None


@dataclass(frozen=True, slots=True)
class StoredFile:
    """What the worker kept in storage for one attempt."""

    storage_key: str
    size_bytes: int
    pages: int
    sha256: str
    filename: str
    content_type: str = "application/pdf"
    render_key: str | None = None
    html_key: str | None = None
    warnings: tuple[JobWarning, ...] = ()


@dataclass(frozen=True, slots=True)
class CachedRender:
    """A stored PDF that an identical earlier render produced."""

    storage_key: str
    pages: int
    size_bytes: int
    warnings: tuple[JobWarning, ...] = ()


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
    return _file_from_mapping(row._mapping)


def _file_from_mapping(m: Mapping[str, Any] | RowMapping) -> FileInfo:
    return FileInfo(
        id=m["f_id"],
        size_bytes=m["f_size_bytes"],
        pages=m["f_pages"],
        filename=m["f_filename"],
        storage_key=m["f_storage_key"],
        content_type=m["f_content_type"],
        html_key=m.get("f_html_key"),
        warnings=_warnings_of(m.get("f_warnings")),
    )


def _job_from_row(row: Row[Any], **extra: Any) -> Job:
    return _job_from_mapping(row._mapping, extra)


def _job_from_mapping(
    m: Mapping[str, Any] | RowMapping, extra: dict[str, Any] | None = None
) -> Job:
    file = _file_from_mapping(m) if m.get("f_id") is not None else None
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
        parent_id=m.get("parent_id"),
        plan=m.get("plan"),
        extra=extra or {},
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


def _succeeded(file_id: Any) -> dict[str, Any]:
    """Column values that end a job as succeeded with the file `file_id`."""
    return {
        "status": JobStatus.SUCCEEDED.value,
        "stage": JobStage.DONE.value,
        "progress": 1.0,
        "file_id": file_id,
        "error_code": None,
        "error_message": None,
        "lease_owner": None,
        "lease_expires_at": None,
        "finished_at": db_now(),
        "updated_at": db_now(),
    }


def _file_rows(done: Sequence[Finished]) -> list[dict[str, Any]]:
    """New `files` rows for finished jobs (ids made here)."""
    return [
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
            "render_key": d.stored.render_key,
            "html_key": d.stored.html_key,
            "warnings": _warnings_json(d.stored.warnings),
        }
        for d in done
    ]


def _warnings_json(warnings: Sequence[JobWarning]) -> str | None:
    """Warnings as the files table keeps them: JSON text, NULL when there are none."""
    if not warnings:
        return None
    return json.dumps([{"code": w.code, "message": w.message} for w in warnings])


def _warnings_of(text: str | None) -> tuple[JobWarning, ...]:
    return tuple(JobWarning(w["code"], w["message"]) for w in json.loads(text)) if text else ()


_FILE_ROW_COLUMNS = [
    files.c[name]
    for name in (
        "id",
        "user_id",
        "job_id",
        "storage_key",
        "content_type",
        "filename",
        "size_bytes",
        "pages",
        "sha256",
        "render_key",
        "html_key",
        "warnings",
    )
]


_TIMES = frozenset(c.name for c in jobs.c if c.type is Timestamp)


def _decoded(record: Mapping[str, Any]) -> dict[str, Any]:
    """A job row read through the driver (db/driver.py), as SQLAlchemy would give it: JSON
    decoded, and on SQLite times parsed from their text."""
    row = dict(record)
    if isinstance(row.get("options"), str):
        row["options"] = json.loads(row["options"])
    for name in _TIMES:
        value = row.get(name)
        if isinstance(value, str):
            row[name] = datetime.fromisoformat(value).replace(tzinfo=UTC)
    return row


def _status_is(status: JobStatus) -> Any:
    """`jobs.status = '<status>'` with the value written into the SQL, not bound: a partial
    index on that status is then usable by every plan (SQLite's, and PostgreSQL's generic
    plans for prepared statements), which a bound parameter does not guarantee."""
    return jobs.c.status == literal_column(f"'{status.value}'")


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


def _on_index(query: Select[Any], index: str) -> Select[Any]:
    """Tell SQLite which index reads `jobs`: without statistics its planner prefers a
    covering index over all rows to a small partial one (PostgreSQL picks well)."""
    return query.with_hint(jobs, f"INDEXED BY {index}", "sqlite")


def _running_per_user() -> Any:
    """Running jobs per user (`user_id`, `n`), counted on the partial index of running rows."""
    return _on_index(
        select(jobs.c.user_id, func.count().label("n"))
        .where(_status_is(JobStatus.RUNNING))
        .group_by(jobs.c.user_id),
        "ix_jobs_running_user_id",
    ).subquery("running")


def _queued_users() -> Any:
    """The distinct users with queued jobs, by a loose index scan of the claim index: one
    probe per user (`min(user_id) > previous`) instead of reading every queued row. The last
    row is NULL."""
    first = _on_index(
        select(func.min(jobs.c.user_id).label("user_id")).where(_status_is(JobStatus.QUEUED)),
        "ix_jobs_claim",
    )
    users = first.cte("queued_users", recursive=True)
    after = _on_index(
        select(func.min(jobs.c.user_id)).where(
            _status_is(JobStatus.QUEUED), jobs.c.user_id > users.c.user_id
        ),
        "ix_jobs_claim",
    ).scalar_subquery()
    return users.union_all(select(after).where(users.c.user_id.is_not(None)))


def _select_jobs() -> Select[Any]:
    return select(*_JOB_COLUMNS, *_FILE_COLUMNS).select_from(
        jobs.outerjoin(files, files.c.id == jobs.c.file_id)
    )


async def finish_trailing_notifies() -> None:
    """Wait for this loop's debounced enqueue NOTIFYs to be sent. One still pending when its
    engine is disposed would open a connection on the disposed engine and leave it behind."""
    pending = [t for t in asyncio.all_tasks() if t.get_name() == TRAILING_NOTIFY]
    if pending:
        await asyncio.wait(pending, timeout=5)


class _Refused(Exception):
    """An enqueue refused inside its transaction (rolled back): no quota left, or the
    idempotency key was taken."""

    def __init__(self, *, quota: bool) -> None:
        super().__init__()
        self.quota = quota


def _quota_exceeded(period: str, limit: int | None) -> QuotaExceededError:
    _, end = period_bounds(period)
    now = datetime.now(UTC)
    return QuotaExceededError(
        f"the plan's {limit} PDFs for {period} are used or reserved by jobs in flight; "
        f"the quota resets at {end.isoformat()}",
        reset_at=end.isoformat(),
        retry_after_s=max(1.0, (end - now).total_seconds()),
    )


def _crossed_warning(reserved_row: Any, limit: int | None) -> bool:
    """Whether this reservation reached the warning share of the limit in a period not yet
    warned."""
    if limit is None or reserved_row is None or reserved_row[2] is not None:
        return False
    return bool(reserved_row[0] + reserved_row[1] >= WARN_AT * limit)


class JobStore:
    """Queries on jobs shared by both dialects; build one with `job_store_for(engine)`."""

    def __init__(
        self,
        engine: AsyncEngine,
        events: JobEvents | None = None,
        plan_caps: Mapping[str, int] | None = None,
    ) -> None:
        """`plan_caps`: plans whose users may run fewer jobs at once than the worker's
        per-user cap (plan name -> `max_concurrent_jobs`)."""
        self.engine = engine
        self.events = events or JobEvents()
        self.plan_caps = dict(plan_caps or {})

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
        """Insert a queued job, reserving one PDF of the owner's quota in the same transaction
        (`new.quota_period`): `QuotaExceededError` when none is left, `DuplicateJobError`
        for a repeated idempotency key (and then nothing is reserved)."""
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
            "plan": new.plan,
            "quota_period": new.quota_period,
        }
        if new.quota_period is not None and new.quota_limit == 0:
            raise _quota_exceeded(new.quota_period, 0)
        reserve = None
        if new.quota_period is not None:
            reserve = {
                "q_user_id": new.user_id,
                "q_period": new.quota_period,
                "q_limit": new.quota_limit,
            }
        try:
            row, warn = await self._insert_job(values, reserve)
        except _Refused as refused:
            if refused.quota:
                assert new.quota_period is not None
                raise _quota_exceeded(new.quota_period, new.quota_limit) from None
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
        return _job_from_mapping(row, {"quota_warning": True} if warn else None)

    async def _insert_job(
        self, values: dict[str, Any], reserve: dict[str, Any] | None
    ) -> tuple[Mapping[str, Any], bool]:
        """Reserve (when `reserve` is given), insert one job row and announce it, in one
        transaction; the row as inserted and whether this submission crossed the quota
        warning threshold (first time in the period). Raises `_Refused`."""
        raise NotImplementedError

    def _reserve_statements(
        self, upsert: Any
    ) -> tuple[DriverStatement, DriverStatement, DriverStatement]:
        """Reserve one PDF in the period's counter row (made on first use) unless the limit
        is reached: one conditional upsert, so concurrent submissions cannot both take the
        last one. And: mark the period warned, once; and record the warning in the user's
        usage history."""
        limit = bindparam("q_limit", type_=Integer)
        counters = usage_counters.c
        reserve = (
            upsert(usage_counters)
            .values(
                user_id=bindparam("q_user_id", type_=String),
                period=bindparam("q_period", type_=String),
                reserved=1,
                used=0,
            )
            .on_conflict_do_update(
                index_elements=["user_id", "period"],
                set_={"reserved": counters.reserved + 1},
                where=or_(limit.is_(None), counters.reserved + counters.used < limit),
            )
            .returning(counters.reserved, counters.used, counters.warned_at)
        )
        warned = (
            update(usage_counters)
            .where(
                counters.user_id == bindparam("q_user_id", type_=String),
                counters.period == bindparam("q_period", type_=String),
                counters.warned_at.is_(None),
            )
            .values(warned_at=db_now())
        )
        event = insert(usage_events).values(
            user_id=bindparam("q_user_id", type_=String),
            period=bindparam("q_period", type_=String),
            kind="quota_warning",
        )
        return (
            DriverStatement(reserve, self.engine),
            DriverStatement(warned, self.engine),
            DriverStatement(event, self.engine),
        )

    @staticmethod
    def _insert_values() -> dict[str, Any]:
        """The insert's columns as bound parameters, for the driver statements."""
        return {c.name: bindparam(f"new_{c.name}", type_=c.type) for c in _JOB_INSERT_COLUMNS}

    @staticmethod
    def _insert_args(statement: DriverStatement, values: dict[str, Any]) -> list[Any]:
        given = {f"new_{k}": v for k, v in values.items()}
        given["new_options"] = json.dumps(values["options"])  # the driver gets JSON as text
        return statement.args(**given)

    def _announce_later(self) -> None:
        """Hook: wake workers soon, after an enqueue that did not announce itself."""

    async def aclose(self) -> None:
        """Call before the engine is disposed: see `finish_trailing_notifies`."""
        await finish_trailing_notifies()

    async def _find_by_idempotency_key(self, user_id: str, key: str) -> str | None:
        async with self.engine.connect() as conn:
            return (
                await conn.execute(
                    select(jobs.c.id).where(
                        jobs.c.user_id == user_id, jobs.c.idempotency_key == key
                    )
                )
            ).scalar_one_or_none()

    @cached_property
    def _get_sql(self) -> tuple[DriverStatement, DriverStatement]:
        """A job by id; a job by id and owner."""
        query = _select_jobs().where(jobs.c.id == bindparam("job_id"))
        return (
            DriverStatement(query, self.engine),
            DriverStatement(query.where(jobs.c.user_id == bindparam("user_id")), self.engine),
        )

    async def get(self, job_id: str, user_id: str | None = None) -> Job:
        """The job; `NotFoundError` when it does not exist or is not `user_id`'s. Users poll
        this, so it runs on the driver (db/driver.py): read through SQLAlchemy (and aiosqlite)
        a status request cost the API 2.3 to 4.1 ms of CPU, on the driver 0.8 to 0.9
        (docs/api.md)."""
        by_id, by_owner = self._get_sql
        if user_id is None:
            row = await read_one(self.engine, by_id, job_id=job_id)
        else:
            row = await read_one(self.engine, by_owner, job_id=job_id, user_id=user_id)
        if row is None:
            raise NotFoundError(f"job {job_id} not found")
        return _job_from_mapping(_decoded(row))

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

        Each user's head (the few jobs they may start now, in priority and due order) is read
        by an index scan that stops there; the heads are ranked within their user, and claiming
        takes rank 1 of every user before rank 2 of any, so one user's backlog never holds
        another user's job back. A user's head holds at most `per_user_cap` minus the jobs they
        already run. The cost grows with the number of users waiting, not with the backlog.
        """
        heads = self._heads(_queued_users(), _running_per_user(), limit, per_user_cap)
        rank = func.row_number().over(
            partition_by=(heads.c.user_id, heads.c.priority),
            order_by=(heads.c.run_after, heads.c.id),
        )
        ranked = select(
            heads.c.id,
            heads.c.priority,
            heads.c.run_after,
            heads.c.running,
            heads.c.cap,
            rank.label("rank"),
        ).subquery("ranked")
        return (
            select(ranked.c.id)
            .where(ranked.c.rank + ranked.c.running <= ranked.c.cap)
            .order_by(ranked.c.priority.desc(), ranked.c.rank, ranked.c.run_after, ranked.c.id)
            .limit(limit)
        )

    def _least(self, a: Any, b: Any) -> Any:
        return func.min(a, b)  # SQLite's scalar min

    def _user_cap(self, users: Any, per_user_cap: Any) -> Any:
        """A waiting user's cap on running jobs: `per_user_cap`, or their plan's
        `max_concurrent_jobs` when lower (one primary-key probe of the user's row)."""
        if not self.plan_caps:
            return (
                per_user_cap if isinstance(per_user_cap, ColumnElement) else literal(per_user_cap)
            )
        by_plan = case(
            *[
                (user_rows.c.plan == literal(name), self._least(literal(cap), per_user_cap))
                for name, cap in sorted(self.plan_caps.items())
            ],
            else_=per_user_cap,
        )
        return (
            select(by_plan)
            .where(user_rows.c.id == users.c.user_id)
            .correlate(users)
            .scalar_subquery()
        )

    def _heads(self, users: Any, running: Any, limit: Any, per_user_cap: Any) -> Any:
        """Per waiting user, their first due jobs (at most `limit`), with the number of jobs
        the user runs and their cap: (id, user_id, priority, run_after, running, cap). SQLite
        has no LATERAL
        and no outer column in LIMIT: a correlated `IN (… LIMIT limit)` probes the primary
        key, and the cap is applied on the ranks."""
        head = (
            select(jobs.c.id)
            .where(
                _status_is(JobStatus.QUEUED),
                jobs.c.user_id == users.c.user_id,
                jobs.c.run_after <= db_now(),
            )
            .order_by(jobs.c.priority.desc(), jobs.c.run_after, jobs.c.id)
            .limit(limit)
            .correlate(users)
        )
        picked = jobs.alias("picked")
        return (
            select(
                picked.c.id,
                picked.c.user_id,
                picked.c.priority,
                picked.c.run_after,
                func.coalesce(running.c.n, 0).label("running"),
                self._user_cap(users, per_user_cap).label("cap"),
            )
            .select_from(
                users.outerjoin(running, running.c.user_id == users.c.user_id).join(
                    picked, picked.c.id.in_(head)
                )
            )
            .where(users.c.user_id.is_not(None))
            .subquery("heads")
        )

    def _lock_claimable(self, candidates: Select[Any]) -> Select[Any]:
        """The candidates still queued; PostgreSQL also locks them, skipping locked rows."""
        return select(jobs.c.id).where(
            jobs.c.id.in_(candidates.scalar_subquery()),
            _status_is(JobStatus.QUEUED),
        )

    def _claim_statement(self) -> Any:
        """The claim UPDATE (compiled once per store, see `_claim_sql`); limit, cap, owner and
        lease are bound per call."""
        limit = bindparam("claim_limit", type_=Integer)
        cap = bindparam("per_user_cap", type_=Integer)
        # A CTE is planned and run once; as a plain IN-subquery the planner may re-run
        # the locking scan for every queued row (seen on tables with no statistics yet).
        chosen = self._lock_claimable(self._claimable(limit, cap)).cte("claimable")
        # The chosen rows are locked (SQLite: the write lock; PostgreSQL: FOR UPDATE, with
        # their status checked again under the lock), so the UPDATE matches on id alone:
        # a status test here could lead the planner to scan the queued rows instead.
        return (
            update(jobs)
            .where(jobs.c.id.in_(select(chosen.c.id)))
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
        rows = await self._claim_rows(params)
        self.events.publish([r["id"] for r in rows])
        # `extra["pickup_s"]`: seconds from the job being due to this claim.
        found = [_job_from_mapping(r, {"pickup_s": float(r["waited_s"])}) for r in rows]
        found.sort(key=lambda j: (-j.priority, j.id))
        return found

    async def _claim_rows(self, params: dict[str, Any]) -> Sequence[Mapping[str, Any]]:
        """Run the claim statement with `params`; the rows it changed (job columns and
        `waited_s`), committed."""
        raise NotImplementedError

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
                            _status_is(JobStatus.RUNNING),
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
        statuses = (JobStatus.QUEUED, JobStatus.RUNNING)
        index = {JobStatus.QUEUED: "ix_jobs_claim", JobStatus.RUNNING: "ix_jobs_running_user_id"}
        counts = [
            _on_index(
                select(func.count()).select_from(jobs).where(_status_is(s)), index[s]
            ).scalar_subquery()
            for s in statuses
        ]
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(*counts))).one()
        return {s.value: n for s, n in zip(statuses, row, strict=True)}

    async def renew_leases(self, worker_id: str, lease_s: float) -> int:
        """Extend every lease `worker_id` holds, in one statement."""
        async with write_transaction(self.engine) as conn:
            result = await conn.execute(
                update(jobs)
                .where(jobs.c.lease_owner == worker_id, _status_is(JobStatus.RUNNING))
                .values(lease_expires_at=now_plus(lease_s))
            )
        return result.rowcount

    async def requeue_expired(self) -> int:
        """Put running jobs whose lease ran out back in the queue, or fail them if out of tries."""
        expired = and_(_status_is(JobStatus.RUNNING), jobs.c.lease_expires_at < db_now())
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
                .where(jobs.c.lease_owner == worker_id, _status_is(JobStatus.RUNNING))
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
            _status_is(JobStatus.RUNNING),
        )

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
        if not await self._set_stage_row(params):
            raise LeaseLostError(f"job {job_id} is no longer owned by {worker_id}")
        self.events.publish([job_id])

    def _stage_statement(self) -> Any:
        """The stage UPDATE; a NULL generator leaves the recorded one."""
        return (
            update(jobs)
            .where(
                jobs.c.id == bindparam("stage_job_id", type_=String),
                jobs.c.lease_owner == bindparam("worker_id", type_=String),
                _status_is(JobStatus.RUNNING),
            )
            .values(
                stage=bindparam("new_stage", type_=String),
                progress=bindparam("new_progress", type_=Float),
                generator=func.coalesce(bindparam("new_generator", type_=String), jobs.c.generator),
                updated_at=db_now(),
            )
        )

    async def _set_stage_row(self, params: dict[str, Any]) -> bool:
        """Run the stage UPDATE with `params`; whether it changed the row (committed)."""
        raise NotImplementedError

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
        raise NotImplementedError

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
            if give_back_attempt:
                values["attempts"] = case((jobs.c.attempts > 0, jobs.c.attempts - 1), else_=0)
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

    async def delete_job(self, job_id: str, user_id: str) -> list[str]:
        """Delete a finished job and its file row; returns the storage keys to remove."""
        async with write_transaction(self.engine) as conn:
            row = (
                await conn.execute(
                    select(
                        jobs.c.status,
                        files.c.storage_key,
                        files.c.html_key,
                        files.c.id.label("file_id"),
                    )
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
        return [k for k in (row.storage_key, row.html_key) if k]

    async def delete_expired_files(
        self, retention_days: Mapping[str, int], *, now: datetime, limit: int = 500
    ) -> list[str]:
        """Delete up to `limit` file rows older than their owner's plan keeps files
        (`retention_days`: plan -> days), oldest first; returns their storage keys, to be
        removed after this commits. The jobs stay, without a file. File ids are
        time-ordered, so the age test is a range on the primary key."""
        keys: list[str] = []
        async with write_transaction(self.engine) as conn:
            for plan, days in sorted(retention_days.items()):
                if len(keys) >= limit:
                    break
                cutoff = first_id_at(int((now - timedelta(days=days)).timestamp() * 1000))
                expired = (
                    select(files.c.id)
                    .select_from(files.join(user_rows, user_rows.c.id == files.c.user_id))
                    .where(user_rows.c.plan == plan, files.c.id < cutoff)
                    .order_by(files.c.id)
                    .limit(limit - len(keys))
                )
                rows = (
                    await conn.execute(
                        delete(files)
                        .where(files.c.id.in_(expired.scalar_subquery()))
                        .returning(files.c.storage_key, files.c.html_key)
                    )
                ).all()
                keys += [k for r in rows for k in (r.storage_key, r.html_key) if k]
        return keys

    @cached_property
    def _cached_render_sql(self) -> DriverStatement:
        return DriverStatement(
            select(files.c.storage_key, files.c.pages, files.c.size_bytes, files.c.warnings)
            .where(
                files.c.render_key == bindparam("render_key"),
                files.c.user_id == bindparam("user_id"),
            )
            .order_by(files.c.id.desc())
            .limit(1),
            self.engine,
        )

    async def cached_render(self, user_id: str, render_key: str) -> CachedRender | None:
        """The newest of `user_id`'s stored files made by an identical render, if any. Asked
        before every render, so it runs on the driver (`read_one`)."""
        row = await read_one(
            self.engine, self._cached_render_sql, render_key=render_key, user_id=user_id
        )
        if row is None:
            return None
        return CachedRender(
            row["storage_key"], row["pages"], row["size_bytes"], _warnings_of(row["warnings"])
        )

    async def prune_jobs(self, older_than_s: float, *, limit: int = 500) -> int:
        """Delete up to `limit` ended jobs that have no file (failed, cancelled, or whose
        file retention removed) and ended more than `older_than_s` ago; one short
        transaction per call. A job with a file lives as long as the file."""
        old = (
            select(jobs.c.id)
            .where(
                jobs.c.finished_at.is_not(None),
                jobs.c.finished_at < now_plus(-older_than_s),
                jobs.c.file_id.is_(None),
                jobs.c.status.in_([s.value for s in FINAL_STATUSES]),
            )
            .limit(limit)
        )
        async with write_transaction(self.engine) as conn:
            done = await conn.execute(delete(jobs).where(jobs.c.id.in_(old.scalar_subquery())))
        return int(done.rowcount or 0)

    async def referenced_keys(self, keys: Sequence[str]) -> set[str]:
        """Those of `keys` a file row points to (as its PDF or its kept HTML)."""
        if not keys:
            return set()
        wanted = list(keys)
        async with self.engine.connect() as conn:
            pdfs = await conn.execute(
                select(files.c.storage_key).where(files.c.storage_key.in_(wanted))
            )
            htmls = await conn.execute(select(files.c.html_key).where(files.c.html_key.in_(wanted)))
            return {k for (k,) in pdfs} | {k for (k,) in htmls if k}

    async def storage_used(self, user_id: str) -> int:
        """Bytes of the user's stored PDFs."""
        async with self.engine.connect() as conn:
            return int((await conn.execute(stored_bytes(user_id))).scalar_one())

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
    """SQLite: the claim runs in `BEGIN IMMEDIATE`, so two claimers never read the same rows.

    Claiming and finishing run as whole transactions on the engine's `SqliteDriver` thread
    (db/driver.py): one hop to that thread per batch instead of one per statement."""

    @cached_property
    def _claim_sql(self) -> DriverStatement:
        return DriverStatement(self._claim_statement(), self.engine)

    @cached_property
    def _stage_sql(self) -> DriverStatement:
        return DriverStatement(self._stage_statement(), self.engine)

    async def _claim_rows(self, params: dict[str, Any]) -> Sequence[Mapping[str, Any]]:
        sql, args = self._claim_sql.sql, self._claim_sql.args(**params)

        def claim(db: sqlite3.Connection) -> list[dict[str, Any]]:
            cursor = db.execute(sql, args)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        rows = await sqlite_driver(self.engine).transaction(claim)
        return [_decoded(r) for r in rows]

    @cached_property
    def _insert_sql(self) -> DriverStatement:
        return DriverStatement(
            sqlite_insert(jobs)
            .values(self._insert_values())
            .on_conflict_do_nothing()
            .returning(*jobs.c),
            self.engine,
        )

    @cached_property
    def _reserve_sql(self) -> tuple[DriverStatement, DriverStatement, DriverStatement]:
        return self._reserve_statements(sqlite_insert)

    async def _insert_job(
        self, values: dict[str, Any], reserve: dict[str, Any] | None
    ) -> tuple[Mapping[str, Any], bool]:
        insert_sql, insert_args = self._insert_sql.sql, self._insert_args(self._insert_sql, values)
        reserve_sql, warn_sql, event_sql = self._reserve_sql
        limit = None if reserve is None else reserve["q_limit"]

        def enqueue(db: sqlite3.Connection) -> tuple[dict[str, Any], bool]:
            # The job first, the counter last (as on PostgreSQL, see there); a refusal
            # rolls the job back with the savepoint.
            cursor = db.execute(insert_sql, insert_args)
            row = cursor.fetchone()
            if row is None:
                raise _Refused(quota=False)
            job = dict(zip([d[0] for d in cursor.description], row, strict=True))
            warn = False
            if reserve is not None:
                reserved = db.execute(reserve_sql.sql, reserve_sql.args(**reserve)).fetchone()
                if reserved is None:
                    raise _Refused(quota=True)
                if _crossed_warning(reserved, limit):
                    warn = db.execute(warn_sql.sql, warn_sql.args(**reserve)).rowcount == 1
                    if warn:
                        db.execute(event_sql.sql, event_sql.args(**reserve))
            return job, warn

        row, warn = await sqlite_driver(self.engine).transaction(enqueue)
        return _decoded(row), warn

    @cached_property
    def _finish_statements(self) -> tuple[DriverStatement, DriverStatement, DriverStatement]:
        """Add a file row, finish one owned job, drop a file row (its job was lost)."""
        add_file = DriverStatement(
            sqlite_insert(files)
            .values({c: bindparam(f"new_{c.name}", type_=c.type) for c in _FILE_ROW_COLUMNS})
            .on_conflict_do_nothing(index_elements=["job_id"]),
            self.engine,
        )
        finish_one = DriverStatement(
            update(jobs)
            .where(
                jobs.c.id == bindparam("finished_job_id", type_=String),
                jobs.c.lease_owner == bindparam("worker_id", type_=String),
                _status_is(JobStatus.RUNNING),
            )
            .values(**_succeeded(bindparam("new_file_id", type_=String))),
            self.engine,
        )
        drop_file = DriverStatement(
            delete(files).where(files.c.id == bindparam("dropped_id", type_=String)),
            self.engine,
        )
        return add_file, finish_one, drop_file

    async def _set_stage_row(self, params: dict[str, Any]) -> bool:
        sql, args = self._stage_sql.sql, self._stage_sql.args(**params)

        def write(db: sqlite3.Connection) -> bool:
            return db.execute(sql, args).rowcount == 1

        return await sqlite_driver(self.engine).transaction(write)

    async def finish_jobs(self, worker_id: str, done: Sequence[Finished]) -> dict[str, str | None]:
        add_file, finish_one, drop_file = self._finish_statements
        rows = _file_rows(done)
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

        outcome = await sqlite_driver(self.engine).transaction(finish)
        self.events.publish([j for j, f in outcome.items() if f is not None])
        return outcome


class PostgresJobStore(JobStore):
    """PostgreSQL: the claim locks its rows with `FOR UPDATE SKIP LOCKED`; enqueue NOTIFYs."""

    CHANNEL = "pdfprompt_jobs"
    EVENTS_CHANNEL = "pdfprompt_job_events"

    CLAIM_LOCK = 0x70646670  # advisory lock key: claims run one at a time, as on SQLite

    def _lock_claimable(self, candidates: Select[Any]) -> Select[Any]:
        # Each candidate is locked by a primary-key probe (LATERAL, `id = candidate`), so
        # the plan does not depend on statistics (a fresh table has none and makes the
        # partial index of queued rows look tiny); rows another transaction holds are skipped.
        chosen = candidates.subquery("candidates")
        locked = (
            select(jobs.c.id)
            .where(jobs.c.id == chosen.c.id, _status_is(JobStatus.QUEUED))
            .with_for_update(skip_locked=True)
            .lateral("locked")
        )
        return select(locked.c.id).select_from(chosen.join(locked, true()))

    def _heads(self, users: Any, running: Any, limit: Any, per_user_cap: Any) -> Any:
        """Per waiting user, a LATERAL index scan that stops after the jobs they may start:
        `limit`, less what the cap leaves them."""
        ran = func.coalesce(running.c.n, 0)
        cap = self._user_cap(users, per_user_cap)
        room = func.greatest(func.least(limit, cap - ran), 0)
        head = (
            select(jobs.c.id, jobs.c.user_id, jobs.c.priority, jobs.c.run_after)
            .where(
                _status_is(JobStatus.QUEUED),
                jobs.c.user_id == users.c.user_id,
                jobs.c.run_after <= db_now(),
            )
            .order_by(jobs.c.priority.desc(), jobs.c.run_after, jobs.c.id)
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

    NOTIFY_DEBOUNCE_S = 0.005

    def _least(self, a: Any, b: Any) -> Any:
        return func.least(a, b)

    def __init__(
        self,
        engine: AsyncEngine,
        events: JobEvents | None = None,
        plan_caps: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(engine, events, plan_caps)
        self._last_notify = 0.0
        self._trailing: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    # The two statements a worker runs per batch of jobs go straight to asyncpg
    # (db/driver.py), and each announces the jobs it changed from inside the statement.

    def _announced(self, changed: Any) -> Select[Any]:
        """`changed` (a CTE of changed rows with `id`) with one NOTIFY of all their ids, sent
        by the statement itself: no extra round trip. No rows, no notification."""
        notice = (
            select(
                func.pg_notify(self.EVENTS_CHANNEL, func.string_agg(changed.c.id, ",")).label(
                    "notified"
                )
            )
            .select_from(changed)
            .having(func.count() > 0)
            .cte("notice")
        )
        return select(changed, notice.c.notified).select_from(changed.join(notice, true()))

    @cached_property
    def _claim_sql(self) -> DriverStatement:
        claimed = self._claim_statement().cte("claimed")
        return DriverStatement(self._announced(claimed), self.engine)

    @cached_property
    def _stage_sql(self) -> DriverStatement:
        changed = self._stage_statement().returning(jobs.c.id).cte("changed")
        return DriverStatement(self._announced(changed), self.engine)

    async def _claim_rows(self, params: dict[str, Any]) -> Sequence[Mapping[str, Any]]:
        # The per-user running cap is a count over other claims; serializing claims (held to
        # commit) makes each claim see every earlier one, so the cap holds across workers.
        # The lock is taken in the BEGIN's round trip.
        lock = f"SELECT pg_advisory_xact_lock({self.CLAIM_LOCK})"
        async with driver_transaction(self.engine, lock) as db:
            rows = await db.fetch(self._claim_sql.sql, *self._claim_sql.args(**params))
        return [_decoded(r) for r in rows]

    async def _set_stage_row(self, params: dict[str, Any]) -> bool:
        async with driver_connection(self.engine) as db:
            rows = await db.fetch(self._stage_sql.sql, *self._stage_sql.args(**params))
        return len(rows) == 1

    @cached_property
    def _finish_statement(self) -> DriverStatement:
        """Finish a batch in one statement: lock the jobs `worker_id` still owns, add their
        file rows, mark them succeeded, NOTIFY; returns the ids it finished."""
        owned = (
            select(jobs.c.id)
            .where(
                jobs.c.id == any_(bindparam("job_ids", type_=ARRAY(String))),
                jobs.c.lease_owner == bindparam("worker_id", type_=String),
                _status_is(JobStatus.RUNNING),
            )
            .with_for_update()
            .cte("owned")
        )
        names = [c.name for c in _FILE_ROW_COLUMNS]
        given = select(
            *[
                func.unnest(bindparam(f"file_{c.name}", type_=ARRAY(c.type))).label(c.name)
                for c in _FILE_ROW_COLUMNS
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
            .values(**_succeeded(added.c.id))
            .returning(jobs.c.id)
            .cte("won")
        )
        return DriverStatement(self._announced(won), self.engine)

    async def finish_jobs(self, worker_id: str, done: Sequence[Finished]) -> dict[str, str | None]:
        statement = self._finish_statement
        outcome: dict[str, str | None] = {}
        for start in range(0, len(done), MAX_BATCH):
            rows = _file_rows(done[start : start + MAX_BATCH])
            columns = {f"file_{c.name}": [r[c.name] for r in rows] for c in _FILE_ROW_COLUMNS}
            ids = [r["job_id"] for r in rows]
            async with driver_connection(self.engine) as db:
                won = {
                    r["id"]
                    for r in await db.fetch(
                        statement.sql,
                        *statement.args(job_ids=ids, worker_id=worker_id, **columns),
                    )
                }
            self.events.publish(list(won))
            outcome.update({r["job_id"]: (r["id"] if r["job_id"] in won else None) for r in rows})
        return outcome

    @cached_property
    def _insert_sql(self) -> tuple[DriverStatement, DriverStatement]:
        """Insert a job; and insert a job with a NOTIFY to idle workers in the statement."""
        inserted = (
            pg_insert(jobs)
            .values(self._insert_values())
            .on_conflict_do_nothing()
            .returning(*jobs.c)
        )
        added = inserted.cte("added")
        announced = select(added, func.pg_notify(self.CHANNEL, "").label("notified"))
        return (
            DriverStatement(inserted, self.engine),
            DriverStatement(announced, self.engine),
        )

    @cached_property
    def _reserve_sql(self) -> tuple[DriverStatement, DriverStatement, DriverStatement]:
        return self._reserve_statements(pg_insert)

    async def _insert_job(
        self, values: dict[str, Any], reserve: dict[str, Any] | None
    ) -> tuple[Mapping[str, Any], bool]:
        quiet, announcing = self._insert_sql
        now = time.monotonic()
        announce = now - self._last_notify >= self.NOTIFY_DEBOUNCE_S
        statement = announcing if announce else quiet
        if announce:
            self._last_notify = now
        insert_args = self._insert_args(statement, values)
        reserve_sql, warn_sql, event_sql = self._reserve_sql
        warn = False
        refusal: _Refused | None = None
        async with driver_connection(self.engine) as db:
            try:
                if reserve is None:  # one statement, no transaction needed
                    row = await db.fetchrow(statement.sql, *insert_args)
                    if row is None:
                        raise _Refused(quota=False)
                else:
                    # The job first, the counter row last: a job that ends settles its
                    # reservation (trigger) after locking the job, so an enqueue holding
                    # the counter while it waited on a job (same idempotency key) could
                    # deadlock with it. A refusal rolls the job back.
                    async with db.transaction():
                        row = await db.fetchrow(statement.sql, *insert_args)
                        if row is None:
                            raise _Refused(quota=False)
                        args = reserve_sql.args(**reserve)
                        reserved = await db.fetchrow(reserve_sql.sql, *args)
                        if reserved is None:
                            raise _Refused(quota=True)
                        if _crossed_warning(reserved, reserve["q_limit"]):
                            done = await db.execute(warn_sql.sql, *warn_sql.args(**reserve))
                            warn = done == "UPDATE 1"
                            if warn:
                                await db.execute(event_sql.sql, *event_sql.args(**reserve))
            except _Refused as refused:
                refusal = refused  # rolled back; the connection stays usable
        if refusal is not None:
            raise refusal
        if not announce:
            self._announce_later()
        decoded = _decoded(row)
        decoded.pop("notified", None)
        return decoded, warn

    def _announce_later(self) -> None:
        if self._trailing is None:
            self._trailing = asyncio.create_task(self._notify_later(), name=TRAILING_NOTIFY)
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


def job_store_for(
    engine: AsyncEngine,
    events: JobEvents | None = None,
    plan_caps: Mapping[str, int] | None = None,
) -> JobStore:
    cls = SqliteJobStore if is_sqlite(engine) else PostgresJobStore
    return cls(engine, events, plan_caps)
