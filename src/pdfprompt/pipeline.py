"""One job, end to end: generate HTML, render it, store the PDF.

This is the `JobHandler` the worker runs; `api/app.py` and `cli.py` wire it
to a concrete renderer and storage backend.
"""

from __future__ import annotations

import hashlib
import secrets

from pdfprompt.domain import (
    Generator,
    JobStage,
    JobType,
    RenderOptions,
    RenderTimeoutError,
    safe_filename,
)
from pdfprompt.generate import markdown_document
from pdfprompt.queue import JobContext, StoredFile
from pdfprompt.render import RenderedPdf, Renderer, render_pdf
from pdfprompt.storage import Storage


def build_document(job_type: JobType, text: str, options: RenderOptions) -> tuple[str, Generator]:
    """The HTML document for an input, and which generator made it."""
    if job_type is JobType.HTML:
        return text, Generator.HTML
    if job_type is JobType.MARKDOWN:
        return markdown_document(text, title=options.title), Generator.MARKDOWN
    # No LLM client yet: a prompt is typeset as Markdown and the job says so.
    return markdown_document(text, title=options.title), Generator.MARKDOWN_FALLBACK


async def render_input(
    renderer: Renderer, job_type: JobType, text: str, options: RenderOptions
) -> RenderedPdf:
    """Generate and render one document with no queue (`pdfprompt render`)."""
    document, _ = build_document(job_type, text, options)
    return await render_pdf(renderer, document, options)


class JobPipeline:
    """Turns a claimed job into a stored PDF, reporting its stage as it goes."""

    def __init__(self, renderer: Renderer, storage: Storage) -> None:
        self.renderer = renderer
        self.storage = storage

    async def __call__(self, ctx: JobContext) -> StoredFile:
        job = ctx.job
        options = RenderOptions.from_dict(job.options)
        document, generator = build_document(job.type, job.input, options)
        await ctx.report(JobStage.GENERATING, 0.1, generator)
        await ctx.report(JobStage.RENDERING, 0.3)
        try:
            rendered = await render_pdf(self.renderer, document, options)
        except RenderTimeoutError as exc:
            # A timeout may be a busy machine once; twice in a row it is the document.
            again = job.error is not None and job.error.code == exc.code
            raise RenderTimeoutError(
                exc.message + (" again; not retrying" if again else ""), transient=not again
            ) from exc
        await ctx.report(JobStage.STORING, 0.9)
        # Each attempt writes under its own key; only the winning attempt's key is recorded.
        key = f"{job.user_id}/{job.id}/{job.attempts}-{secrets.token_hex(4)}.pdf"
        await self.storage.put(key, rendered.data)
        return StoredFile(
            storage_key=key,
            size_bytes=len(rendered.data),
            pages=rendered.pages,
            sha256=hashlib.sha256(rendered.data).hexdigest(),
            filename=safe_filename(options.filename or options.title, f"{job.id}.pdf"),
        )

    async def discard(self, storage_key: str) -> None:
        await self.storage.delete(storage_key)
