"""A document's versions: a job and its revisions, linked by `parent_id` (a revision's
parent is the job it edits). Statement builders first, then the store's part that runs
them (`JobVersions`, a part of `SharedJobStore`).

Both walks are recursive CTEs, the same on SQLite and PostgreSQL, each bounded by depth.
Walking up follows the primary key; walking down probes `ix_jobs_user_id_parent_id` for
each level's children among the owner's jobs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, Select, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.db import jobs
from pdfprompt.domain import Job, NotFoundError
from pdfprompt.queue.store.rows import job_from_row
from pdfprompt.queue.store.statements import select_jobs

# Revisions of revisions deeper than this, and versions beyond this many, are not listed.
MAX_VERSION_DEPTH = 200
MAX_VERSIONS = 200


def version_root(job_id: str, user_id: str) -> Select[Any]:
    """The oldest job that `job_id` (the user's) descends from, itself if it revises
    nothing; no row for another user's job. A parent that was deleted ends the walk."""
    first = select(jobs.c.id, jobs.c.parent_id, literal(0, Integer).label("depth")).where(
        jobs.c.id == job_id, jobs.c.user_id == user_id
    )
    up = first.cte("up", recursive=True)
    parent = jobs.alias("parent")
    up = up.union_all(
        select(parent.c.id, parent.c.parent_id, (up.c.depth + 1).label("depth")).where(
            parent.c.id == up.c.parent_id,
            parent.c.user_id == user_id,
            up.c.depth < MAX_VERSION_DEPTH,
        )
    )
    return select(up.c.id).order_by(up.c.depth.desc()).limit(1)


def version_tree(root_id: str, user_id: str) -> Select[Any]:
    """The job `root_id` and every revision below it, newest first (ids are time-ordered),
    with their files."""
    first = select(jobs.c.id, literal(0, Integer).label("depth")).where(
        jobs.c.id == root_id, jobs.c.user_id == user_id
    )
    down = first.cte("down", recursive=True)
    child = jobs.alias("child")
    down = down.union_all(
        select(child.c.id, (down.c.depth + 1).label("depth")).where(
            child.c.parent_id == down.c.id,
            child.c.user_id == user_id,
            down.c.depth < MAX_VERSION_DEPTH,
        )
    )
    return (
        select_jobs()
        .where(jobs.c.id.in_(select(down.c.id)))
        .order_by(jobs.c.id.desc())
        .limit(MAX_VERSIONS)
    )


class JobVersions:
    """The store's version queries (a part of `SharedJobStore`)."""

    engine: AsyncEngine

    async def versions(self, job_id: str, user_id: str) -> list[Job]:
        async with self.engine.connect() as conn:
            root = (await conn.execute(version_root(job_id, user_id))).scalar_one_or_none()
            if root is None:
                raise NotFoundError(f"job {job_id} not found")
            rows = (await conn.execute(version_tree(root, user_id))).all()
        return [job_from_row(r) for r in rows]
