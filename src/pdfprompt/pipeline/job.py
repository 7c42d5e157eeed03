"""One job, end to end: generate HTML, render it (or reuse an identical render), finish and
store the PDF (its thumbnail is drawn when first asked for). This is the `JobHandler`
the worker runs."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from pdfprompt.accounts import AssetStore
from pdfprompt.domain import (
    PDF_JOBS,
    PERMANENT_WHEN_REPEATED,
    ConflictError,
    FinishOptions,
    Generator,
    InvalidInputError,
    Job,
    JobStage,
    JobType,
    JobWarning,
    LeaseLostError,
    LlmError,
    NotFoundError,
    PdfLimits,
    PdfPromptError,
    Plan,
    RenderOptions,
    Template,
    TemplateEngine,
    TemplateInput,
    UrlPolicy,
    UrlRefusedError,
    as_repeated,
    quality_cost,
    quality_findings,
    safe_filename,
    set_log_stage,
)
from pdfprompt.generate import (
    LlmClient,
    TemplateFiller,
    clean_document,
    messages,
    repair_messages,
    revise_messages,
    template_answer,
    template_messages,
)
from pdfprompt.pdf import PdfUpdate, PdfWorkshop, printed_findings, stamp
from pdfprompt.pipeline.assets import load_assets, with_refused
from pdfprompt.pipeline.cache import from_cache, render_key
from pdfprompt.pipeline.document import BuiltDocument, build_document, document_of
from pdfprompt.pipeline.finishing import FinishTools, Signer, finish_pdf
from pdfprompt.pipeline.keys import attempt_keys
from pdfprompt.pipeline.limits import check_plan, render_within_plan
from pdfprompt.pipeline.pdf_jobs import PdfJobTools, run_pdf_job
from pdfprompt.pipeline.render import contents_paged, finished
from pdfprompt.pipeline.storing import store_reporting
from pdfprompt.queue import JobContext, StoredFile, TemplateContent, TemplateStore
from pdfprompt.render import RenderedPdf, Renderer, WebFetcher, WebRenderer
from pdfprompt.storage import Storage

log = logging.getLogger(__name__)
# The generators whose documents may hold a table of contents pdfprompt made (a Markdown
# template's included).
_MARKDOWN_GENERATORS = frozenset(
    {Generator.MARKDOWN, Generator.MARKDOWN_FALLBACK, Generator.TEMPLATE}
)


class JobPipeline:
    """Turns a claimed job into a stored PDF, reporting its stage as it goes."""

    def __init__(
        self,
        renderer: Renderer,
        storage: Storage,
        llm: LlmClient | None = None,
        plans: Mapping[str, Plan] | None = None,
        *,
        assets: AssetStore | None = None,
        max_assets_bytes: int = 50 * 1024 * 1024,
        templates: TemplateFiller | None = None,
        template_store: TemplateStore | None = None,
        signer: Signer | None = None,
        web: WebFetcher | None = None,
        pdfs: PdfWorkshop | None = None,
        print_check: bool = True,
        repair_timeout_s: float = 300.0,
    ) -> None:
        """`assets`: where the owner's assets a document refers to are looked up (without
        it, every `asset:` reference is refused); at most `max_assets_bytes` of them are
        loaded for one document. `web`: how URL jobs fetch their pages (without it, or with
        no host allowed, a URL job fails with `url_refused`). `pdfs`: where the PDF job types
        work on PDFs (default: the default limits). `print_check`: each new render's PDF is
        checked for blank pages and missing glyphs (the renderer checks the layout), and a
        prompt's document is repaired by its model when its options allow
        (`repair_timeout_s`: the longest the repair's model call may take)."""
        self.print_check = print_check
        self.repair_timeout_s = repair_timeout_s
        self.renderer = renderer
        self.storage = storage
        self.llm = llm
        self.plans = plans or {}
        self.assets = assets
        self.max_assets_bytes = max_assets_bytes
        self.templates = templates
        self.template_store = template_store
        self.finish_tools = FinishTools(storage, assets, signer, max_assets_bytes)
        self.web = web
        self.pdf_tools = PdfJobTools(
            storage, assets, pdfs or PdfWorkshop(PdfLimits()), self.finish_tools
        )

    async def __call__(self, ctx: JobContext) -> StoredFile:
        job = ctx.job
        if job.type in PDF_JOBS:  # PDFs the user already has: nothing to render
            plan_of_job = self.plans.get(job.plan) if job.plan else None
            return await run_pdf_job(ctx, self.pdf_tools, plan_of_job)
        options = RenderOptions.from_dict(job.options)
        finishing = FinishOptions.from_dict(job.options)
        # The claim already set the stage to `generating`; HTML and Markdown are made in no
        # time, so their generator is written with the next stage (one write, not two).
        if job.type is JobType.URL:
            built = BuiltDocument(job.input, Generator.WEB)
        else:
            built = await self._document(ctx, options)
        document, generator = built.html, built.generator
        # The plan the job was submitted under sets its limits and watermark.
        plan = self.plans.get(job.plan) if job.plan else None
        watermark = plan is not None and plan.watermark
        preview = job.type is JobType.TEMPLATE and TemplateInput.from_text(job.input).preview
        # The stage is written while the render goes on, not before it: a one-page document
        # renders in about the time the write takes. It is done before anything is stored.
        set_log_stage("render")  # here: the report below runs in a task of its own
        reporting = asyncio.ensure_future(ctx.report(JobStage.RENDERING, 0.3, generator))
        # The plan's watermark stays on top of the user's marks: with finishing, it is
        # drawn by the finishing steps, after the marks (in a font PDF/A may carry).
        marked = watermark and not finishing.any
        try:
            rendered, cache_key = await self._rendered(
                ctx,
                document,
                generator,
                options,
                plan,
                watermark=marked,
                preview=preview,
                rendering=reporting,
            )
        except BaseException:
            await asyncio.wait({reporting})
            if not reporting.cancelled():
                reporting.exception()  # the render's own error is the one raised
            raise
        await reporting
        if (
            job.type is JobType.PROMPT
            and generator is Generator.LLM
            and options.repair
            and self.print_check
            and quality_findings(rendered.warnings)
        ):
            document, rendered, cache_key = await self._repaired(
                ctx, document, rendered, cache_key, options, plan, watermark=marked
            )
        if built.warnings:  # the generator's own (a formula shown as its source, …)
            rendered = replace(rendered, warnings=built.warnings + rendered.warnings)
        if finishing.any:
            set_log_stage("finish")
            done = await finish_pdf(
                rendered.data,
                finishing,
                self.finish_tools,
                user_id=job.user_id,
                plan_watermark=watermark,
                title=options.title,
                # A URL job's "document" is its address: the page's HTML is Chromium's.
                document=None if generator is Generator.WEB else document,
            )
            rendered = replace(rendered, data=done.data, warnings=rendered.warnings + done.warnings)
        keys = attempt_keys(job)
        set_log_stage("store")
        if generator is Generator.LLM:  # kept so that a revision can edit it
            await self.storage.put(keys.html, document.encode("utf-8"))
        await store_reporting(ctx, self.storage, keys.pdf, rendered.data)
        return StoredFile(
            storage_key=keys.pdf,
            size_bytes=len(rendered.data),
            pages=rendered.pages,
            sha256=hashlib.sha256(rendered.data).hexdigest(),
            filename=safe_filename(options.filename or options.title, f"{job.id}.pdf"),
            # A finished PDF (encrypted, signed, …) is not a render another job may reuse.
            render_key=None if preview or finishing.any or not cache_key else cache_key,
            html_key=keys.html if generator is Generator.LLM else None,
            warnings=rendered.warnings,
            # Drawn when the history first shows it (actions/thumbnails.py), not here.
            thumbnail_key=keys.thumbnail,
        )

    async def _rendered(
        self,
        ctx: JobContext,
        document: str,
        generator: Generator,
        options: RenderOptions,
        plan: Plan | None,
        *,
        watermark: bool,
        preview: bool,
        rendering: asyncio.Future[None] | None = None,
    ) -> tuple[RenderedPdf, str]:
        """The document rendered (or an identical render reused), checked (a new render:
        `_checked`) and finished, within the plan's limits; with its render cache key (none
        for a web page: it is loaded anew every time). `rendering`: the write of the
        rendering stage, which the checking stage's must follow."""
        job = ctx.job
        if job.type is JobType.URL:
            page = await self._web_page(job, options, plan)
            page = await self._checked(ctx, page, generator, rendering)
            page = await finished(page, "", options, watermark=watermark)
            if plan is not None:
                await check_plan(ctx, plan, page)
            return page, ""
        loaded = await load_assets(
            self.assets, self.storage, job.user_id, document, max_bytes=self.max_assets_bytes
        )
        cache_key = render_key(
            job.user_id,
            self.renderer.name,
            document,
            options,
            watermark=watermark,
            assets=loaded.used,
        )
        # A model's answer is new every time: looking it up would only ever miss.
        rendered = None
        # A preview's PDF is stamped PREVIEW: it neither reuses nor is reused by a render.
        if generator is not Generator.LLM and not preview:
            rendered = await from_cache(ctx, self.storage, cache_key, self.renderer.max_pages)
        if rendered is None:
            try:
                rendered = await render_within_plan(
                    self.renderer, loaded.document, options, plan, loaded.resources
                )
                paged = None
                if generator in _MARKDOWN_GENERATORS:  # documents whose contents are ours
                    paged = await contents_paged(
                        self.renderer.name, loaded.document, options, rendered
                    )
                if paged is not None:  # the contents' page numbers, on a second render
                    rendered = await render_within_plan(
                        self.renderer, paged, options, plan, loaded.resources
                    )
            except PERMANENT_WHEN_REPEATED as exc:
                raise as_repeated(exc, job.error) from exc
            rendered = await self._checked(ctx, rendered, generator, rendering)
            rendered = await finished(rendered, document, options, watermark=watermark)
            rendered = with_refused(rendered, loaded.refused)
        if preview:
            rendered = replace(rendered, data=await asyncio.to_thread(_preview_mark, rendered.data))
        if plan is not None:
            await check_plan(ctx, plan, rendered)
        return rendered, cache_key

    async def _checked(
        self,
        ctx: JobContext,
        rendered: RenderedPdf,
        generator: Generator,
        rendering: asyncio.Future[None] | None,
    ) -> RenderedPdf:
        """The render with the PDF half of the print-quality check's findings added to its
        warnings (the layout half is the renderer's). Checked before finishing: a watermark
        would fill a blank page. A model's document shows the `checking` stage meanwhile
        (its check may lead to a repair); other jobs are checked within `rendering`, which
        saves a write."""
        if not self.print_check:
            return rendered
        check = asyncio.to_thread(printed_findings, rendered.data)
        if generator is Generator.LLM:
            if rendering is not None:
                await rendering
            found, _ = await asyncio.gather(check, ctx.report(JobStage.CHECKING, 0.6))
        else:
            found = await check
        return replace(rendered, warnings=(*rendered.warnings, *found)) if found else rendered

    async def _repaired(
        self,
        ctx: JobContext,
        document: str,
        first: RenderedPdf,
        first_key: str,
        options: RenderOptions,
        plan: Plan | None,
        *,
        watermark: bool,
    ) -> tuple[str, RenderedPdf, str]:
        """The repair pass of a model's document whose print the check found faults in: the
        model gets its HTML and the findings and answers with a corrected document (one
        call), which is rendered and checked in turn. The better print is kept, with its
        document and cache key: the corrected one only when its findings weigh strictly less
        (`quality_cost`); on a tie the first, which is what the model wrote for the request.
        A repair that fails (the model, a timeout, the render) keeps the first print and
        says so in a warning; it never fails the job."""
        findings = quality_findings(first.warnings)
        await ctx.report(JobStage.REPAIRING, 0.62)

        async def progress(chars: int) -> None:
            await ctx.report(JobStage.REPAIRING, 0.62 + 0.1 * (1 - math.exp(-chars / 6000)))

        try:
            async with asyncio.timeout(self.repair_timeout_s):
                written, _ = await self._write(ctx, repair_messages(document, findings), progress)
            repaired = clean_document(written, title=options.title)
            await ctx.report(JobStage.RENDERING, 0.75)
            second, key = await self._rendered(
                ctx, repaired, Generator.LLM, options, plan, watermark=watermark, preview=False
            )
        except LeaseLostError:
            raise
        except (PdfPromptError, TimeoutError) as exc:
            why = exc.message if isinstance(exc, PdfPromptError) else "the model took too long"
            log.warning("job %s: the repair pass failed (%s)", ctx.job.id, why)
            kept = JobWarning(
                "repair_failed",
                f"the print check found problems, and correcting them failed ({why}); the "
                "first print is kept",
            )
            return document, replace(first, warnings=(*first.warnings, kept)), first_key
        before, after = quality_cost(first.warnings), quality_cost(second.warnings)
        log.info("job %s: repair pass %s -> %s", ctx.job.id, before, after)
        if after < before:
            return repaired, second, key
        kept = JobWarning(
            "repair_unused",
            "the print check found problems; a corrected document printed no better, so the "
            "first print is kept",
        )
        return document, replace(first, warnings=(*first.warnings, kept)), first_key

    async def _write(
        self,
        ctx: JobContext,
        asked: list[dict[str, str]],
        progress: Callable[[int], Awaitable[None]] | None = None,
        extract: Callable[[str], str | None] | None = None,
    ) -> tuple[str, str]:
        """What the model wrote for `asked`, and the model; the call is added to the job's
        usage history."""
        assert self.llm is not None
        started = time.monotonic()
        if extract is None:
            written, model = await self.llm.write(asked, progress)
        else:
            written, model = await self.llm.write(asked, progress, extract=extract)
        took_ms = round((time.monotonic() - started) * 1000)
        await ctx.store.record_model_call(ctx.job, model, took_ms)
        return written, model

    async def _web_page(self, job: Job, options: RenderOptions, plan: Plan | None) -> RenderedPdf:
        """A URL job's page rendered within the plan's limits, under the plan's allow-list
        of hosts or the server's."""
        if not isinstance(self.renderer, WebRenderer):
            raise InvalidInputError(
                f"type: url jobs need Chromium; this worker renders with {self.renderer.name}",
                field="type",
            )
        policy = self.web.policy if self.web is not None else UrlPolicy()
        if plan is not None:
            policy = policy.for_plan(plan.url_allow)
        if self.web is None or not policy.enabled:
            raise UrlRefusedError(
                "url jobs are off on this server (PDFPROMPT_URL_ALLOW names no host)"
            )
        pages = plan.max_pages if plan is not None else None
        size = plan.max_file_bytes if plan is not None else None
        try:
            return await self.renderer.render_url(
                job.input, options, self.web.page(policy), pages, size
            )
        except PERMANENT_WHEN_REPEATED as exc:
            raise as_repeated(exc, job.error) from exc

    async def _document(self, ctx: JobContext, options: RenderOptions) -> BuiltDocument:
        """The HTML to render. A prompt goes to the LLM when one is configured; its progress
        moves with the text streamed back (written at most a few times a second)."""
        job = ctx.job
        if job.type is JobType.TEMPLATE and self.templates is not None:
            filled = TemplateInput.from_text(job.input)
            document = await self.templates.fill(
                filled.body, filled.engine, filled.data, title=options.title
            )
            return BuiltDocument(document, Generator.TEMPLATE)
        if job.type is JobType.TEMPLATE_GENERATE:
            return BuiltDocument(await self._generated_template(ctx, options), Generator.LLM)
        if job.type is not JobType.PROMPT or self.llm is None:
            # Off the event loop: a long Markdown document takes the parser a while.
            return await asyncio.to_thread(document_of, job.type, job.input, options)
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
        written, model = await self._write(ctx, asked, progress)
        log.info("job %s: %s wrote %d characters", job.id, model, len(written))
        # Cleaning a large answer takes CPU seconds: off the loop that keeps leases alive.
        cleaned = await asyncio.to_thread(clean_document, written, title=options.title)
        return BuiltDocument(cleaned, Generator.LLM)

    async def _generated_template(self, ctx: JobContext, options: RenderOptions) -> str:
        """A `template_generate` job: the model writes a template (checked as it arrives:
        `template_answer`), its sample data is filled, the template is saved and noted on
        the job; the document is the filled sample (an HTML one cleaned like a prompt's).
        A retry after the save reuses the saved template."""
        job = ctx.job
        store, filler = self.template_store, self.templates
        if store is None or filler is None:
            raise LlmError("this worker cannot save templates", transient=False)
        asked = json.loads(job.input)
        engine = TemplateEngine(asked.get("engine", "html"))
        saved = asked.get("template")
        if saved is not None:
            try:
                template = await store.get(job.user_id, saved["id"], saved["version"])
            except NotFoundError as exc:
                raise InvalidInputError("the template this job wrote was deleted") from exc
            body, sample = template.body, template.sample_data
        else:
            if self.llm is None:
                raise LlmError(
                    "no LLM is configured: a template cannot be written from a prompt",
                    transient=False,
                )
            await ctx.report(JobStage.GENERATING, 0.02, Generator.LLM)

            async def progress(chars: int) -> None:
                await ctx.report(JobStage.GENERATING, 0.02 + 0.26 * (1 - math.exp(-chars / 6000)))

            answer, model = await self._write(
                ctx,
                template_messages(str(asked["prompt"]), engine),
                progress,
                extract=functools.partial(template_answer, engine=engine),
            )
            written = json.loads(answer)
            log.info("job %s: %s wrote a template", job.id, model)
            body, sample = written["body"], written["sample_data"]
        document = await filler.fill(body, engine, sample, title=options.title)
        if saved is None:
            template = await _save_new(store, job.user_id, written, engine)
            await store.record_generated(job.id, template.id, template.version)
        if engine is TemplateEngine.HTML:
            document = await asyncio.to_thread(clean_document, document, title=options.title)
        return document

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


async def _save_new(
    store: TemplateStore, user_id: str, written: dict[str, Any], engine: TemplateEngine
) -> Template:
    """The written template saved under its name, or `NAME 2`, `NAME 3`, … when taken."""
    name = str(written["name"])
    for n in range(1, 21):
        candidate = name if n == 1 else f"{name[:95]} {n}"
        content = TemplateContent(
            candidate, engine, written["body"], written["schema"], written["sample_data"], {}
        )
        try:
            made, _ = await store.create(user_id, content)
            return made
        except ConflictError:
            if n == 20:
                raise
    raise AssertionError("unreachable")
