"""One job, end to end: generate HTML, render it (or reuse an identical render), finish and
store the PDF with its first page's thumbnail. This is the `JobHandler` the worker runs."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections.abc import Mapping
from dataclasses import replace

from pdfprompt.domain import (
    PERMANENT_WHEN_REPEATED,
    Generator,
    InvalidInputError,
    JobStage,
    JobType,
    NotFoundError,
    Plan,
    RenderOptions,
    TemplateInput,
    as_repeated,
    safe_filename,
)
from pdfprompt.generate import (
    LlmClient,
    TemplateFiller,
    clean_document,
    messages,
    revise_messages,
)
from pdfprompt.pdf import PdfUpdate, stamp
from pdfprompt.pipeline.cache import from_cache, render_key
from pdfprompt.pipeline.document import build_document
from pdfprompt.pipeline.keys import attempt_keys
from pdfprompt.pipeline.limits import check_plan, render_within_plan
from pdfprompt.pipeline.render import finished
from pdfprompt.pipeline.storing import store_with_thumbnail
from pdfprompt.queue import JobContext, StoredFile
from pdfprompt.render import Renderer
from pdfprompt.storage import Storage

log = logging.getLogger(__name__)


class JobPipeline:
    """Turns a claimed job into a stored PDF, reporting its stage as it goes."""

    def __init__(
        self,
        renderer: Renderer,
        storage: Storage,
        llm: LlmClient | None = None,
        plans: Mapping[str, Plan] | None = None,
        templates: TemplateFiller | None = None,
    ) -> None:
        self.renderer = renderer
        self.storage = storage
        self.llm = llm
        self.plans = plans or {}
        self.templates = templates

    async def __call__(self, ctx: JobContext) -> StoredFile:
        job = ctx.job
        options = RenderOptions.from_dict(job.options)
        # The claim already set the stage to `generating`; HTML and Markdown are made in no
        # time, so their generator is written with the next stage (one write, not two).
        document, generator = await self._document(ctx, options)
        # The plan the job was submitted under sets its limits and watermark.
        plan = self.plans.get(job.plan) if job.plan else None
        watermark = plan is not None and plan.watermark
        preview = job.type is JobType.TEMPLATE and TemplateInput.from_text(job.input).preview
        await ctx.report(JobStage.RENDERING, 0.3, generator)
        cache_key = render_key(
            job.user_id, self.renderer.name, document, options, watermark=watermark
        )
        # A model's answer is new every time: looking it up would only ever miss.
        rendered = None
        # A preview's PDF is stamped PREVIEW: it neither reuses nor is reused by a render.
        if generator is not Generator.LLM and not preview:
            rendered = await from_cache(ctx, self.storage, cache_key, self.renderer.max_pages)
        if rendered is None:
            try:
                rendered = await render_within_plan(self.renderer, document, options, plan)
            except PERMANENT_WHEN_REPEATED as exc:
                raise as_repeated(exc, job.error) from exc
            rendered = await finished(rendered, document, options, watermark=watermark)
        if preview:
            rendered = replace(rendered, data=await asyncio.to_thread(_preview_mark, rendered.data))
        if plan is not None:
            await check_plan(ctx, plan, rendered)
        keys = attempt_keys(job)
        if generator is Generator.LLM:  # kept so that a revision can edit it
            await self.storage.put(keys.html, document.encode("utf-8"))
        thumbnail = await store_with_thumbnail(
            ctx, self.storage, keys.pdf, keys.thumbnail, rendered.data
        )
        return StoredFile(
            storage_key=keys.pdf,
            size_bytes=len(rendered.data),
            pages=rendered.pages,
            sha256=hashlib.sha256(rendered.data).hexdigest(),
            filename=safe_filename(options.filename or options.title, f"{job.id}.pdf"),
            render_key=None if preview else cache_key,
            html_key=keys.html if generator is Generator.LLM else None,
            warnings=rendered.warnings,
            thumbnail_key=thumbnail,
        )

    async def _document(self, ctx: JobContext, options: RenderOptions) -> tuple[str, Generator]:
        """The HTML to render. A prompt goes to the LLM when one is configured; its progress
        moves with the text streamed back (written at most a few times a second)."""
        job = ctx.job
        if job.type is JobType.TEMPLATE and self.templates is not None:
            filled = TemplateInput.from_text(job.input)
            document = await self.templates.fill(
                filled.body, filled.engine, filled.data, title=options.title
            )
            return document, Generator.TEMPLATE
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

    async def discard(self, storage_key: str) -> None:
        await self.storage.delete(storage_key)


PREVIEW_MARK = "PREVIEW"


def _preview_mark(pdf: bytes) -> bytes:
    """A template preview's PDF with PREVIEW_MARK stamped on every page."""
    update = PdfUpdate(pdf)
    stamp(update, PREVIEW_MARK)
    return update.written()
