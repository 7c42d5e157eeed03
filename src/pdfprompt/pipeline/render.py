"""A document rendered and finished: post-processing off the event loop, and the whole of it
with no queue (`pdfprompt render`)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from pdfprompt.domain import JobType, RenderOptions
from pdfprompt.pdf import finish
from pdfprompt.pipeline.document import build_document
from pdfprompt.render import RenderedPdf, Renderer, render_pdf


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
