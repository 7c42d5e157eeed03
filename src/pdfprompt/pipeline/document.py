"""The HTML document a job's input makes, when no LLM writes it."""

from __future__ import annotations

from pdfprompt.domain import Generator, JobType, RenderOptions, TemplateInput
from pdfprompt.generate import fill, markdown_document

# Filling a template here (a revision of a template job, `pdfprompt render`) runs in this
# process with the sandbox's own deadline; the worker fills jobs in child processes.
_IN_PROCESS_TIMEOUT_S = 5.0
_IN_PROCESS_MAX_CHARS = 5_242_880


def build_document(job_type: JobType, text: str, options: RenderOptions) -> tuple[str, Generator]:
    """The HTML document for an input, and which generator made it."""
    if job_type is JobType.HTML:
        return text, Generator.HTML
    if job_type is JobType.TEMPLATE:
        filled = TemplateInput.from_text(text)
        document = fill(
            filled.body,
            filled.engine,
            filled.data,
            timeout_s=_IN_PROCESS_TIMEOUT_S,
            max_chars=_IN_PROCESS_MAX_CHARS,
            title=options.title,
        )
        return document, Generator.TEMPLATE
    if job_type is JobType.MARKDOWN:
        return markdown_document(text, title=options.title), Generator.MARKDOWN
    # No LLM configured: a prompt is typeset as Markdown and the job says so.
    return markdown_document(text, title=options.title), Generator.MARKDOWN_FALLBACK
