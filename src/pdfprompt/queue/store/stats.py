"""Queue statistics: what ended in a recent window (counts, latency percentiles), hour by
hour, and how many jobs wait or run. Read by `pdfprompt stats`, the admin pages, the metrics
endpoint and the worker."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.db import jobs, now_plus, seconds_between, seconds_since, whole_hours
from pdfprompt.domain import FINAL_STATUSES, JobStatus
from pdfprompt.queue.store.statements import on_index, status_is

# The partial index each counted status is read from.
_DEPTH_INDEXES = {JobStatus.QUEUED: "ix_jobs_claim", JobStatus.RUNNING: "ix_jobs_running_user_id"}


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


@dataclass(frozen=True, slots=True)
class HourStats:
    """Jobs that ended in one hour of a recent window, `hours_ago` whole hours back (0: the
    last hour)."""

    hours_ago: int
    succeeded: int
    failed: int
    canceled: int

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed + self.canceled


def percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def jobs_ahead(job_id: str, priority: int) -> Any:
    """The queued jobs a claim takes before the queued job `job_id` of `priority` (see
    `QueueStats.queue_position`): one count, read from the claim index."""
    higher = on_index(
        select(func.count())
        .select_from(jobs)
        .where(status_is(JobStatus.QUEUED), jobs.c.priority > priority),
        "ix_jobs_claim",
    ).scalar_subquery()
    rank = func.row_number().over(
        partition_by=jobs.c.user_id, order_by=(jobs.c.run_after, jobs.c.id)
    )
    ranked = (
        select(jobs.c.id, jobs.c.run_after, rank.label("rank"))
        .where(status_is(JobStatus.QUEUED), jobs.c.priority == priority)
        .cte("ranked")
    )
    mine = select(ranked).where(ranked.c.id == job_id).cte("mine")
    before = and_(
        ranked.c.rank == mine.c.rank,
        or_(
            ranked.c.run_after < mine.c.run_after,
            and_(ranked.c.run_after == mine.c.run_after, ranked.c.id < mine.c.id),
        ),
    )
    level = (
        select(func.count())
        .select_from(ranked.join(mine, true()))
        .where(or_(ranked.c.rank < mine.c.rank, before))
        .scalar_subquery()
    )
    return select(higher + level)


class QueueStats:
    """The store's statistics queries (a part of `SharedJobStore`)."""

    engine: AsyncEngine

    async def window_stats(self, window_s: float) -> WindowStats:
        """Jobs that ended in the last `window_s` seconds: counts and latency percentiles."""
        query = select(jobs.c.status, seconds_between(jobs.c.created_at, jobs.c.finished_at)).where(
            jobs.c.finished_at.is_not(None),
            jobs.c.finished_at >= now_plus(-window_s),
            jobs.c.preview.is_(false()),
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
            p50_s=percentile(latencies, 0.50),
            p95_s=percentile(latencies, 0.95),
        )

    async def queue_position(self, job_id: str) -> int | None:
        """How many queued jobs a claim takes before this one; None when it is not queued.

        Claims take higher priorities first, and within a priority every user's first job
        before anyone's second (`claiming.claimable`): ahead of the job are the queued jobs
        of higher priority, and those of its priority ranking before it among their owner's
        (or level with it and due before it). This is the order of one claim over the whole
        queue; claims of a few free slots start the turns again among the jobs left, users'
        running caps hold some back and jobs waiting out a retry delay are counted as due:
        a fair guide, not a promise."""
        me = select(jobs.c.priority, jobs.c.status).where(jobs.c.id == job_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(me)).first()
            if row is None or row.status != JobStatus.QUEUED.value:
                return None
            ahead = (await conn.execute(jobs_ahead(job_id, row.priority))).scalar_one()
        return int(ahead)

    async def hourly_stats(self, hours: int) -> list[HourStats]:
        """Jobs that ended in each of the last `hours` hours, oldest hour first; the rows
        `window_stats(hours * 3600)` counts, counted by the database per hour and status."""
        window_s = hours * 3600.0
        hour = whole_hours(seconds_since(jobs.c.finished_at)).label("hour")
        query = (
            select(hour, jobs.c.status, func.count())
            .where(
                jobs.c.finished_at.is_not(None),
                jobs.c.finished_at >= now_plus(-window_s),
                jobs.c.preview.is_(false()),
            )
            .group_by(hour, jobs.c.status)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        counts = {(h, s.value): 0 for h in range(hours) for s in FINAL_STATUSES}
        for ago, status, n in rows:
            at = min(hours - 1, max(0, int(ago)))  # the window's edges, read a moment apart
            counts[(at, status)] = counts.get((at, status), 0) + int(n)
        return [
            HourStats(
                hours_ago=h,
                succeeded=counts[(h, JobStatus.SUCCEEDED.value)],
                failed=counts[(h, JobStatus.FAILED.value)],
                canceled=counts[(h, JobStatus.CANCELED.value)],
            )
            for h in reversed(range(hours))
        ]

    async def queue_depth(self) -> dict[str, int]:
        """Queued and running jobs; counted on their partial indexes, not the whole table."""
        statuses = (JobStatus.QUEUED, JobStatus.RUNNING)
        counts = [
            on_index(
                select(func.count()).select_from(jobs).where(status_is(s)), _DEPTH_INDEXES[s]
            ).scalar_subquery()
            for s in statuses
        ]
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(*counts))).one()
        return {s.value: n for s, n in zip(statuses, row, strict=True)}
