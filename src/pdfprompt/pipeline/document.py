"""The HTML document a job's input makes, when no LLM writes it."""

from __future__ import annotations

from dataclasses import dataclass

from pdfprompt.domain import Generator, JobType, JobWarning, RenderOptions, TemplateInput
from pdfprompt.generate import convert_markdown, fill

# Filling a template here (a revision of a template job, `pdfprompt render`) runs in this
# process with the sandbox's own deadline; the worker fills jobs in child processes.
_IN_PROCESS_TIMEOUT_S = 5.0
_IN_PROCESS_MAX_CHARS = 5_242_880


@dataclass(frozen=True, slots=True)
class BuiltDocument:
    """The HTML document for an input, which generator made it, and what the generator could
    not do as written (a Markdown formula shown as its source, …)."""

    html: str
    generator: Generator
    warnings: tuple[JobWarning, ...] = ()


def document_of(job_type: JobType, text: str, options: RenderOptions) -> BuiltDocument:
    """The HTML document for an input, with the generator's warnings."""
    if job_type is JobType.HTML:
        return BuiltDocument(text, Generator.HTML)
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
        return BuiltDocument(document, Generator.TEMPLATE)
    made = convert_markdown(text, options)
    if job_type is JobType.MARKDOWN:
        return BuiltDocument(made.html, Generator.MARKDOWN, made.warnings)
    # No LLM configured: a prompt is typeset as Markdown and the job says so.
    return BuiltDocument(made.html, Generator.MARKDOWN_FALLBACK, made.warnings)


def build_document(job_type: JobType, text: str, options: RenderOptions) -> tuple[str, Generator]:
    """The HTML document for an input, and which generator made it."""
    built = document_of(job_type, text, options)
    return built.html, built.generator
