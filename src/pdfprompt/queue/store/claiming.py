"""The claim: which due jobs a worker takes, as statement builders both dialects compose.

Claim order (docs/queue.md, "Claiming"): highest priority first; within a priority users take
turns (every user's first job before anyone's second); a user's running jobs plus the jobs
claimed for them stay within their cap. Two pieces differ by dialect and are passed in by
`sqlite.py` and `postgres.py`: how each waiting user's first jobs are read (`Heads`) and how
the chosen rows are held against other claimers (`Lock`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    Select,
    String,
    Update,
    bindparam,
    case,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.sql.expression import ColumnElement

from pdfprompt.db import db_now, jobs, now_plus, seconds_since
from pdfprompt.db import users as user_rows
from pdfprompt.domain import JobStage, JobStatus
from pdfprompt.queue.store.statements import on_index, status_is

# (waiting users, running per user, limit, per-user cap) -> per waiting user their first due
# jobs: a subquery of (id, user_id, priority, run_after, running, cap).
Heads = Callable[[Any, Any, Any, Any], Any]
# The candidate ids -> those still queued, held so that no other claim takes them.
Lock = Callable[[Select[Any]], Select[Any]]
# The smaller of two values, in the dialect's SQL (SQLite: scalar `min`; PostgreSQL: `least`).
Least = Callable[[Any, Any], Any]


def running_per_user() -> Any:
    """Running jobs per user (`user_id`, `n`), counted on the partial index of running rows."""
    return on_index(
        select(jobs.c.user_id, func.count().label("n"))
        .where(status_is(JobStatus.RUNNING))
        .group_by(jobs.c.user_id),
        "ix_jobs_running_user_id",
    ).subquery("running")


def queued_users() -> Any:
    """The distinct users with queued jobs, by a loose index scan of the claim index: one
    probe per user (`min(user_id) > previous`) instead of reading every queued row. The last
    row is NULL."""
    first = on_index(
        select(func.min(jobs.c.user_id).label("user_id")).where(status_is(JobStatus.QUEUED)),
        "ix_jobs_claim",
    )
    users = first.cte("queued_users", recursive=True)
    after = on_index(
        select(func.min(jobs.c.user_id)).where(
            status_is(JobStatus.QUEUED), jobs.c.user_id > users.c.user_id
        ),
        "ix_jobs_claim",
    ).scalar_subquery()
    return users.union_all(select(after).where(users.c.user_id.is_not(None)))


def user_cap(users: Any, per_user_cap: Any, plan_caps: Mapping[str, int], least: Least) -> Any:
    """A waiting user's cap on running jobs: `per_user_cap`, or their plan's
    `max_concurrent_jobs` when lower (`plan_caps`: plan name -> cap; one primary-key probe of
    the user's row)."""
    if not plan_caps:
        return per_user_cap if isinstance(per_user_cap, ColumnElement) else literal(per_user_cap)
    by_plan = case(
        *[
            (user_rows.c.plan == literal(name), least(literal(cap), per_user_cap))
            for name, cap in sorted(plan_caps.items())
        ],
        else_=per_user_cap,
    )
    return (
        select(by_plan).where(user_rows.c.id == users.c.user_id).correlate(users).scalar_subquery()
    )


def due_head(users: Any) -> Select[Any]:
    """The ids of a waiting user's queued and due jobs in the order they start (correlated to
    `users`, read from the claim index); the dialect limits it."""
    return (
        select(jobs.c.id)
        .where(
            status_is(JobStatus.QUEUED),
            jobs.c.user_id == users.c.user_id,
            jobs.c.run_after <= db_now(),
        )
        .order_by(jobs.c.priority.desc(), jobs.c.run_after, jobs.c.id)
    )


def claimable(heads: Heads, limit: Any, per_user_cap: Any) -> Select[Any]:
    """Due jobs in claim order, interleaving users, within each user's running cap.

    Each user's head (the few jobs they may start now, in priority and due order) is read by
    an index scan that stops there; the heads are ranked within their user, and claiming takes
    rank 1 of every user before rank 2 of any, so one user's backlog never holds another
    user's job back. A user's head holds at most `per_user_cap` minus the jobs they already
    run. The cost grows with the number of users waiting, not with the backlog.
    """
    head = heads(queued_users(), running_per_user(), limit, per_user_cap)
    rank = func.row_number().over(
        partition_by=(head.c.user_id, head.c.priority),
        order_by=(head.c.run_after, head.c.id),
    )
    ranked = select(
        head.c.id,
        head.c.priority,
        head.c.run_after,
        head.c.running,
        head.c.cap,
        rank.label("rank"),
    ).subquery("ranked")
    return (
        select(ranked.c.id)
        .where(ranked.c.rank + ranked.c.running <= ranked.c.cap)
        .order_by(ranked.c.priority.desc(), ranked.c.rank, ranked.c.run_after, ranked.c.id)
        .limit(limit)
    )


def claim_jobs(heads: Heads, lock: Lock) -> Update:
    """The claim UPDATE, compiled once per store; `claim_limit`, `per_user_cap`, `worker_id`
    and `lease_s` are bound per call. Returns the claimed rows with `waited_s`, the seconds
    from each job being due to this claim."""
    limit = bindparam("claim_limit", type_=Integer)
    cap = bindparam("per_user_cap", type_=Integer)
    # A CTE is planned and run once; as a plain IN-subquery the planner may re-run
    # the locking scan for every queued row (seen on tables with no statistics yet).
    chosen = lock(claimable(heads, limit, cap)).cte("claimable")
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
