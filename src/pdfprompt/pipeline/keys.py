"""Where an attempt's files are stored."""

from __future__ import annotations

import secrets

from pdfprompt.domain import Job


def attempt_keys(job: Job) -> tuple[str, str]:
    """The storage keys of this attempt's PDF and of the HTML it was rendered from. Each
    attempt writes under keys of its own; only the winning attempt's are recorded. One folder
    per user, not per job: a new directory for every job costs the file system (docs/render.md,
    "Where a job's files are stored") and would be left empty when its files are deleted."""
    stem = f"{job.user_id}/{job.id}-{job.attempts}-{secrets.token_hex(4)}"
    return f"{stem}.pdf", f"{stem}.html"
