"""One document made in this process, without a database or a queue: rendered to a PDF
(`pdfprompt render`), or only its HTML (`pdfprompt render --emit html`, the compose page's
Markdown preview)."""

from __future__ import annotations

from pdfprompt.domain import JobType, RenderOptions
from pdfprompt.pipeline import build_document, render_input
from pdfprompt.render import RenderedPdf, renderer_from_settings
from pdfprompt.settings import Settings


async def render_once(
    settings: Settings, job_type: JobType, text: str, options: RenderOptions
) -> RenderedPdf:
    async with renderer_from_settings(settings) as renderer:
        return await render_input(renderer, job_type, text, options)


def document_html(job_type: JobType, text: str, options: RenderOptions) -> str:
    """The HTML document an input becomes: what `render_once` and the worker print for a
    Markdown, HTML or template input (`pipeline.build_document`, the one code path)."""
    document, _ = build_document(job_type, text, options)
    return document
