"""The document pages: a new document (`/`), and one document (`/documents/{id}`) with its
progress streamed live, its PDF, its versions and what can be done with it.

Every rule is the actions room's or the API schema's: submitting (`submit`, with the
plan's quota), the prompt and input limits, revising, cancelling, deleting, sending the
PDF. The pages decide only how things are shown and where an error appears."""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from starlette.responses import Response, StreamingResponse

from pdfprompt.accounts import WebSession
from pdfprompt.actions import (
    JobDeleted,
    cancel_document,
    check_input_size,
    check_prompt,
    delete_document,
    document_file,
    job_changes,
    pdf_response,
    prompt_limit,
    revise,
    submit,
)
from pdfprompt.domain import (
    InvalidInputError,
    Job,
    JobStage,
    JobStatus,
    JobType,
    NotFoundError,
    PayloadTooLargeError,
    QuotaExceededError,
)
from pdfprompt.web import compose, security
from pdfprompt.web.kit import message, page, pages, posted, principal, redirect, signed_in, svc_of
from pdfprompt.wiring import Services

router = pages()

# Seconds between looks at a queued job's place in the queue while its stream is quiet
# (and between keep-alive comments).
EVENTS_QUIET_S = 5.0
INPUT_SHOWN_CHARS = 10_000
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


# -- a new document -------------------------------------------------------------


@router.get("/")
async def new_document(request: Request) -> Response:
    session = await signed_in(request)
    values = compose.example(request.query_params.get("example", ""))
    return await _new_page(request, session, values)


@router.post("/documents")
async def create_document(request: Request) -> Response:
    session = await signed_in(request)
    svc = svc_of(request)
    form = await posted(request, compose.form_cap(svc.settings.max_input_bytes))
    if isinstance(form, Response):
        return form
    values = compose.values_of(form)
    parsed, errors = compose.job_of(values)
    caller = principal(session)
    plan = svc.accounts.plan_of(caller)
    if parsed is None:
        return await _new_page(request, session, values, errors, 400)
    try:
        check_input_size(svc, parsed.input)
        if parsed.type == "prompt":
            check_prompt(parsed.input, prompt_limit(svc, plan), "input")
        job, _ = await submit(
            svc,
            caller,
            plan,
            type=JobType(parsed.type),
            input=parsed.input,
            options=parsed.options.stored(),
        )
    except PayloadTooLargeError as exc:
        errors = {"input": compose.sentence(exc.message)}
        return await _new_page(request, session, values, errors, 413)
    except InvalidInputError as exc:
        errors = {"input": compose.sentence(exc.message)}
        return await _new_page(request, session, values, errors, 400)
    except QuotaExceededError as exc:
        errors = {"form": _quota_words(exc)}
        return await _new_page(request, session, values, errors, 429)
    return redirect(f"/documents/{job.id}")


async def _new_page(
    request: Request,
    session: WebSession,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    svc = svc_of(request)
    errors = errors or {}
    usage = await svc.accounts.user_usage(session.user_id)
    return page(
        request,
        "new.html",
        status,
        me=session,
        v=values,
        errors=errors,
        options_open=bool(compose.OPTION_FIELDS & errors.keys()),
        limit=prompt_limit(svc, svc.accounts.plan_of(principal(session))),
        pdfs=usage["pdfs"],
        **compose.choices(),
    )


def _quota_words(exc: QuotaExceededError) -> str:
    try:
        moment = datetime.fromisoformat(exc.reset_at)
        reset = f"{moment.day} {moment:%B %Y}"
    except ValueError:
        reset = "the start of next month"
    return (
        "Your plan's PDFs for this month are used up (documents still being made count "
        f"too). Nothing was submitted; you can make more from {reset}."
    )


# -- one document ---------------------------------------------------------------


@router.get("/documents/{job_id}")
async def document(request: Request, job_id: str) -> Response:
    session = await signed_in(request)
    job = await svc_of(request).jobs.get(job_id, session.user_id)
    return await _document_page(request, session, job)


async def _document_page(
    request: Request,
    session: WebSession,
    job: Job,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    instructions: str = "",
) -> Response:
    svc = svc_of(request)
    final = job.status.is_final
    position = await svc.jobs.queue_position(job.id) if job.status is JobStatus.QUEUED else None
    versions = await svc.jobs.versions(job.id, session.user_id)
    numbered = [
        {
            "number": len(versions) - i,
            "id": v.id,
            "name": title_of(v) if v.parent_id is None else "revised: " + _first_words(v.input),
            "status": STATUS_WORDS[v.status],
            "when": _when(v.created_at),
        }
        for i, v in enumerate(versions)
    ]
    shown = job.input[:INPUT_SHOWN_CHARS]
    return page(
        request,
        "document.html",
        status,
        me=session,
        job=job,
        final=final,
        title=title_of(versions[-1] if job.parent_id and "title" not in job.options else job),
        type_words=TYPE_WORDS[job.type],
        created=_when(job.created_at),
        finished=_when(job.finished_at) if job.finished_at else None,
        event=event_of(job, position),
        steps=STEPS,
        versions=numbered,
        warnings=[_warning_words(w.code, w.message) for w in job.file.warnings] if job.file else [],
        size=_size_words(job.file.size_bytes) if job.file else "",
        failure=FAILURE_WORDS.get(job.error.code, "Something went wrong while making it.")
        if job.error
        else "",
        shown_input=shown,
        input_cut=len(job.input) > len(shown),
        limit=prompt_limit(svc, svc.accounts.plan_of(principal(session))),
        errors=errors or {},
        instructions=instructions,
    )


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
    step = "rendering" if job.stage is JobStage.STORING else job.stage.value
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
        "position_words": _position_words(position),
    }


def _position_words(position: int | None) -> str:
    if position is None:
        return ""
    if position == 0:
        return "Yours is next in line."
    if position == 1:
        return "1 document is ahead of yours."
    return f"{position:,} documents are ahead of yours."


def _when(moment: datetime) -> dict[str, str]:
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return {"iso": utc.isoformat(), "text": f"{utc.day} {utc:%B %Y, %H:%M} UTC"}


def _size_words(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def _warning_words(code: str, text: str) -> dict[str, str]:
    if code == "resource_refused":
        return {"words": REFUSED_WORDS, "detail": text}
    return {"words": compose.sentence(text), "detail": ""}


@router.get("/documents/{job_id}/events")
async def document_events(request: Request, job_id: str) -> Response:
    """Server-Sent Events for the document page: an `event: job` (the progress the page
    shows, as JSON) per change, and when its place in the queue moves; ends after a final
    status, or with `event: deleted`."""
    session = await signed_in(request)
    svc = svc_of(request)
    await svc.jobs.get(job_id, session.user_id)  # a 404 page before any stream
    return StreamingResponse(
        _events(svc, job_id, session.user_id),
        media_type="text/event-stream",
        headers={
            **security.HEADERS,
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        },
    )


async def _events(svc: Services, job_id: str, user_id: str) -> AsyncIterator[str]:
    seq = 0
    last: Job | None = None
    position: int | None = None
    try:
        async for job in job_changes(svc, job_id, user_id, keepalive_s=EVENTS_QUIET_S):
            if job is None:
                if last is None or last.status is not JobStatus.QUEUED:
                    yield ": keep-alive\n\n"
                    continue
                moved = await svc.jobs.queue_position(job_id)
                if moved == position:
                    yield ": keep-alive\n\n"
                    continue
                job, position = last, moved
            else:
                last = job
                queued = job.status is JobStatus.QUEUED
                position = await svc.jobs.queue_position(job_id) if queued else None
            seq += 1
            yield f"id: {seq}\nevent: job\ndata: {json.dumps(event_of(job, position))}\n\n"
    except JobDeleted:
        yield "event: deleted\ndata: {}\n\n"


@router.get("/documents/{job_id}/pdf")
async def document_pdf(request: Request, job_id: str) -> Response:
    """The PDF, shown in the document page's frame; `?download=1`: as a download."""
    session = await signed_in(request)
    svc = svc_of(request)
    file = await document_file(svc, session.user_id, job_id)
    if request.query_params.get("download") == "1":
        return await pdf_response(svc.storage, file, request, presign_s=svc.settings.s3_presign_s)
    return await pdf_response(svc.storage, file, request, inline=True)


# -- what can be done with one --------------------------------------------------


@router.post("/documents/{job_id}/cancel")
async def cancel(request: Request, job_id: str) -> Response:
    session = await signed_in(request)
    form = await posted(request)
    if isinstance(form, Response):
        return form
    await cancel_document(svc_of(request), session.user_id, job_id)
    return redirect(f"/documents/{job_id}")


def revise_cap(limit: int) -> int:
    """The largest revise form: the longest instructions percent-encoded (12 bytes for a
    4-byte character) and the token."""
    return limit * 12 + security.MAX_FORM_BYTES


@router.post("/documents/{job_id}/revise")
async def revise_document(request: Request, job_id: str) -> Response:
    session = await signed_in(request)
    svc = svc_of(request)
    caller = principal(session)
    form = await posted(request, revise_cap(prompt_limit(svc, svc.accounts.plan_of(caller))))
    if isinstance(form, Response):
        return form
    instructions = form.get("instructions", "").replace("\r\n", "\n")
    job = await svc.jobs.get(job_id, session.user_id)
    error: dict[str, str] = {}
    status = 400
    if not instructions.strip():
        error = {"instructions": "Say what to change first: the box is empty."}
    else:
        try:
            new, _ = await revise(svc, caller, job_id, instructions)
        except InvalidInputError as exc:
            error = {"instructions": compose.sentence(exc.message)}
        except QuotaExceededError as exc:
            error, status = {"instructions": _quota_words(exc)}, 429
        else:
            return redirect(f"/documents/{new.id}")
    return await _document_page(
        request, session, job, status=status, errors=error, instructions=instructions
    )


@router.post("/documents/{job_id}/regenerate")
async def regenerate(request: Request, job_id: str) -> Response:
    """The same document made again as a new job: the same text and options. A revision
    is made again as a revision of the same version (its text is instructions)."""
    session = await signed_in(request)
    svc = svc_of(request)
    form = await posted(request)
    if isinstance(form, Response):
        return form
    caller = principal(session)
    plan = svc.accounts.plan_of(caller)
    job = await svc.jobs.get(job_id, session.user_id)
    try:
        if job.parent_id is not None:
            try:
                new, _ = await revise(svc, caller, job.parent_id, job.input)
            except NotFoundError:
                text = "The version this revision edits was deleted: it cannot be made again."
                return message(request, 409, "Cannot make it again", text)
        else:
            check_input_size(svc, job.input)
            if job.type is JobType.PROMPT:
                check_prompt(job.input, prompt_limit(svc, plan), "input")
            new, _ = await submit(
                svc, caller, plan, type=job.type, input=job.input, options=job.options
            )
    except QuotaExceededError as exc:
        errors = {"action": _quota_words(exc)}
        return await _document_page(request, session, job, status=429, errors=errors)
    return redirect(f"/documents/{new.id}")


@router.post("/documents/{job_id}/delete")
async def delete(request: Request, job_id: str) -> Response:
    session = await signed_in(request)
    form = await posted(request)
    if isinstance(form, Response):
        return form
    await delete_document(svc_of(request), session.user_id, job_id)
    return redirect("/documents")
