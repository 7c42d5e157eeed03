"""One document rendered in this process, without a database or a queue (`pdfprompt render`)."""

from __future__ import annotations

from pdfprompt.domain import JobType, RenderOptions
from pdfprompt.pipeline import render_input
from pdfprompt.render import RenderedPdf, renderer_from_settings
from pdfprompt.settings import Settings


async def render_once(
    settings: Settings, job_type: JobType, text: str, options: RenderOptions
) -> RenderedPdf:
    async with renderer_from_settings(settings) as renderer:
        return await render_input(renderer, job_type, text, options)
