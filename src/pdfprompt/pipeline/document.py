"""The HTML document a job's input makes, when no LLM writes it."""

from __future__ import annotations

from pdfprompt.domain import Generator, JobType, RenderOptions
from pdfprompt.generate import markdown_document


def build_document(job_type: JobType, text: str, options: RenderOptions) -> tuple[str, Generator]:
    """The HTML document for an input, and which generator made it."""
    if job_type is JobType.HTML:
        return text, Generator.HTML
    if job_type is JobType.MARKDOWN:
        return markdown_document(text, title=options.title), Generator.MARKDOWN
    # No LLM configured: a prompt is typeset as Markdown and the job says so.
    return markdown_document(text, title=options.title), Generator.MARKDOWN_FALLBACK
