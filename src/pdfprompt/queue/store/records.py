"""What goes into the job store and what comes out of it, besides the domain's `Job`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pdfprompt.domain import Job, JobType, JobWarning


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
