"""The history's store queries and thumbnails on SQLite and PostgreSQL: `list_documents`
(order, status and type filters, a literal search, pages without duplicates or gaps, one
person's documents only), the API's `list_jobs` as it was, the titles migration 0008 fills
in, the thumbnail drawn when first asked for and stored beside each PDF, and every path
that deletes a file's bytes deleting its thumbnail too (job delete, retention, a lost job,
the orphan sweep)."""

from __future__ import annotations

import asyncio
import io
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import insert, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.actions import THUMBNAIL_MAX_PDF_BYTES, thumbnail_png
from pdfprompt.db import create_engine, files, jobs, upgrade
from pdfprompt.domain import (
    Job,
    JobError,
    JobStatus,
    JobType,
    document_title,
    new_id,
    search_key,
    search_text,
)
from pdfprompt.pdf import THUMBNAIL_WIDTH_PX
from pdfprompt.pipeline import JobPipeline
from pdfprompt.queue import (
    ORPHAN_GRACE_S,
    Finished,
    JobContext,
    JobStore,
    NewJob,
    StoredFile,
    Worker,
    WorkerConfig,
    job_store_for,
    sweep_orphans,
)
from pdfprompt.queue.maintenance import delete_expired_files
from pdfprompt.render import renderer_from_settings
from pdfprompt.settings import Settings
from pdfprompt.storage import LocalStorage
from tests.support.store import new_user

WORKER = "history-test-worker"


def _new(user: str, body: str, kind: JobType = JobType.PROMPT, **options: object) -> NewJob:
    return NewJob(user_id=user, type=kind, input=body, options=dict(options), max_attempts=3)


async def _finish(store: JobStore, user: str, job_id: str, *, thumbnail: bool = True) -> StoredFile:
    """Claim the user's queued jobs and record `job_id` as succeeded with a file (the
    others claimed go back to the queue)."""
    claimed = await store.claim_jobs(WORKER, 500, 60, per_user_cap=10_000)
    assert job_id in {j.id for j in claimed}
    stem = f"{user}/{job_id}-1-test"
    stored = StoredFile(
        storage_key=f"{stem}.pdf",
        size_bytes=10,
        pages=3,
        sha256="0" * 64,
        filename="d.pdf",
        thumbnail_key=f"{stem}.png" if thumbnail else None,
    )
    assert (await store.finish_jobs(WORKER, [Finished(job_id, user, stored)]))[job_id]
    await store.release_jobs(WORKER)
    return stored


async def _fail(store: JobStore, job_id: str) -> None:
    claimed = await store.claim_jobs(WORKER, 500, 60, per_user_cap=10_000)
    assert job_id in {j.id for j in claimed}
    await store.fail_job(job_id, WORKER, JobError("render_failed", "no"), retry_in_s=None)
    await store.release_jobs(WORKER)


# -- listing ----------------------------------------------------------------------------------


async def test_the_history_lists_newest_first_with_filters_and_one_persons_documents(
    engine: AsyncEngine,
) -> None:
    store = job_store_for(engine)
    me = await new_user(engine, "me@example.com")
    other = await new_user(engine, "other@example.com")
    report = await store.enqueue(_new(me, "Quarterly report for the board", title="Q3 Report"))
    notes = await store.enqueue(_new(me, "# Meeting notes\n\nPlans.", JobType.MARKDOWN))
    page = await store.enqueue(_new(me, "<h1>Landing &amp; page</h1><p>x</p>", JobType.HTML))
    broken = await store.enqueue(_new(me, "a prompt that fails"))
    theirs = await store.enqueue(_new(other, "Quarterly report of someone else"))
    await _finish(store, me, report.id)
    await _fail(store, broken.id)

    listed = await store.list_documents(me, limit=10)
    assert [d.id for d in listed.items] == [broken.id, page.id, notes.id, report.id]
    assert listed.next_cursor is None
    first = {d.id: d for d in listed.items}
    assert first[report.id].title == "Q3 Report"  # the options' title
    assert first[notes.id].title == "Meeting notes Plans."  # the input's first words
    assert first[page.id].title == "Landing & page x"
    assert first[report.id].status is JobStatus.SUCCEEDED and first[report.id].pages == 3
    assert first[report.id].has_thumbnail and not first[notes.id].has_thumbnail
    assert first[notes.id].pages is None and first[notes.id].type is JobType.MARKDOWN
    assert first[broken.id].status is JobStatus.FAILED

    async def ids(**filters: object) -> list[str]:
        page = await store.list_documents(me, limit=10, **filters)  # type: ignore[arg-type]
        return [d.id for d in page.items]

    assert await ids(status=JobStatus.SUCCEEDED) == [report.id]
    assert await ids(status=JobStatus.QUEUED) == [page.id, notes.id]
    assert await ids(type=JobType.PROMPT) == [broken.id, report.id]
    assert await ids(type=JobType.HTML, status=JobStatus.QUEUED) == [page.id]
    assert await ids(type=JobType.HTML, status=JobStatus.FAILED) == []
    assert await ids(text=search_key("QUARTERLY")) == [report.id]  # never the other's
    assert await ids(text=search_key("q3 rep")) == [report.id]  # the title is searched
    assert await ids(text=search_key("landing & page")) == [page.id]
    assert await ids(text=search_key("fails"), status=JobStatus.FAILED) == [broken.id]
    assert await ids(text="nothing like this") == []
    theirs_listed = await store.list_documents(other, limit=10)
    assert [d.id for d in theirs_listed.items] == [theirs.id]


async def test_a_search_matches_percent_underscore_quotes_and_backslashes_literally(
    engine: AsyncEngine,
) -> None:
    store = job_store_for(engine)
    me = await new_user(engine, "literal@example.com")
    texts = [
        "50% off everything",
        "500 of them",
        "snake_case name",
        "snakeXcase name",
        'it\'s "quoted"',
        "back\\slash and /slash",
        "<script>alert(1)</script> in a prompt",
    ]
    made = {t: (await store.enqueue(_new(me, t))).id for t in texts}

    async def found(query: str) -> set[str]:
        page = await store.list_documents(me, text=search_key(query), limit=50)
        return {d.id for d in page.items}

    assert await found("50%") == {made["50% off everything"]}
    assert await found("%") == {made["50% off everything"]}
    assert await found("e_c") == {made["snake_case name"]}
    assert await found("_") == {made["snake_case name"]}
    assert await found("it's") == {made['it\'s "quoted"']}
    assert await found('"quoted"') == {made['it\'s "quoted"']}
    assert await found("k\\s") == {made["back\\slash and /slash"]}
    assert await found("/slash") == {made["back\\slash and /slash"]}
    assert await found("<script>") == {made["<script>alert(1)</script> in a prompt"]}
    assert await found("'; drop table jobs; --") == set()
    assert len((await store.list_documents(me, limit=50)).items) == len(texts)


async def test_pages_follow_each_other_without_duplicates_or_gaps(engine: AsyncEngine) -> None:
    store = job_store_for(engine)
    me, other = await new_user(engine, "pages@example.com"), await new_user(engine, "o@example.com")
    made = []
    for i in range(23):
        kind = JobType.MARKDOWN if i % 3 == 0 else JobType.PROMPT
        made.append((await store.enqueue(_new(me, f"invoice number {i}", kind))).id)
        await store.enqueue(_new(other, f"invoice number {i}", kind))

    async def walk(**filters: object) -> list[str]:
        seen: list[str] = []
        cursor = None
        for _ in range(20):
            page = await store.list_documents(me, limit=5, cursor=cursor, **filters)  # type: ignore[arg-type]
            assert len(page.items) <= 5
            seen += [d.id for d in page.items]
            cursor = page.next_cursor
            if cursor is None:
                return seen
        raise AssertionError("the pages did not end")

    assert await walk() == list(reversed(made))
    markdown = [m for i, m in enumerate(made) if i % 3 == 0]
    assert await walk(type=JobType.MARKDOWN) == list(reversed(markdown))
    searched = [m for i, m in enumerate(made) if str(i).startswith("1")]
    assert await walk(text=search_key("number 1")) == list(reversed(searched))
    # An exact multiple of the page: no empty last page.
    assert (await store.list_documents(me, limit=23)).next_cursor is None


async def test_the_api_listing_is_unchanged(engine: AsyncEngine) -> None:
    """`list_jobs` still lists every job of the user with its input, by status, a page at a
    time; the history's search text is not read with a job."""
    store = job_store_for(engine)
    me = await new_user(engine, "api@example.com")
    made = [(await store.enqueue(_new(me, f"job {i}"))).id for i in range(5)]
    await _finish(store, me, made[1])
    page = await store.list_jobs(me, status=None, limit=3, cursor=None)
    assert [j.id for j in page.items] == list(reversed(made))[:3]
    assert page.next_cursor == made[2] and page.items[0].input == "job 4"
    rest = await store.list_jobs(me, status=None, limit=3, cursor=page.next_cursor)
    assert [j.id for j in rest.items] == [made[1], made[0]] and rest.next_cursor is None
    done = await store.list_jobs(me, status=JobStatus.SUCCEEDED, limit=10, cursor=None)
    assert [j.id for j in done.items] == [made[1]]
    assert done.items[0].file is not None and done.items[0].file.thumbnail_key is not None
    assert "search_text" not in done.items[0].extra


# -- titles -----------------------------------------------------------------------------------


def test_titles_come_from_the_options_or_the_first_words_of_the_input() -> None:
    assert document_title(JobType.PROMPT, "ignored", {"title": "  Given\ttitle "}) == "Given title"
    words = " ".join(f"w{i}" for i in range(20))
    assert document_title(JobType.PROMPT, words, {}) == " ".join(words.split()[:12]) + "…"
    html = "<head><title>t</title><style>p{}</style></head><script>x()</script><p>Hi &lt;b&gt;</p>"
    assert document_title(JobType.HTML, html, {}) == "Hi <b>"
    assert document_title(JobType.MARKDOWN, "## **Bold** [link](https://e.x) - item", {}) == (
        "Bold link item"
    )
    assert document_title(JobType.HTML, "<p></p>", {}) == "Untitled"
    assert len(document_title(JobType.PROMPT, "x", {"title": "t" * 500})) == 120
    # The search text fits an index entry uncompressed, whatever the script.
    for char in ("a", "é", "語", "😀"):
        made = search_text(JobType.PROMPT, char * 5000, {"title": char * 500})
        assert 0 < len(made.encode()) <= 480
        assert made.startswith(char * 10)


@pytest.fixture(params=["sqlite", "postgresql"])
def unmigrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no schema yet, on each database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.sqlite3'}"
    url: str = request.getfixturevalue("empty_pg_url")
    return url


async def test_migration_0008_gives_existing_jobs_their_titles(
    unmigrated_url: str, tmp_path: Path
) -> None:
    url = unmigrated_url
    engine = create_engine(Settings(database_url=url, data_dir=tmp_path / "data"))
    try:
        await upgrade(engine, "0007")
        user = await new_user(engine, "old@example.com")
        made = {}
        async with engine.begin() as conn:
            for kind, body, options in (
                ("prompt", "An old prompt about sailing boats", {}),
                ("html", "<h1>Old page</h1>" + "x" * 10_000, {}),
                ("markdown", "# ignored", {"title": "Old Title"}),
            ):
                made[kind] = new_id()
                await conn.execute(
                    insert(jobs.c.id.table).values(
                        id=made[kind],
                        user_id=user,
                        type=kind,
                        input=body,
                        options=options,
                        status="queued",
                        stage="queued",
                        max_attempts=3,
                    )
                )
        await upgrade(engine)
        async with engine.connect() as conn:
            rows = {
                r.id: (r.title, r.search_text)
                for r in await conn.execute(text("SELECT id, title, search_text FROM jobs"))
            }
        assert rows[made["prompt"]] == (
            "An old prompt about sailing boats",
            "an old prompt about sailing boats an old prompt about sailing boats",
        )
        assert rows[made["html"]][0].startswith("Old page x")
        assert rows[made["markdown"]][0] == "Old Title"
        store = job_store_for(engine)
        found = await store.list_documents(user, text=search_key("SAILING"), limit=5)
        assert [d.id for d in found.items] == [made["prompt"]]
    finally:
        await engine.dispose()


# -- thumbnails -------------------------------------------------------------------------------


async def test_a_thumbnail_is_drawn_when_first_asked_for_and_read_after(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    """A rendered job and one served from the render cache each record a thumbnail key of
    their own beside the PDF's, and the worker draws nothing; the first ask draws the first
    page (200 px wide) and stores it, two asks at once get the same picture, and a later ask reads
    what was stored instead of drawing again."""
    store = job_store_for(engine)
    me = await new_user(engine, "thumbs@example.com")
    body = "# A title\n\nSome text on the first page."
    first = await store.enqueue(_new(me, body, JobType.MARKDOWN))
    again = await store.enqueue(_new(me, body, JobType.MARKDOWN))
    storage = LocalStorage(tmp_path / "files")
    renderer = renderer_from_settings(settings.model_copy(update={"render_engine": "weasyprint"}))
    async with renderer:
        pipeline = JobPipeline(renderer, storage)
        worker = Worker(store, pipeline, pipeline.discard, WorkerConfig(concurrency=1, poll_ms=20))
        await asyncio.wait_for(worker.run(burst=True), 120)
    keys = set()
    for job in (first, again):
        done = await store.get(job.id, me)
        assert done.status is JobStatus.SUCCEEDED and done.file is not None
        thumb = done.file.thumbnail_key
        assert thumb is not None and thumb.startswith(f"{me}/") and thumb.endswith(".png")
        assert thumb.removesuffix(".png") == done.file.storage_key.removesuffix(".pdf")
        assert not (tmp_path / "files" / thumb).exists()  # not drawn by the worker
        drawn = await asyncio.gather(thumbnail_png(storage, done), thumbnail_png(storage, done))
        assert drawn[0] is not None and drawn[0] == drawn[1]
        image = Image.open(io.BytesIO(drawn[0]))
        assert image.format == "PNG" and image.width == THUMBNAIL_WIDTH_PX
        assert image.height > image.width  # a portrait page
        assert image.convert("L").getextrema()[0] < 128  # the heading's ink is drawn
        assert await storage.read(thumb) == drawn[0]  # stored for the next ask
        # The next ask reads the stored object (here replaced by another PNG): no new drawing.
        stand_in = _png(10, 20)
        await storage.put(thumb, stand_in)
        assert await thumbnail_png(storage, done) == stand_in
        keys.add(thumb)
    assert len(keys) == 2  # each job its own copy, as with its PDF
    listed = await store.list_documents(me, limit=5)
    assert all(d.has_thumbnail for d in listed.items)


async def test_a_pdf_that_cannot_be_drawn_or_is_gone_gets_the_placeholder(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A PDF PDFium cannot open and one larger than an API node opens get the placeholder
    (None), and an empty object under the key so that no later ask tries again; a PDF gone
    from storage (a delete under way) leaves nothing behind; a PDF job's thumbnail, drawn
    by the worker, is not drawn here when it is gone."""
    store = job_store_for(engine)
    storage = LocalStorage(tmp_path / "files")
    me = await new_user(engine, "undrawable@example.com")

    async def finished(kind: JobType, pdf: bytes | None, size: int | None = None) -> Job:
        job = await store.enqueue(_new(me, "a document", kind))
        stored = await _finish(store, me, job.id)
        if pdf is not None:
            await storage.put(stored.storage_key, pdf)
        if size is not None:
            await _set_size(engine, job.id, size)
        return await store.get(job.id, me)

    broken = await finished(JobType.HTML, b"%PDF-1.7 not really a PDF")
    huge = await finished(JobType.HTML, b"%PDF-1.7 never read", THUMBNAIL_MAX_PDF_BYTES + 1)
    gone = await finished(JobType.HTML, None)
    merged = await finished(JobType.MERGE, b"%PDF-1.7 the user's own pages")
    for job in (broken, huge):
        assert job.file is not None and job.file.thumbnail_key is not None
        assert await thumbnail_png(storage, job) is None
        assert await storage.read(job.file.thumbnail_key) == b""
        assert await thumbnail_png(storage, job) is None
    for job in (gone, merged):
        assert job.file is not None and job.file.thumbnail_key is not None
        assert await thumbnail_png(storage, job) is None
        assert not (tmp_path / "files" / job.file.thumbnail_key).exists()


async def _set_size(engine: AsyncEngine, job_id: str, size: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(files).where(files.c.job_id == job_id).values(size_bytes=size))


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(out, format="PNG")
    return out.getvalue()


async def test_deleting_a_job_returns_its_thumbnail_with_its_pdf(engine: AsyncEngine) -> None:
    store = job_store_for(engine)
    me = await new_user(engine, "delete@example.com")
    job = await store.enqueue(_new(me, "to be deleted"))
    stored = await _finish(store, me, job.id)
    assert set(await store.delete_job(job.id, me)) == {stored.storage_key, stored.thumbnail_key}
    old = await store.enqueue(_new(me, "made before thumbnails"))
    made_before = await _finish(store, me, old.id, thumbnail=False)
    assert await store.delete_job(old.id, me) == [made_before.storage_key]


async def test_retention_removes_thumbnails_with_their_pdfs(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    store = job_store_for(engine)
    storage = LocalStorage(tmp_path / "files")
    me = await new_user(engine, "expired@example.com")
    job = await store.enqueue(_new(me, "expires"))
    stored = await _finish(store, me, job.id)
    assert stored.thumbnail_key is not None
    await storage.put(stored.storage_key, b"%PDF-1.7 ...")
    await storage.put(stored.thumbnail_key, b"\x89PNG ...")
    later = datetime.now(UTC) + timedelta(days=3)
    removed = await delete_expired_files(store, storage.delete, {"enterprise": 1}, now=later)
    assert removed == 2
    assert not (tmp_path / "files" / stored.thumbnail_key).exists()
    assert not (tmp_path / "files" / stored.storage_key).exists()
    assert (await store.get(job.id, me)).file is None


async def test_the_orphan_sweep_keeps_live_thumbnails_and_removes_orphan_ones(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    store = job_store_for(engine)
    storage = LocalStorage(tmp_path / "files")
    me = await new_user(engine, "sweep@example.com")
    job = await store.enqueue(_new(me, "kept"))
    stored = await _finish(store, me, job.id)
    assert stored.thumbnail_key is not None
    orphan = f"{me}/lost-1-abcd.png"
    for key in (stored.storage_key, stored.thumbnail_key, orphan):
        await storage.put(key, b"bytes")
    later = time.time() + 2 * ORPHAN_GRACE_S
    assert await sweep_orphans(store, storage, now=later) == 1
    assert (tmp_path / "files" / stored.thumbnail_key).exists()
    assert (tmp_path / "files" / stored.storage_key).exists()
    assert not (tmp_path / "files" / orphan).exists()


async def test_a_job_lost_before_its_file_was_recorded_leaves_no_thumbnail(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """The job is cancelled after its attempt stored the PDF and the thumbnail: the worker
    removes both."""
    store = job_store_for(engine)
    storage = LocalStorage(tmp_path / "files")
    me = await new_user(engine, "lost@example.com")
    job = await store.enqueue(_new(me, "cancelled while storing"))
    keys = (f"{me}/{job.id}-1-x.pdf", f"{me}/{job.id}-1-x.png")

    async def handler(ctx: JobContext) -> StoredFile:
        for key in keys:
            await storage.put(key, b"bytes")
        await ctx.store.cancel_job(ctx.job.id, me)
        return StoredFile(keys[0], 5, 1, "0" * 64, "x.pdf", thumbnail_key=keys[1])

    worker = Worker(store, handler, storage.delete, WorkerConfig(poll_ms=20, cancel_check_s=3600))
    await asyncio.wait_for(worker.run(burst=True), 30)
    assert (await store.get(job.id, me)).status is JobStatus.CANCELED
    assert not any((tmp_path / "files" / key).exists() for key in keys)
