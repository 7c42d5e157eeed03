"""Stored files: a user's file, the render cache, storage used, the rows retention
deletes (expired files, ended jobs without a file) and those of a person who goes.
Statement builders first, then the store's part that runs them (`StoredFiles`, a part of
`SharedJobStore`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import Delete, Select, bindparam, delete, select, true
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.dml import ReturningDelete

from pdfprompt.db import (
    DriverStatement,
    assets,
    db_now,
    files,
    jobs,
    now_plus,
    read_one,
    stored_bytes,
    write_transaction,
)
from pdfprompt.db import users as user_rows
from pdfprompt.domain import FINAL_STATUSES, FileInfo, NotFoundError, first_id_at
from pdfprompt.queue.store.records import CachedRender
from pdfprompt.queue.store.rows import file_from_row, warnings_of
from pdfprompt.queue.store.statements import FILE_COLUMNS


def file_of_owner(file_id: str, user_id: str) -> Select[Any]:
    return select(*FILE_COLUMNS).where(files.c.id == file_id, files.c.user_id == user_id)


# What a file row keeps in storage: its PDF, its kept HTML, its first-page thumbnail.
STORED_KEYS = (files.c.storage_key, files.c.html_key, files.c.thumbnail_key)


def stored_keys(rows: Sequence[Any]) -> list[str]:
    """The storage keys of file rows (selected or returned with `STORED_KEYS`)."""
    return [k for r in rows for k in (r.storage_key, r.html_key, r.thumbnail_key) if k]


def cached_render_query() -> Select[Any]:
    """The newest file of the bound `user_id` made by the render with the bound `render_key`."""
    return (
        select(files.c.storage_key, files.c.pages, files.c.size_bytes, files.c.warnings)
        .where(
            files.c.render_key == bindparam("render_key"),
            files.c.user_id == bindparam("user_id"),
        )
        .order_by(files.c.id.desc())
        .limit(1)
    )


def keys_in(column: Any, keys: list[str]) -> Select[Any]:
    """Those of `keys` that `column` (a storage key column of files) holds."""
    return select(column).where(column.in_(keys))


def delete_expired_files_of_plan(plan: str, cutoff_id: str, limit: int) -> ReturningDelete[Any]:
    """Delete up to `limit` files of `plan`'s users made before `cutoff_id`, oldest first
    (file ids are time-ordered, so the age test is a range on the primary key); returns
    their storage keys."""
    expired = (
        select(files.c.id)
        .select_from(files.join(user_rows, user_rows.c.id == files.c.user_id))
        .where(user_rows.c.plan == plan, files.c.id < cutoff_id)
        .order_by(files.c.id)
        .limit(limit)
    )
    return delete(files).where(files.c.id.in_(expired.scalar_subquery())).returning(*STORED_KEYS)


def prune_jobs_without_file(older_than_s: float, limit: int) -> Delete:
    """Delete up to `limit` ended jobs that have no file and ended over `older_than_s` ago."""
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
    return delete(jobs).where(jobs.c.id.in_(old.scalar_subquery()))


def stale_previews(older_than_s: float, limit: int) -> Select[Any]:
    """Up to `limit` template previews' jobs made over `older_than_s` ago (the API waiting for
    one deletes it; these are the ones it never could), with their file ids."""
    return (
        select(jobs.c.id, jobs.c.file_id)
        .where(jobs.c.preview.is_(true()), jobs.c.created_at < now_plus(-older_than_s))
        .order_by(jobs.c.created_at)
        .limit(limit)
    )


def user_jobs(user_id: str, limit: int) -> Select[Any]:
    """Ids of up to `limit` of the user's jobs (on `ix_jobs_user_id_id`)."""
    return select(jobs.c.id).where(jobs.c.user_id == user_id).order_by(jobs.c.id).limit(limit)


def files_of_jobs(user_id: str, job_ids: list[str]) -> ReturningDelete[Any]:
    """Delete the user's files of these jobs; their storage keys."""
    return (
        delete(files)
        .where(files.c.user_id == user_id, files.c.job_id.in_(job_ids))
        .returning(*STORED_KEYS)
    )


def user_files(user_id: str, limit: int) -> ReturningDelete[Any]:
    """Delete up to `limit` of the user's files; their storage keys."""
    some = select(files.c.id).where(files.c.user_id == user_id).order_by(files.c.id).limit(limit)
    return delete(files).where(files.c.id.in_(some.scalar_subquery())).returning(*STORED_KEYS)


class StoredFiles:
    """The store's queries on files and their retention."""

    engine: AsyncEngine

    async def get_file(self, file_id: str, user_id: str) -> FileInfo:
        async with self.engine.connect() as conn:
            row = (await conn.execute(file_of_owner(file_id, user_id))).first()
        if row is None:
            raise NotFoundError(f"file {file_id} not found")
        return file_from_row(row)

    @cached_property
    def _cached_render_sql(self) -> DriverStatement:
        return DriverStatement(cached_render_query(), self.engine)

    async def cached_render(self, user_id: str, render_key: str) -> CachedRender | None:
        """The newest of `user_id`'s stored files made by an identical render, if any. Asked
        before every render, so it runs on the driver (`read_one`)."""
        row = await read_one(
            self.engine, self._cached_render_sql, render_key=render_key, user_id=user_id
        )
        if row is None:
            return None
        return CachedRender(
            row["storage_key"], row["pages"], row["size_bytes"], warnings_of(row["warnings"])
        )

    async def storage_used(self, user_id: str) -> int:
        """Bytes of the user's stored PDFs and assets."""
        async with self.engine.connect() as conn:
            return int((await conn.execute(stored_bytes(user_id))).scalar_one())

    async def database_time(self) -> datetime:
        """The database's clock, the one leases and retries are measured by (a machine's own
        clock may be off by any amount)."""
        async with self.engine.connect() as conn:
            value: datetime = (await conn.execute(select(db_now()))).scalar_one()
        return value

    async def referenced_keys(self, keys: Sequence[str]) -> set[str]:
        """Those of `keys` a file row points to (as its PDF, its kept HTML or its
        thumbnail) or an asset row keeps its bytes under."""
        if not keys:
            return set()
        wanted = list(keys)
        found: set[str] = set()
        async with self.engine.connect() as conn:
            for column in (*STORED_KEYS, assets.c.storage_key):
                found |= {k for (k,) in await conn.execute(keys_in(column, wanted)) if k}
        return found

    async def delete_expired_files(
        self, retention_days: Mapping[str, int], *, now: datetime, limit: int = 500
    ) -> list[str]:
        """Delete up to `limit` file rows older than their owner's plan keeps files
        (`retention_days`: plan -> days), oldest first; returns their storage keys (PDF,
        kept HTML, thumbnail), to be removed after this commits. The jobs stay, without a file."""
        keys: list[str] = []
        async with write_transaction(self.engine) as conn:
            for plan, days in sorted(retention_days.items()):
                if len(keys) >= limit:
                    break
                cutoff = first_id_at(int((now - timedelta(days=days)).timestamp() * 1000))
                statement = delete_expired_files_of_plan(plan, cutoff, limit - len(keys))
                rows = (await conn.execute(statement)).all()
                keys += stored_keys(rows)
        return keys

    async def prune_jobs(self, older_than_s: float, *, limit: int = 500) -> int:
        """Delete up to `limit` ended jobs that have no file (failed, cancelled, or whose
        file retention removed) and ended more than `older_than_s` ago; one short
        transaction per call. A job with a file lives as long as the file."""
        async with write_transaction(self.engine) as conn:
            done = await conn.execute(prune_jobs_without_file(older_than_s, limit))
        return int(done.rowcount or 0)

    async def delete_stale_previews(
        self, older_than_s: float, *, limit: int = 500
    ) -> tuple[int, list[str]]:
        """Delete up to `limit` template previews' jobs made over `older_than_s` ago, whatever
        their status, with their files' rows; one short transaction. How many jobs it
        deleted, and the storage keys to remove after it commits. A worker still running
        one loses it (its writes are fenced), so no file row comes back."""
        async with write_transaction(self.engine) as conn:
            found = (await conn.execute(stale_previews(older_than_s, limit))).all()
            if not found:
                return 0, []
            ids = [r.id for r in found]
            await conn.execute(delete(jobs).where(jobs.c.id.in_(ids)))
            gone = delete(files).where(files.c.job_id.in_(ids)).returning(*STORED_KEYS)
            rows = (await conn.execute(gone)).all()
        return len(ids), stored_keys(rows)

    async def delete_user_documents(
        self, user_id: str, *, limit: int = 500
    ) -> tuple[int, list[str]]:
        """Delete up to `limit` of the user's jobs, whatever their status, with their files'
        rows (shares go with them); once no job is left, up to `limit` files left without
        one. One short transaction per call: how many rows it deleted, and the storage keys
        to remove after it commits. A worker running one of these jobs loses it (its
        writes are fenced), so no file row comes back."""
        async with write_transaction(self.engine) as conn:
            ids = list((await conn.execute(user_jobs(user_id, limit))).scalars())
            if ids:
                await conn.execute(delete(jobs).where(jobs.c.id.in_(ids)))
                gone = files_of_jobs(user_id, ids)
            else:
                gone = user_files(user_id, limit)
            rows = (await conn.execute(gone)).all()
        keys = stored_keys(rows)
        return len(ids) + len(rows), keys
