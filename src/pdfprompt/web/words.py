"""The words the document pages use for a job: its title, the stage and place in the
queue it is at, when it was made, how large it is, why it failed, what its render left
out, and a used-up month."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

from pdfprompt.domain import Job, JobStage, JobStatus, JobType, QuotaExceededError
from pdfprompt.web.fields import sentence

TITLE_WORDS = 8
STEPS = (
    ("queued", "Queued"),
    ("generating", "Writing"),
    ("rendering", "Printing"),
    ("done", "Done"),
)
STAGE_WORDS = {
    JobStage.QUEUED: "Waiting in the queue.",
    JobStage.GENERATING: "Writing the document.",
    JobStage.RENDERING: "Printing the PDF.",
    JobStage.CHECKING: "Checking how the PDF printed.",
    JobStage.REPAIRING: "Fixing what printed badly.",
    JobStage.STORING: "Saving the PDF.",
    JobStage.DONE: "Done.",
}
STATUS_WORDS = {
    JobStatus.QUEUED: "queued",
    JobStatus.RUNNING: "being made",
    JobStatus.SUCCEEDED: "ready",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELED: "canceled",
}
TYPE_WORDS = {
    JobType.PROMPT: "A description",
    JobType.MARKDOWN: "Markdown",
    JobType.HTML: "HTML",
    JobType.URL: "A web page",
    JobType.MERGE: "PDFs merged",
    JobType.SPLIT: "A PDF split",
    JobType.PDF: "A PDF finished",
}
FAILURE_WORDS = {
    "render_timeout": "Printing the PDF took longer than a print may take.",
    "render_memory_exceeded": "The document needed more memory than a print may use.",
    "render_failed": "The browser that prints the PDF could not print this document.",
    "render_refused": "The document could not be printed as it is.",
    "page_limit_exceeded": "The PDF has more pages than your plan allows.",
    "file_too_large": "The PDF is larger than your plan allows.",
    "storage_quota_exceeded": "Your storage is full: delete some older documents.",
    "llm_failed": "The writing model could not write this document.",
    "llm_keys_cooling": "The writing model was too busy to answer in time.",
    "lease_expired": "The worker making it stopped answering.",
    "invalid_input": "The document's text could not be used as it is.",
    "url_refused": "The web page, or where it led, is not an address pages may be loaded from.",
    "url_unreachable": "The web page could not be loaded.",
}
REFUSED_WORDS = "The document asked for an address outside the document; the sandbox refused it."
# Bounded patterns: they run on a person's input, up to a megabyte of it.
_NAMED = (
    re.compile(r"<title[^>]{0,100}>([^<]{1,200})", re.I),
    re.compile(r"<h1[^>]{0,100}>([^<]{1,200})", re.I),
)
_TAG = re.compile(r"<[^>]{0,500}>?")
_SCANNED_CHARS = 100_000
_MARKUP = re.compile(r"[#*_`>|~\[\]]+")


def title_of(job: Job) -> str:
    """What a document is called: its title option, else the first words of its text."""
    title = str(job.options.get("title") or "").strip()
    if not title:
        text = job.input
        title = _first_words(_html_words(text) if job.type is JobType.HTML else text)
    if len(title) > 120:
        title = title[:119] + "…"
    return title or "Untitled document"


def _html_words(text: str) -> str:
    """An HTML document's title, first heading, or else the start of its body's text."""
    for pattern in _NAMED:
        found = pattern.search(text, 0, _SCANNED_CHARS)
        if found and found.group(1).strip():
            return html.unescape(found.group(1))
    end = text[:_SCANNED_CHARS].lower().find("</head>")
    body = text[end + len("</head>") :] if end >= 0 else text
    return html.unescape(_TAG.sub(" ", body[:4000]))


def _first_words(text: str) -> str:
    words = _MARKUP.sub(" ", text[:4000]).split()
    return " ".join(words[:TITLE_WORDS]) + (" …" if len(words) > TITLE_WORDS else "")


def event_of(job: Job, position: int | None) -> dict[str, Any]:
    """What the page shows of a job's progress, as the stream sends it (`event: job`)."""
    step = job.stage.value
    if job.stage in (JobStage.CHECKING, JobStage.REPAIRING, JobStage.STORING):
        step = "rendering"  # the steps shown: these are parts of printing
    words = STAGE_WORDS[job.stage]
    if job.status is JobStatus.QUEUED and job.error is not None and job.attempts > 0:
        words = "Waiting to try again after a problem."
    if job.status.is_final:
        words = {
            JobStatus.SUCCEEDED: "Ready.",
            JobStatus.FAILED: "Failed.",
            JobStatus.CANCELED: "Canceled.",
        }[job.status]
    return {
        "id": job.id,
        "status": job.status.value,
        "stage": job.stage.value,
        "step": step,
        "progress": round(job.progress, 3),
        "percent": round(job.progress * 100),
        "words": words,
        "queue_position": position,
        "position_words": position_words(position),
    }


def position_words(position: int | None) -> str:
    if position is None:
        return ""
    if position == 0:
        return "Yours is next in line."
    if position == 1:
        return "1 document is ahead of yours."
    return f"{position:,} documents are ahead of yours."


def when(moment: datetime) -> dict[str, str]:
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return {"iso": utc.isoformat(), "text": f"{utc.day} {utc:%B %Y, %H:%M} UTC"}


def size_words(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


# What the print check's findings and the repair pass's notes mean (docs/prompts.md).
QUALITY_WORDS = {
    "overflow": "Something is wider than the page and is cut off at its edge.",
    "missing_glyphs": "Some characters have no font and print as empty boxes.",
    "blank_page": "The PDF has a page with nothing on it.",
    "tiny_text": "Some text is too small to read.",
    "broken_image": "An image could not be shown.",
    "repair_failed": "Fixing what printed badly did not work; this is the first print.",
    "repair_unused": "A corrected version printed no better; this is the first print.",
}


def warning_words(code: str, text: str) -> dict[str, str]:
    if code == "resource_refused":
        return {"words": REFUSED_WORDS, "detail": text}
    if code in QUALITY_WORDS:
        return {"words": QUALITY_WORDS[code], "detail": text}
    return {"words": sentence(text), "detail": ""}


def versions_shown(versions: list[Job]) -> list[dict[str, Any]]:
    """A document's versions (newest first) as its page lists them: numbered from the
    first, a revision named by its instructions."""
    return [
        {
            "number": len(versions) - i,
            "id": v.id,
            "name": title_of(v) if v.parent_id is None else "revised: " + _first_words(v.input),
            "status": STATUS_WORDS[v.status],
            "when": when(v.created_at),
        }
        for i, v in enumerate(versions)
    ]


def page_title(job: Job, versions: list[Job]) -> str:
    """A version's title: a revision without a title of its own has the first one's."""
    if job.parent_id is not None and "title" not in job.options and versions:
        return title_of(versions[-1])
    return title_of(job)


def failure_words(job: Job) -> str:
    if job.error is None:
        return ""
    return FAILURE_WORDS.get(job.error.code, "Something went wrong while making it.")


def quota_words(exc: QuotaExceededError) -> str:
    try:
        moment = datetime.fromisoformat(exc.reset_at)
        reset = f"{moment.day} {moment:%B %Y}"
    except ValueError:
        reset = "the start of next month"
    return (
        "Your plan's PDFs for this month are used up (documents still being made count "
        f"too). Nothing was submitted; you can make more from {reset}."
    )
