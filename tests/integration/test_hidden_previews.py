"""Template previews' jobs on real SQLite and PostgreSQL: no webhook delivery whatever way
they end, in no list (the API's, the history's, any status or type filter), in none of the
figures people read (stats by window and by hour, usage), and the maintenance pass deletes
the ones left behind, with their stored PDFs, and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.accounts import AccountStore
from pdfprompt.db import jobs, webhook_deliveries
from pdfprompt.domain import JobError, JobStatus, JobType
from pdfprompt.queue import JobStore, NewJob, StoredFile, job_store_for
from pdfprompt.queue.maintenance import delete_left_previews
from pdfprompt.webhooks import WebhookStore
from tests.support.store import new_job
from tests.support.webhooks import hook_user

ENDED = ["job.succeeded", "job.failed", "job.canceled"]


def _preview(user: str) -> NewJob:
    return new_job(user, type=JobType.HTML, input="<p>preview</p>", max_attempts=1, preview=True)


async def _end(store: JobStore, new: NewJob, end: str, key: str) -> str:
    job = await store.enqueue(new)
    if end == "canceled":
        await store.cancel_job(job.id, new.user_id)
        return job.id
    [claimed] = await store.claim_jobs("w", 1, lease_s=30)
    assert claimed.id == job.id
    if end == "succeeded":
        await store.finish_job(job.id, "w", new.user_id, StoredFile(key, 10, 1, "0" * 64, "a.pdf"))
    else:
        await store.fail_job(job.id, "w", JobError("invalid_input", "bad"), retry_in_s=None)
    return job.id


async def test_previews_make_no_event_and_are_listed_and_counted_nowhere(
    engine: AsyncEngine,
) -> None:
    store, hooks = job_store_for(engine), WebhookStore(engine)
    user = await hook_user(engine)
    await hooks.create(user, "https://hooks.example.com/x", ENDED)
    for end in ("succeeded", "failed", "canceled"):
        await _end(store, _preview(user), end, f"p-{end}")
    real = await _end(store, new_job(user, type=JobType.HTML, input="<p>r</p>"), "succeeded", "r")
    waiting = await store.enqueue(_preview(user))  # queued, as while the API waits
    async with engine.connect() as conn:
        subjects = (await conn.execute(select(webhook_deliveries.c.subject))).scalars().all()
    assert subjects == [real]
    assert [
        j.id for j in (await store.list_jobs(user, status=None, limit=50, cursor=None)).items
    ] == [real]
    for status in JobStatus:
        page = await store.list_jobs(user, status=status, limit=50, cursor=None)
        assert waiting.id not in [j.id for j in page.items]
    assert [d.id for d in (await store.list_documents(user, limit=50)).items] == [real]
    for kind in (JobType.HTML, None):
        found = await store.list_documents(user, type=kind, text="preview", limit=50)
        assert found.items == []
    window = await store.window_stats(3600)
    assert (window.succeeded, window.failed, window.canceled) == (1, 0, 0)
    hours = await store.hourly_stats(2)
    assert sum(h.succeeded + h.failed + h.canceled for h in hours) == 1
    assert (await store.get(waiting.id, user)).status is JobStatus.QUEUED  # its waiter sees it
    history, _ = await AccountStore(engine).history(user, period=None, limit=50, cursor=None)
    assert history == []  # none of these reserved a PDF, the preview least of all


async def test_the_maintenance_pass_deletes_previews_left_behind_and_their_pdfs(
    engine: AsyncEngine,
) -> None:
    store = job_store_for(engine)
    user = await hook_user(engine)
    old_done = await _end(store, _preview(user), "succeeded", "old-preview.pdf")
    kept = await _end(
        store, new_job(user, type=JobType.HTML, input="<p>k</p>"), "succeeded", "kept.pdf"
    )
    old_queued = (await store.enqueue(_preview(user))).id
    fresh = (await store.enqueue(_preview(user))).id
    async with engine.begin() as conn:
        await conn.execute(
            update(jobs)
            .where(jobs.c.id.in_([old_done, old_queued, kept]))
            .values(created_at=datetime.now(UTC) - timedelta(minutes=10))
        )
    discarded: list[str] = []

    async def discard(key: str) -> None:
        discarded.append(key)

    assert await delete_left_previews(store, discard) == 2
    assert discarded == ["old-preview.pdf"]
    async with engine.connect() as conn:
        left = set((await conn.execute(select(jobs.c.id))).scalars())
        assert (await conn.execute(select(func.count()).select_from(jobs))).scalar_one() == 2
    assert left == {fresh, kept}
    assert await delete_left_previews(store, discard) == 0
