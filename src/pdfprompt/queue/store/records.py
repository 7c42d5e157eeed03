"""What goes into the job store and what comes out of it, besides the domain's `Job`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pdfprompt.domain import Batch, FileInfo, Job, JobStatus, JobType, JobWarning


@dataclass(frozen=True, slots=True)
class NewJob:
    user_id: str
    type: JobType
    input: str
    options: dict[str, Any]
    max_attempts: int
    priority: int = 0
    idempotency_key: str | None = None
    parent_id: str | None = None
    # The owner's plan, and the quota period to reserve one PDF in (None: no reservation),
    # with the plan's PDFs per period (None: unlimited, still counted).
    plan: str | None = None
    quota_period: str | None = None
    quota_limit: int | None = None
    # A template preview: listed nowhere, no webhook event, deleted after (migration 0013).
    preview: bool = False


@dataclass(frozen=True, slots=True)
class StoredFile:
    """What the worker kept in storage for one attempt."""

    storage_key: str
    size_bytes: int
    pages: int
    sha256: str
    filename: str
    content_type: str = "application/pdf"
    render_key: str | None = None
    html_key: str | None = None
    warnings: tuple[JobWarning, ...] = ()
    thumbnail_key: str | None = None  # its first page as a small PNG, when one was made

    def discarded_keys(self) -> list[str]:
        """What is removed when the attempt's job was lost before its file was recorded:
        the PDF and its thumbnail (anything else it left is the orphan sweep's)."""
        return [k for k in (self.storage_key, self.thumbnail_key) if k]


@dataclass(frozen=True, slots=True)
class CachedRender:
    """A stored PDF that an identical earlier render produced."""

    storage_key: str
    pages: int
    size_bytes: int
    warnings: tuple[JobWarning, ...] = ()


@dataclass(frozen=True, slots=True)
class Finished:
    """A job a worker completed, with the file it stored."""

    job_id: str
    user_id: str
    stored: StoredFile


@dataclass(frozen=True, slots=True)
class JobPage:
    items: list[Job]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class DocumentSummary:
    """One line of a person's history: what it shows of a job, without its input."""

    id: str
    type: JobType
    status: JobStatus
    title: str
    created_at: datetime
    pages: int | None  # None until it has a PDF
    has_thumbnail: bool


@dataclass(frozen=True, slots=True)
class DocumentPage:
    items: list[DocumentSummary]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class NewBatch:
    """A batch to queue: its jobs (rows in order) with each one's name in the archive."""

    user_id: str
    jobs: Sequence[NewJob]
    names: Sequence[str]
    filename: str
    plan: str | None = None
    quota_period: str | None = None
    quota_limit: int | None = None
    idempotency_key: str | None = None
    template_id: str | None = None
    template_version: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BatchPage:
    items: list[Batch]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class BatchFile:
    """A succeeded job of a batch: its row, its name in the archive, its file."""

    row: int
    name: str
    file: FileInfo
