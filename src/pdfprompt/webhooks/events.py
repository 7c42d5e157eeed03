"""What an event says: the events there are, each one's `data`, and the JSON body sent.

A `job.*` event carries the job as `GET /v1/jobs/{id}` shows it; the HTTP API answers with
its own schema (`api.schemas.JobOut`), and `job_data` writes the same JSON from the domain's
`Job`, so sending webhooks needs no web framework (a test pins the two together). A
`quota.warning` carries the usage that crossed the warning share, as `GET /v1/usage`
shows it. The data is built when the event is first sent, then fixed (`outbox`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal, get_args

from pdfprompt.domain import (
    PDF_JOBS,
    TEMPLATE_JOBS,
    Batch,
    Job,
    NotFoundError,
    pdf_input_of,
    redacted_options,
    template_of_input,
)
from pdfprompt.webhooks.outbox import ClaimedDelivery

EventName = Literal[
    "job.succeeded", "job.failed", "job.canceled", "quota.warning", "batch.completed"
]
EVENTS: tuple[EventName, ...] = get_args(EventName)

# (event, user id, subject) -> the event's `data`.
Compose = Callable[[str, str, str], Awaitable[dict[str, Any]]]
# (job id, the owner's user id) -> the job; `NotFoundError` when it is gone.
JobLookup = Callable[[str, str], Awaitable[Job]]
# (batch id, the owner's user id) -> the batch; `NotFoundError` when it is gone.
BatchLookup = Callable[[str, str], Awaitable[Batch]]
# user id -> the user's usage against their plan.
UsageLookup = Callable[[str], Awaitable[dict[str, Any]]]


def _time(value: datetime | None) -> str | None:
    """ISO 8601, UTC written `Z`, as the HTTP API writes times."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _problem(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def job_data(job: Job, public_url: str) -> dict[str, Any]:
    """The job as `GET /v1/jobs/{id}` shows it: the same fields, in the same order, with the
    same values. `public_url` ends in `/`."""
    file = None
    if job.file is not None:
        file = {
            "id": job.file.id,
            "size_bytes": job.file.size_bytes,
            "pages": job.file.pages,
            "filename": job.file.filename,
            "url": f"{public_url}v1/jobs/{job.id}/pdf",
        }
    pdf = pdf_input_of(job.input) if job.type in PDF_JOBS else None
    return {
        "id": job.id,
        "type": job.type.value,
        "status": job.status.value,
        "stage": job.stage.value,
        "progress": float(round(job.progress, 4)),
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "priority": job.priority,
        "generator": job.generator.value if job.generator else None,
        "error": _problem(job.error.code, job.error.message) if job.error else None,
        "warnings": [
            _problem(w.code, w.message) for w in (job.file.warnings if job.file is not None else ())
        ],
        "file": file,
        "options": redacted_options(job.options),
        "parent_id": job.parent_id,
        "template": template_of_input(job.input) if job.type in TEMPLATE_JOBS else None,
        "batch": (
            {"id": job.batch_id, "row": job.batch_row}
            if job.batch_id is not None and job.batch_row is not None
            else None
        ),
        "inputs": pdf["inputs"] if pdf else None,
        "ranges": pdf.get("ranges") if pdf else None,
        "created_at": _time(job.created_at),
        "started_at": _time(job.started_at),
        "finished_at": _time(job.finished_at),
        "updated_at": _time(job.updated_at),
    }


def batch_data(batch: Batch) -> dict[str, Any]:
    """The batch as `GET /v1/batches/{id}` shows it (`api.batches.BatchOut`)."""
    template = None
    if batch.template_id is not None:
        template = {"id": batch.template_id, "version": batch.template_version}
    return {
        "id": batch.id,
        "status": batch.status.value,
        "total": batch.total,
        "counts": batch.counts.as_dict(),
        "progress": float(batch.progress),
        "template": template,
        "filename": batch.filename,
        "created_at": _time(batch.created_at),
        "finished_at": _time(batch.ended_at),
    }


def event_composer(
    job: JobLookup, usage: UsageLookup, public_url: str, batch: BatchLookup | None = None
) -> Compose:
    """What builds an event's `data`, looking the job, the batch or the usage up when it is
    first sent; the caller passes in where to look (the job queue, the accounts)."""

    async def compose(event: str, user_id: str, subject: str) -> dict[str, Any]:
        if event == "quota.warning":
            return {"period": subject, "usage": await usage(user_id)}
        if event.startswith("batch."):
            try:
                if batch is None:
                    raise NotFoundError("no batches here")
                return {"batch": batch_data(await batch(subject, user_id))}
            except NotFoundError:
                return {"batch": {"id": subject, "deleted": True}}
        try:
            found = await job(subject, user_id)
        except NotFoundError:  # deleted since: what the event itself says
            return {"job": {"id": subject, "status": event.removeprefix("job."), "deleted": True}}
        return {"job": job_data(found, public_url)}

    return compose


def event_body(claimed: ClaimedDelivery, data: dict[str, Any]) -> str:
    """The JSON body of the delivery: its id, the event, when it happened, and `data`."""
    event = {
        "id": str(claimed.id),
        "type": claimed.event,
        "created_at": _time(claimed.created_at),
        "data": data,
    }
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)
