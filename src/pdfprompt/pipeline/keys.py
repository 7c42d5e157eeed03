"""Where an attempt's files are stored."""

from __future__ import annotations

import secrets
from typing import NamedTuple

from pdfprompt.domain import Job


class AttemptKeys(NamedTuple):
    pdf: str
    html: str  # the generated HTML, kept for prompt jobs
    thumbnail: str  # the first page as a small PNG


def attempt_keys(job: Job) -> AttemptKeys:
    """The storage keys of this attempt's PDF, of the HTML it was rendered from and of its
    first page's thumbnail, side by side. Each attempt writes under keys of its own; only
    the winning attempt's are recorded. One folder per user, not per job: a new directory
    for every job costs the file system (docs/render.md, "Where a job's files are stored")
    and would be left empty when its files are deleted."""
    stem = f"{job.user_id}/{job.id}-{job.attempts}-{secrets.token_hex(4)}"
    return AttemptKeys(f"{stem}.pdf", f"{stem}.html", f"{stem}.png")
