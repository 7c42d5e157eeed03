"""Jobs as the product sees them: types, statuses, options and the retry policy."""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pdfprompt.domain.errors import PdfPromptError, RenderMemoryExceededError, RenderTimeoutError


class JobType(enum.StrEnum):
    PROMPT = "prompt"
    MARKDOWN = "markdown"
    HTML = "html"
    TEMPLATE = "template"  # a template filled with data (the input: `TemplateInput`)
    # A template written by the model from a prompt, saved, and its sample data printed
    # (the input: `{"prompt", "engine"}`, and `"template"` once it is saved).
    TEMPLATE_GENERATE = "template_generate"
    # A web page from the operator's allow-list (the input: its http(s) URL); Chromium only.
    URL = "url"
    # PDFs the user already has (uploaded assets, their jobs' files); the input:
    # `PdfJobInput`.
    MERGE = "merge"  # many PDFs as one
    SPLIT = "split"  # one PDF as many, in a ZIP archive
    PDF = "pdf"  # one PDF with the finishing options applied


# The job types whose job object names a template (`"template": {"id", "version"}`).
TEMPLATE_JOBS = frozenset({JobType.TEMPLATE, JobType.TEMPLATE_GENERATE})
# The job types that work on PDFs the user already has instead of rendering a document.
PDF_JOBS = frozenset({JobType.MERGE, JobType.SPLIT, JobType.PDF})


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})


class JobStage(enum.StrEnum):
    """Where a running job is; queued and finished jobs have the stage of their status."""

    QUEUED = "queued"
    GENERATING = "generating"
    RENDERING = "rendering"
    CHECKING = "checking"  # the printed PDF checked for what printed badly
    REPAIRING = "repairing"  # a prompt's model asked to correct what printed badly
    STORING = "storing"
    DONE = "done"


class Generator(enum.StrEnum):
    """What turned the job's input into HTML; recorded on the job."""

    MARKDOWN = "markdown"
    HTML = "html"
    MARKDOWN_FALLBACK = "markdown-fallback"  # a prompt typeset as Markdown: no LLM configured
    LLM = "llm"
    TEMPLATE = "template"
    WEB = "web"  # a web page loaded from its URL (a `url` job)


@dataclass(frozen=True, slots=True)
class JobError:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class JobWarning:
    """Something a job that succeeded did not do as its document asked."""

    code: str
    message: str


MAX_REFUSED_WARNINGS = 10  # one warning per refused address; the rest are counted
_SHOWN_URL_CHARS = 300


def refused_warnings(urls: Sequence[str]) -> tuple[JobWarning, ...]:
    """The warnings for the addresses a render refused to load (each once, in order)."""
    distinct = list(dict.fromkeys(urls))
    warnings = [
        JobWarning(
            "resource_refused",
            f"not loaded: {_shown(url)} (a document may load only data: URIs, your assets "
            "as asset:NAME and the installed fonts; upload images and fonts as assets or put "
            "them into the document as data: URIs)",
        )
        for url in distinct[:MAX_REFUSED_WARNINGS]
    ]
    if len(distinct) > MAX_REFUSED_WARNINGS:
        more = len(distinct) - MAX_REFUSED_WARNINGS
        warnings.append(
            JobWarning("resource_refused", f"and {more} more addresses were not loaded")
        )
    return tuple(warnings)


def page_refused_warnings(refusals: Sequence[tuple[str, str]]) -> tuple[JobWarning, ...]:
    """The warnings for the requests a URL job's page made that were refused or failed:
    (address, why), each address once, in order."""
    distinct = dict(refusals)
    warnings = [
        JobWarning("resource_refused", f"not loaded: {_shown(url)} ({why})")
        for url, why in list(distinct.items())[:MAX_REFUSED_WARNINGS]
    ]
    if len(distinct) > MAX_REFUSED_WARNINGS:
        more = len(distinct) - MAX_REFUSED_WARNINGS
        warnings.append(
            JobWarning("resource_refused", f"and {more} more addresses were not loaded")
        )
    return tuple(warnings)


def _shown(url: str) -> str:
    return url if len(url) <= _SHOWN_URL_CHARS else url[: _SHOWN_URL_CHARS - 1] + "…"


@dataclass(frozen=True, slots=True)
class FileInfo:
    id: str
    size_bytes: int
    pages: int
    filename: str
    storage_key: str
    content_type: str = "application/pdf"
    html_key: str | None = None  # the generated HTML it was rendered from (prompt jobs)
    warnings: tuple[JobWarning, ...] = ()  # what its render did not do as asked
    thumbnail_key: str | None = None  # its first page as a small PNG (None: made before)


@dataclass(frozen=True, slots=True)
class Job:
    """One row of the jobs table, as the rest of the code sees it."""

    id: str
    user_id: str
    type: JobType
    input: str
    options: dict[str, Any]
    status: JobStatus
    stage: JobStage
    progress: float
    attempts: int
    max_attempts: int
    priority: int
    created_at: datetime
    error: JobError | None = None
    generator: Generator | None = None
    idempotency_key: str | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    run_after: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime | None = None
    file: FileInfo | None = None
    parent_id: str | None = None  # the job this one revises
    plan: str | None = None  # the owner's plan when the job was submitted
    # A job of a batch: the batch and its row there (from 0).
    batch_id: str | None = None
    batch_row: int | None = None
    request_id: str | None = None  # the HTTP request that submitted it, for log lines
    extra: dict[str, Any] = field(default_factory=dict)


_RNG = random.Random()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with equal jitter (half fixed, half random), capped."""

    base_s: float = 2.0
    cap_s: float = 300.0

    def delay_s(self, attempts: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt number `attempts + 1`."""
        r = rng or _RNG
        ceiling = min(self.cap_s, self.base_s * 2.0 ** max(0, attempts - 1))
        return ceiling / 2 + r.uniform(0, ceiling / 2)


def retry_decision(*, transient: bool, attempts: int, max_attempts: int) -> bool:
    """True when a failed attempt should be queued again."""
    return transient and attempts < max_attempts


# Failures a busy machine may cause once; the same one twice in a row is the document's.
PERMANENT_WHEN_REPEATED: tuple[type[PdfPromptError], ...] = (
    RenderTimeoutError,
    RenderMemoryExceededError,
)
_E = TypeVar("_E", bound=PdfPromptError)


def as_repeated(error: _E, previous: JobError | None) -> _E:
    """`error` (one of `PERMANENT_WHEN_REPEATED`) as this attempt fails with it: transient
    the first time; permanent, and saying so, when the job's previous attempt failed with
    the same code."""
    again = previous is not None and previous.code == error.code
    return type(error)(
        error.message + (" again; not retrying" if again else ""), transient=not again
    )
