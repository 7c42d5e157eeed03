"""Template previews' jobs, and the pruning of batches, on real SQLite and PostgreSQL: no
webhook delivery whatever way a preview ends, in no list (the API's, the history's, any
status or type filter), in none of the figures people read (stats by window and by hour,
usage), and the maintenance pass deletes the ones left behind, with their stored PDFs, and
nothing else. Ended batches none of whose jobs is left are pruned in bounded batches; one
with a job left shows what is left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.accounts import AccountStore
from pdfprompt.db import batches, delete_in_batches, jobs, webhook_deliveries
from pdfprompt.domain import JobError, JobStatus, JobType
from pdfprompt.queue import JobStore, NewBatch, NewJob, StoredFile, job_store_for
from pdfprompt.queue.maintenance import delete_left_previews, prune_batches
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


async def test_ended_batches_with_no_job_left_are_pruned_in_batches(engine: AsyncEngine) -> None:
    store = job_store_for(engine)
    user = await hook_user(engine)

    def batch_of(n: int) -> NewBatch:
        rows = [new_job(user, type=JobType.HTML, input=f"<p>{i}</p>") for i in range(n)]
        return NewBatch(user, rows, [f"{i}.pdf" for i in range(n)], "{row}.pdf")

    emptied, _ = await store.enqueue_batch(batch_of(2))
    partly, _ = await store.enqueue_batch(batch_of(2))
    running, _ = await store.enqueue_batch(batch_of(1))
    for batch in (emptied, partly):
        await store.cancel_batch(batch.id, user)
    for job in (await store.batch_jobs(emptied.id, user, status=None, limit=10, after_row=None))[0]:
        await store.delete_job(job.id, user)
    [gone_row, _] = (
        await store.batch_jobs(partly.id, user, status=None, limit=10, after_row=None)
    )[0]
    await store.delete_job(gone_row.id, user)
    shown = await store.get_batch(partly.id, user)  # what GET /v1/batches/{id} shows
    assert (shown.total, shown.counts.canceled, shown.status.value) == (2, 1, "canceled")
    async with engine.begin() as conn:
        await conn.execute(
            update(batches).values(created_at=datetime.now(UTC) - timedelta(hours=2))
        )
    assert await prune_batches(store, 0) == 0  # 0: kept for ever, as job retention reads it
    assert await prune_batches(store) == 1
    async with engine.connect() as conn:
        left = set((await conn.execute(select(batches.c.id))).scalars())
    assert left == {partly.id, running.id}  # one job left; still open
    for _ in range(3):  # more than one statement's worth: every one goes
        made, _ = await store.enqueue_batch(batch_of(1))
        await store.cancel_batch(made.id, user)
        [job] = (await store.batch_jobs(made.id, user, status=None, limit=10, after_row=None))[0]
        await store.delete_job(job.id, user)
    async with engine.begin() as conn:
        await conn.execute(
            update(batches).values(created_at=datetime.now(UTC) - timedelta(hours=2))
        )
    assert await prune_batches_by(store, limit=2) == 3
    async with engine.connect() as conn:
        assert set((await conn.execute(select(batches.c.id))).scalars()) == left


async def prune_batches_by(store: JobStore, *, limit: int) -> int:
    """`prune_batches`'s loop with `limit` batches per statement."""
    return await delete_in_batches(lambda: store.prune_batches(3600, limit=limit), "batches")
