"""Named statements on jobs that both dialects run as written.

Builders only: each function returns a SQLAlchemy Core statement (or a piece of one) and runs
nothing; `shared.py` and the dialect modules execute them. Values given per call on the hot
path are bound parameters (`bindparam`), so a store compiles those statements once for the
driver (`DriverStatement`, db/driver.py). Where a statement needs the dialect's own
INSERT (for `ON CONFLICT`), the caller passes it as `upsert`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Delete,
    Float,
    Insert,
    Integer,
    Select,
    String,
    Update,
    and_,
    bindparam,
    case,
    delete,
    false,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.expression import ColumnElement

from pdfprompt.db import (
    DriverStatement,
    db_now,
    files,
    jobs,
    now_plus,
    usage_counters,
    usage_events,
)
from pdfprompt.domain import JobError, JobStage, JobStatus

# The dialect's INSERT construct (`sqlalchemy.dialects.<name>.insert`), for ON CONFLICT.
Upsert = Callable[..., Any]

JOB_INSERT_COLUMNS = [
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
        "title",
        "search_text",
        "preview",
        "request_id",
    )
]
# A job as `rows.job_from_mapping` reads it (the input last; the search text, which only a
# history search reads, left out).
JOB_COLUMNS = [c for c in jobs.c if c.name not in ("input", "search_text")] + [jobs.c.input]
# A job's file as `rows.file_from_mapping` reads it.
FILE_COLUMNS = [
    files.c.id.label("f_id"),
    files.c.size_bytes.label("f_size_bytes"),
    files.c.pages.label("f_pages"),
    files.c.filename.label("f_filename"),
    files.c.storage_key.label("f_storage_key"),
    files.c.content_type.label("f_content_type"),
    files.c.html_key.label("f_html_key"),
    files.c.warnings.label("f_warnings"),
    files.c.thumbnail_key.label("f_thumbnail_key"),
]
# The columns of a new file row (`rows.file_rows`).
FILE_ROW_COLUMNS = [
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
        "thumbnail_key",
    )
]


def status_is(status: JobStatus) -> ColumnElement[bool]:
    """`jobs.status = '<status>'` with the value written into the SQL, not bound: a partial
    index on that status is then usable by every plan (SQLite's, and PostgreSQL's generic
    plans for prepared statements), which a bound parameter does not guarantee."""
    return jobs.c.status == literal_column(f"'{status.value}'")


def on_index(query: Select[Any], index: str) -> Select[Any]:
    """Tell SQLite which index reads `jobs`: without statistics its planner prefers a
    covering index over all rows to a small partial one (PostgreSQL picks well)."""
    return query.with_hint(jobs, f"INDEXED BY {index}", "sqlite")


def owned(job_id: Any, worker_id: Any) -> ColumnElement[bool]:
    """The fence of every write by a worker: the job is running and `worker_id` holds it."""
    return and_(
        jobs.c.id == job_id,
        jobs.c.lease_owner == worker_id,
        status_is(JobStatus.RUNNING),
    )


# -- submission ---------------------------------------------------------------


def insert_job(upsert: Upsert) -> Any:
    """Insert one job from bound `new_<column>` values; no row back when a unique index
    (the idempotency key) refuses it. Returns the row as inserted."""
    values = {c.name: bindparam(f"new_{c.name}", type_=c.type) for c in JOB_INSERT_COLUMNS}
    return upsert(jobs).values(values).on_conflict_do_nothing().returning(*jobs.c)


def quota_statements(
    upsert: Upsert, engine: AsyncEngine
) -> tuple[DriverStatement, DriverStatement, DriverStatement]:
    """What a submission runs for its quota, compiled once for `engine`'s driver: reserve one
    PDF, mark the period's warning sent, record the warning event."""
    return (
        DriverStatement(reserve_quota(upsert), engine),
        DriverStatement(mark_quota_warned(), engine),
        DriverStatement(record_quota_warning(), engine),
    )


def reserve_quota(upsert: Upsert) -> Any:
    """Reserve one PDF in the period's counter row (made on first use) unless the limit is
    reached: one conditional upsert, so concurrent submissions cannot both take the last one.
    Returns (reserved, used, warned_at), or no row when the limit is reached."""
    limit = bindparam("q_limit", type_=Integer)
    counters = usage_counters.c
    return (
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


def mark_quota_warned() -> Update:
    """Mark the period warned, once (no row changed when it already was)."""
    counters = usage_counters.c
    return (
        update(usage_counters)
        .where(
            counters.user_id == bindparam("q_user_id", type_=String),
            counters.period == bindparam("q_period", type_=String),
            counters.warned_at.is_(None),
        )
        .values(warned_at=db_now())
    )


def record_quota_warning() -> Insert:
    """The warning in the user's usage history."""
    return insert(usage_events).values(
        user_id=bindparam("q_user_id", type_=String),
        period=bindparam("q_period", type_=String),
        kind="quota_warning",
    )


def record_model_call() -> Insert:
    """A model's answer for a job, in its owner's usage history."""
    return insert(usage_events).values(
        user_id=bindparam("m_user_id", type_=String),
        period=bindparam("m_period", type_=String),
        job_id=bindparam("m_job_id", type_=String),
        generator=bindparam("m_model", type_=String),
        duration_ms=bindparam("m_duration_ms", type_=BigInteger),
        kind="llm_call",
    )


# -- reading ------------------------------------------------------------------


def select_jobs() -> Select[Any]:
    """Jobs with their file's columns (NULL when they have none)."""
    return select(*JOB_COLUMNS, *FILE_COLUMNS).select_from(
        jobs.outerjoin(files, files.c.id == jobs.c.file_id)
    )


def job_by_id() -> Select[Any]:
    """A job by its bound `job_id`."""
    return select_jobs().where(jobs.c.id == bindparam("job_id"))


def job_of_owner() -> Select[Any]:
    """A job by its bound `job_id` and `user_id`."""
    return job_by_id().where(jobs.c.user_id == bindparam("user_id"))


def newest_first(
    query: Select[Any],
    user_id: Any,
    limit: int,
    cursor: Any = None,
    *,
    status: Any = None,
    type: Any = None,
    pattern: Any = None,
) -> Select[Any]:
    """`query` (over `jobs`) narrowed to a user's jobs, newest first, after `cursor` (an
    id), of `status` and `type` when given, whose search text is LIKE `pattern` (see
    `contains_pattern`); one more than `limit`, to tell whether a next page exists. Values
    or bound parameters. Each filter has its index: (user_id, id), (user_id, status, id),
    (user_id, type, id), and for a search (user_id, id, search_text)."""
    # A template preview is nobody's document (migration 0013): never listed.
    query = query.where(jobs.c.user_id == user_id, jobs.c.preview.is_(false()))
    if status is not None:
        query = query.where(jobs.c.status == status)
    if type is not None:
        query = query.where(jobs.c.type == type)
    if pattern is not None:
        query = query.where(jobs.c.search_text.like(pattern, escape=LIKE_ESCAPE))
    if cursor is not None:
        query = query.where(jobs.c.id < cursor)
    return query.order_by(jobs.c.id.desc()).limit(limit + 1)


LIKE_ESCAPE = "/"


def contains_pattern(text: str) -> str:
    """The LIKE pattern of text containing `text` literally: its `%`, `_` and the escape
    character match only themselves."""
    escaped = (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )
    return f"%{escaped}%"


def jobs_page(
    user_id: str, status: JobStatus | None, limit: int, cursor: str | None
) -> Select[Any]:
    """A user's jobs newest first, after `cursor` (an id); one more than `limit`, to tell
    whether a next page exists."""
    return newest_first(
        select_jobs(),
        user_id,
        limit,
        cursor or None,
        status=None if status is None else status.value,
    )


def documents_page(
    limit: int, *, status: bool, type: bool, search: bool, after: bool
) -> Select[Any]:
    """A page of a user's history (`newest_first`): what each line shows, never the input;
    bound `doc_user_id`, and `doc_status`, `doc_type`, `doc_pattern` (`contains_pattern`)
    and `doc_cursor` for the filters asked for. The page's ids are found first from an
    index alone (a search's holds the search text, so it never reads the wide job rows it
    passes over), then only those rows are read."""
    ids = newest_first(
        select(jobs.c.id),
        bindparam("doc_user_id", type_=String),
        limit,
        bindparam("doc_cursor", type_=String) if after else None,
        status=bindparam("doc_status", type_=String) if status else None,
        type=bindparam("doc_type", type_=String) if type else None,
        pattern=bindparam("doc_pattern", type_=String) if search else None,
    )
    if search:
        ids = on_index(ids, "ix_jobs_user_id_id_search_text")
    page = ids.subquery("page")
    return (
        select(
            jobs.c.id,
            jobs.c.type,
            jobs.c.status,
            jobs.c.title,
            jobs.c.created_at,
            files.c.pages.label("f_pages"),
            files.c.thumbnail_key.label("f_thumbnail_key"),
        )
        .select_from(
            page.join(jobs, jobs.c.id == page.c.id).outerjoin(files, files.c.id == jobs.c.file_id)
        )
        .order_by(jobs.c.id.desc())
    )


def job_id_by_idempotency_key(user_id: str, key: str) -> Select[Any]:
    return select(jobs.c.id).where(jobs.c.user_id == user_id, jobs.c.idempotency_key == key)


# -- leases -------------------------------------------------------------------


def back_in_queue(*, run_after: Any) -> dict[str, Any]:
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


def still_owned(worker_id: str, job_ids: list[str]) -> Select[Any]:
    """Those of `job_ids` that `worker_id` still runs."""
    return select(jobs.c.id).where(
        jobs.c.id.in_(job_ids),
        jobs.c.lease_owner == worker_id,
        status_is(JobStatus.RUNNING),
    )


def renew_leases(worker_id: str, lease_s: float) -> Update:
    """Extend every lease `worker_id` holds, in one statement."""
    return (
        update(jobs)
        .where(jobs.c.lease_owner == worker_id, status_is(JobStatus.RUNNING))
        .values(lease_expires_at=now_plus(lease_s))
    )


def _expired() -> ColumnElement[bool]:
    return and_(status_is(JobStatus.RUNNING), jobs.c.lease_expires_at < db_now())


def fail_expired() -> Update:
    """Fail the running jobs whose lease ran out and that have no attempt left; their ids."""
    return (
        update(jobs)
        .where(_expired(), jobs.c.attempts >= jobs.c.max_attempts)
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


def requeue_expired() -> Update:
    """Put the (other) running jobs whose lease ran out back in the queue; their ids."""
    return (
        update(jobs)
        .where(_expired())
        .values(**back_in_queue(run_after=db_now()))
        .returning(jobs.c.id)
    )


def _given_back() -> Any:
    """The attempt count less the attempt being ended, which did not count."""
    return case((jobs.c.attempts > 0, jobs.c.attempts - 1), else_=0)


def release_jobs(worker_id: str) -> Update:
    """Hand every job `worker_id` still runs back to the queue, attempt returned; their ids."""
    return (
        update(jobs)
        .where(jobs.c.lease_owner == worker_id, status_is(JobStatus.RUNNING))
        .values(**back_in_queue(run_after=db_now()), attempts=_given_back())
        .returning(jobs.c.id)
    )


# -- fenced updates by the owning worker --------------------------------------


def set_stage() -> Update:
    """A running job's stage and progress (bound), fenced on its owner; a NULL generator
    leaves the recorded one."""
    return (
        update(jobs)
        .where(owned(bindparam("stage_job_id", type_=String), bindparam("worker_id", type_=String)))
        .values(
            stage=bindparam("new_stage", type_=String),
            progress=bindparam("new_progress", type_=Float),
            generator=func.coalesce(bindparam("new_generator", type_=String), jobs.c.generator),
            updated_at=db_now(),
        )
    )


def succeeded(file_id: Any) -> dict[str, Any]:
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


def fail_attempt(
    job_id: str,
    worker_id: str,
    error: JobError,
    *,
    retry_in_s: float | None,
    give_back_attempt: bool,
) -> Update:
    """End an owned job's attempt with `error`: queued again after `retry_in_s`, or failed
    for good (None); `give_back_attempt`: the attempt does not count."""
    values: dict[str, Any] = {
        "error_code": error.code,
        "error_message": error.message,
        "lease_owner": None,
        "lease_expires_at": None,
        "updated_at": db_now(),
    }
    if retry_in_s is None:
        values.update(
            status=JobStatus.FAILED.value, stage=JobStage.DONE.value, finished_at=db_now()
        )
    else:
        values.update(back_in_queue(run_after=now_plus(retry_in_s)))
        if give_back_attempt:
            values["attempts"] = _given_back()
    return update(jobs).where(owned(job_id, worker_id)).values(**values)


# -- user actions -------------------------------------------------------------


def cancel_job(job_id: str, user_id: str) -> Update:
    """Cancel the user's job if it is queued or running (its worker then loses it)."""
    active = [JobStatus.QUEUED.value, JobStatus.RUNNING.value]
    return (
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


def job_and_file(job_id: str, user_id: str) -> Select[Any]:
    """The user's job's status with its file's id and storage keys (NULL without a file)."""
    return (
        select(
            jobs.c.status,
            files.c.storage_key,
            files.c.html_key,
            files.c.thumbnail_key,
            files.c.id.label("file_id"),
        )
        .select_from(jobs.outerjoin(files, files.c.job_id == jobs.c.id))
        .where(jobs.c.id == job_id, jobs.c.user_id == user_id)
    )


def delete_job(job_id: str) -> Delete:
    return delete(jobs).where(jobs.c.id == job_id)


def delete_file(file_id: Any) -> Delete:
    return delete(files).where(files.c.id == file_id)
