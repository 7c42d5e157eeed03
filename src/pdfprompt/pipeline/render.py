"""A document rendered and finished: post-processing off the event loop, and the whole of it
with no queue (`pdfprompt render`)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from pdfprompt.domain import JobType, RenderOptions
from pdfprompt.generate import has_contents, with_contents_pages
from pdfprompt.pdf import destination_pages, finish
from pdfprompt.pipeline.document import document_of
from pdfprompt.render import RenderedPdf, Renderer, render_pdf


async def render_input(
    renderer: Renderer, job_type: JobType, text: str, options: RenderOptions
) -> RenderedPdf:
    """Generate, render and finish one document with no queue (`pdfprompt render`)."""
    built = document_of(job_type, text, options)
    rendered = await render_pdf(renderer, built.html, options)
    if (paged := await contents_paged(renderer.name, built.html, options, rendered)) is not None:
        rendered = await render_pdf(renderer, paged, options)
    if built.warnings:
        rendered = replace(rendered, warnings=built.warnings + rendered.warnings)
    return await finished(rendered, built.html, options, watermark=False)


async def finished(
    rendered: RenderedPdf, document: str, options: RenderOptions, *, watermark: bool
) -> RenderedPdf:
    """The rendered PDF post-processed (`pdfprompt.pdf.finish`), off the event loop."""
    data = await asyncio.to_thread(finish, rendered.data, options, document, watermark=watermark)
    return replace(rendered, data=data)


async def contents_paged(
    engine: str, document: str, options: RenderOptions, rendered: RenderedPdf
) -> str | None:
    """For Chromium, which has no CSS `target-counter`: a Markdown document's table of
    contents with the page of each heading written in, read from the first render's named
    destinations, to be rendered once more; None when there is nothing to do (another
    engine, no contents, a render of some pages only, no destinations found)."""
    if engine != "chromium" or options.page_ranges or not has_contents(document):
        return None
    pages = await asyncio.to_thread(destination_pages, rendered.data)
    return with_contents_pages(document, pages) if pages else None
