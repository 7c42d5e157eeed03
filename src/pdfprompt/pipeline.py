"""One job, end to end: generate HTML, render it, store the PDF.

This is the `JobHandler` the worker runs; `api/app.py` and `cli.py` wire it
to a concrete renderer and storage backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import secrets
from collections.abc import Mapping
from dataclasses import asdict, replace

from pdfprompt.domain import (
    FileTooLargeError,
    Generator,
    InvalidInputError,
    JobStage,
    JobType,
    NotFoundError,
    PageLimitExceededError,
    PdfPromptError,
    Plan,
    RenderMemoryExceededError,
    RenderOptions,
    RenderTimeoutError,
    StorageQuotaExceededError,
    safe_filename,
)
from pdfprompt.generate import (
    LlmClient,
    clean_document,
    markdown_document,
    messages,
    revise_messages,
)
from pdfprompt.pdf import FINISH_VERSION, finish
from pdfprompt.queue import JobContext, StoredFile
from pdfprompt.render import RenderedPdf, Renderer, render_pdf
from pdfprompt.storage import Storage

log = logging.getLogger(__name__)

STORING_SHOWN_AFTER_S = 0.25


def build_document(job_type: JobType, text: str, options: RenderOptions) -> tuple[str, Generator]:
    """The HTML document for an input, and which generator made it."""
    if job_type is JobType.HTML:
        return text, Generator.HTML
    if job_type is JobType.MARKDOWN:
        return markdown_document(text, title=options.title), Generator.MARKDOWN
    # No LLM configured: a prompt is typeset as Markdown and the job says so.
    return markdown_document(text, title=options.title), Generator.MARKDOWN_FALLBACK


def render_key(
    user_id: str, engine: str, document: str, options: RenderOptions, *, watermark: bool = False
) -> str:
    """What identifies a render: its owner, the engine, the document, every option that
    shapes the PDF (the download filename does not), whether it is watermarked and how it
    was finished. Scoped to the owner, so a cache hit never tells one user what another
    rendered; the watermark is stamped before the PDF is stored, so it is part of the key."""
    shaping = asdict(replace(options, filename=None))
    finishing = [watermark, FINISH_VERSION]
    digest = hashlib.sha256(
        json.dumps([user_id, engine, shaping, finishing], sort_keys=True).encode()
    )
    digest.update(b"\0")
    digest.update(document.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _for_plan(
    exc: PdfPromptError, plan: Plan | None, plan_limit: int | None, own_limit: int, over: str
) -> PdfPromptError | None:
    """A renderer's limit error (pages, bytes) named for the plan, when the plan's limit was
    the lower one and so the one the document passed; None when it was the renderer's."""
    if plan is None or plan_limit is None or plan_limit >= own_limit:
        return None
    return type(exc)(f"{over}; plan {plan.name} allows {plan_limit}")


async def render_input(
    renderer: Renderer, job_type: JobType, text: str, options: RenderOptions
) -> RenderedPdf:
    """Generate, render and finish one document with no queue (`pdfprompt render`)."""
    document, _ = build_document(job_type, text, options)
    rendered = await render_pdf(renderer, document, options)
    return await finished(rendered, document, options, watermark=False)


async def finished(
    rendered: RenderedPdf, document: str, options: RenderOptions, *, watermark: bool
) -> RenderedPdf:
    """The rendered PDF post-processed (`pdfprompt.pdf.finish`), off the event loop."""
    data = await asyncio.to_thread(finish, rendered.data, options, document, watermark=watermark)
    return replace(rendered, data=data)


class JobPipeline:
    """Turns a claimed job into a stored PDF, reporting its stage as it goes."""

    def __init__(
        self,
        renderer: Renderer,
        storage: Storage,
        llm: LlmClient | None = None,
        plans: Mapping[str, Plan] | None = None,
    ) -> None:
        self.renderer = renderer
        self.storage = storage
        self.llm = llm
        self.plans = plans or {}

    async def _document(self, ctx: JobContext, options: RenderOptions) -> tuple[str, Generator]:
        """The HTML to render. A prompt goes to the LLM when one is configured; its progress
        moves with the text streamed back (written at most a few times a second)."""
        job = ctx.job
        if job.type is not JobType.PROMPT or self.llm is None:
            return build_document(job.type, job.input, options)
        await ctx.report(JobStage.GENERATING, 0.02, Generator.LLM)

        async def progress(chars: int) -> None:
            # The answer's length is unknown: progress rises quickly at first and approaches
            # the rendering stage's 0.3 as text keeps coming (half-way after ~4,000 chars).
            await ctx.report(JobStage.GENERATING, 0.02 + 0.26 * (1 - math.exp(-chars / 6000)))

        if job.parent_id is not None:
            previous = await self._previous_document(ctx)
            asked = revise_messages(
                previous, job.input, tone=options.tone, kind=options.document_kind
            )
        else:
            asked = messages(job.input, tone=options.tone, kind=options.document_kind)
        written, model = await self.llm.write(asked, progress)
        log.info("job %s: %s wrote %d characters", job.id, model, len(written))
        return clean_document(written, title=options.title), Generator.LLM

    async def __call__(self, ctx: JobContext) -> StoredFile:
        job = ctx.job
        options = RenderOptions.from_dict(job.options)
        # The claim already set the stage to `generating`; HTML and Markdown are made in no
        # time, so their generator is written with the next stage (one write, not two).
        document, generator = await self._document(ctx, options)
        # The plan the job was submitted under sets its limits and watermark.
        plan = self.plans.get(job.plan) if job.plan else None
        watermark = plan is not None and plan.watermark
        await ctx.report(JobStage.RENDERING, 0.3, generator)
        cache_key = render_key(
            job.user_id, self.renderer.name, document, options, watermark=watermark
        )
        # A model's answer is new every time: looking it up would only ever miss.
        rendered = None if generator is Generator.LLM else await self._from_cache(ctx, cache_key)
        if rendered is None:
            # The renderer stops at the plan's page and byte limits, not only at its own.
            plan_pages = plan.max_pages if plan is not None else None
            plan_bytes = plan.max_file_bytes if plan is not None else None
            try:
                rendered = await render_pdf(
                    self.renderer, document, options, plan_pages, plan_bytes
                )
            except PageLimitExceededError as exc:
                over = f"the document has more than {plan_pages} pages"
                if named := _for_plan(exc, plan, plan_pages, self.renderer.max_pages, over):
                    raise named from exc
                raise
            except FileTooLargeError as exc:
                over = f"the PDF is larger than {plan_bytes} bytes"
                if named := _for_plan(exc, plan, plan_bytes, self.renderer.max_bytes, over):
                    raise named from exc
                raise
            except (RenderTimeoutError, RenderMemoryExceededError) as exc:
                # A timeout or running out of memory may be a busy machine once; twice in a
                # row it is the document.
                again = job.error is not None and job.error.code == exc.code
                raise type(exc)(
                    exc.message + (" again; not retrying" if again else ""), transient=not again
                ) from exc
            rendered = await finished(rendered, document, options, watermark=watermark)
        if plan is not None:
            await self._check_plan(ctx, plan, rendered)
        # Each attempt writes under its own key; only the winning attempt's key is recorded.
        # One folder per user, not per job: a new directory for every job cost 0.5 to 2 ms of
        # kernel CPU per job on ext4 (its inode allocator), a tenth of a small job's cost.
        stem = f"{job.user_id}/{job.id}-{job.attempts}-{secrets.token_hex(4)}"
        key = f"{stem}.pdf"
        html_key = None
        if generator is Generator.LLM:  # kept so that a revision can edit it
            html_key = f"{stem}.html"
            await self.storage.put(html_key, document.encode("utf-8"))
        storing = asyncio.ensure_future(self.storage.put(key, rendered.data))
        # The `storing` stage is written only when storing takes long enough to be seen
        # (a slow object store); a local write is done before a client could poll.
        try:
            done, _ = await asyncio.wait({storing}, timeout=STORING_SHOWN_AFTER_S)
            if not done:
                await ctx.report(JobStage.STORING, 0.9)
            await storing
        except BaseException:
            storing.cancel()
            raise
        return StoredFile(
            storage_key=key,
            size_bytes=len(rendered.data),
            pages=rendered.pages,
            sha256=hashlib.sha256(rendered.data).hexdigest(),
            filename=safe_filename(options.filename or options.title, f"{job.id}.pdf"),
            render_key=cache_key,
            html_key=html_key,
            warnings=rendered.warnings,
        )

    async def _check_plan(self, ctx: JobContext, plan: Plan, rendered: RenderedPdf) -> None:
        """The plan's page, file size and storage limits (all permanent failures)."""
        if plan.max_pages is not None and rendered.pages > plan.max_pages:
            raise PageLimitExceededError(
                f"the document has {rendered.pages} pages; plan {plan.name} allows {plan.max_pages}"
            )
        size = len(rendered.data)
        if plan.max_file_bytes is not None and size > plan.max_file_bytes:
            raise FileTooLargeError(
                f"the PDF is {size} bytes; plan {plan.name} allows {plan.max_file_bytes}"
            )
        if plan.storage_bytes is not None:
            used = await ctx.store.storage_used(ctx.job.user_id)
            if used + size > plan.storage_bytes:
                raise StorageQuotaExceededError(
                    f"storing this {size}-byte PDF would pass plan {plan.name}'s storage of "
                    f"{plan.storage_bytes} bytes ({used} used); delete files to make room"
                )

    async def _previous_document(self, ctx: JobContext) -> str:
        """The HTML the revised job was rendered from: the kept LLM output of a prompt job,
        or, for HTML and Markdown jobs, the document their input makes."""
        assert ctx.job.parent_id is not None
        try:
            parent = await ctx.store.get(ctx.job.parent_id, ctx.job.user_id)
        except NotFoundError as exc:
            raise InvalidInputError("the job being revised was deleted") from exc
        if parent.file is not None and parent.file.html_key:
            try:
                return (await self.storage.read(parent.file.html_key)).decode("utf-8")
            except NotFoundError:
                pass
        document, _ = build_document(
            parent.type, parent.input, RenderOptions.from_dict(parent.options)
        )
        return document

    async def _from_cache(self, ctx: JobContext, key: str) -> RenderedPdf | None:
        """The PDF an identical earlier render stored, read back; None when there is none
        (or its file is gone). Each job keeps a copy of its own, so deleting one job never
        takes another's file."""
        cached = await ctx.store.cached_render(ctx.job.user_id, key)
        rendered = None
        if cached is not None:
            if cached.pages > self.renderer.max_pages:
                raise PageLimitExceededError(
                    f"the document has {cached.pages} pages; the limit is {self.renderer.max_pages}"
                )
            with contextlib.suppress(NotFoundError):
                data = await self.storage.read(cached.storage_key)
                rendered = RenderedPdf(data, cached.pages, cached.warnings)
        if ctx.metrics is not None:
            ctx.metrics.render_cache.labels("miss" if rendered is None else "hit").inc()
        return rendered

    async def discard(self, storage_key: str) -> None:
        await self.storage.delete(storage_key)
