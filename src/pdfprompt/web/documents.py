"""The document pages: a new document (`/`), and one document (`/documents/{id}`) with its
progress streamed live, its PDF, its versions and what can be done with it.

Every rule is the actions room's or the API schema's: submitting (`submit`, with the
plan's quota), the prompt and input limits, revising, cancelling, deleting, sending the
PDF. The pages decide only how things are shown and where an error appears."""

from __future__ import annotations

import html
import json
import math
from collections.abc import AsyncIterator

from fastapi import Request
from starlette.responses import Response, StreamingResponse

from pdfprompt.accounts import WebSession
from pdfprompt.actions import (
    JobDeleted,
    cancel_document,
    delete_document,
    document_file,
    job_changes,
    markdown_preview,
    pdf_response,
    prompt_limit,
    revise,
    submit,
)
from pdfprompt.domain import (
    InvalidInputError,
    Job,
    JobStatus,
    JobType,
    NotFoundError,
    PayloadTooLargeError,
    QuotaExceededError,
    RateLimitedError,
)
from pdfprompt.web import compose, security, words
from pdfprompt.web.fields import sentence
from pdfprompt.web.kit import (
    FormRefused,
    message,
    page,
    pages,
    posted,
    principal,
    redirect,
    session_of,
    signed_in,
    svc_of,
)
from pdfprompt.wiring import Services

router = pages()

# Seconds between looks at a queued job's place in the queue while its stream is quiet
# (and between keep-alive comments).
EVENTS_QUIET_S = 5.0
INPUT_SHOWN_CHARS = 10_000


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
    values = compose.values_of(form)
    parsed, errors = compose.job_of(values)
    caller = principal(session)
    plan = svc.accounts.plan_of(caller)
    if parsed is None:
        return await _new_page(request, session, values, errors, 400)
    try:
        job, _ = await submit(
            svc,
            caller,
            plan,
            type=JobType(parsed.type),
            input=parsed.input,
            options=parsed.options.stored(),
        )
    except PayloadTooLargeError as exc:
        errors = {"input": sentence(exc.message)}
        return await _new_page(request, session, values, errors, 413)
    except InvalidInputError as exc:
        errors = {"input": sentence(exc.message)}
        return await _new_page(request, session, values, errors, 400)
    except QuotaExceededError as exc:
        errors = {"form": words.quota_words(exc)}
        return await _new_page(request, session, values, errors, 429)
    return redirect(f"/documents/{job.id}")


# The Markdown preview, shown in the compose page's `<iframe sandbox>`: framed by this site
# only, sandboxed even when opened on its own, and able to load nothing but what it holds.
PREVIEW_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
        "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_SIGNED_OUT = "You are signed out. Sign in again, then preview."
_PREVIEW_REFUSED = {
    400: "This preview could not be read. Reload the page and try again.",
    403: "This form has expired. Reload the page, then preview again.",
    413: "The Markdown is too large to preview or print.",
}


@router.post("/documents/preview")
async def preview_markdown(request: Request) -> Response:
    """The HTML the compose form's Markdown becomes (the one its PDF is printed from), into
    the page's preview frame; or why it cannot be shown, in words, in the frame."""
    svc = svc_of(request)
    # Not counted against the plan's requests a minute (which its API keys share and a
    # writer's typing would use up): previews have a rate of their own.
    session = await session_of(request)
    if session is None:
        return _preview_refused(403, _SIGNED_OUT)
    try:
        form = await posted(request, compose.form_cap(svc.settings.max_input_bytes))
        document = await markdown_preview(svc, principal(session), compose.values_of(form)["input"])
    except FormRefused as exc:
        status = exc.response.status_code
        return _preview_refused(status, _PREVIEW_REFUSED.get(status, _PREVIEW_REFUSED[400]))
    except PayloadTooLargeError:
        return _preview_refused(413, _PREVIEW_REFUSED[413])
    except InvalidInputError as exc:  # a document the converter refuses (tables too large)
        return _preview_refused(422, sentence(exc.message))
    except RateLimitedError as exc:
        wait = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
        return _preview_refused(429, sentence(exc.message), wait)
    return Response(document, 200, media_type="text/html", headers=PREVIEW_HEADERS)


def _preview_refused(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    body = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Preview</title>'
        "<style>body{font:1rem/1.5 system-ui,sans-serif;margin:1rem;color:#8a1c1c}</style>"
        f'</head><body><p data-preview-error="{status}">{html.escape(text)}</p></body></html>'
    )
    return Response(
        body, status, media_type="text/html", headers={**PREVIEW_HEADERS, **(headers or {})}
    )


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
    position = await svc.jobs.queue_position(job.id) if job.status is JobStatus.QUEUED else None
    versions = await svc.jobs.versions(job.id, session.user_id)
    shown = job.input[:INPUT_SHOWN_CHARS]
    return page(
        request,
        "document.html",
        status,
        me=session,
        job=job,
        final=job.status.is_final,
        title=words.page_title(job, versions),
        type_words=words.TYPE_WORDS[job.type],
        created=words.when(job.created_at),
        finished=words.when(job.finished_at) if job.finished_at else None,
        event=words.event_of(job, position),
        steps=words.STEPS,
        versions=words.versions_shown(versions),
        warnings=[words.warning_words(w.code, w.message) for w in job.file.warnings]
        if job.file
        else [],
        size=words.size_words(job.file.size_bytes) if job.file else "",
        failure=words.failure_words(job),
        shown_input=shown,
        input_cut=len(job.input) > len(shown),
        limit=prompt_limit(svc, svc.accounts.plan_of(principal(session))),
        errors=errors or {},
        instructions=instructions,
    )


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
            yield f"id: {seq}\nevent: job\ndata: {json.dumps(words.event_of(job, position))}\n\n"
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
    await posted(request)
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
            error = {"instructions": sentence(exc.message)}
        except QuotaExceededError as exc:
            error, status = {"instructions": words.quota_words(exc)}, 429
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
    await posted(request)
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
            new, _ = await submit(
                svc, caller, plan, type=job.type, input=job.input, options=job.options
            )
    except QuotaExceededError as exc:
        errors = {"action": words.quota_words(exc)}
        return await _document_page(request, session, job, status=429, errors=errors)
    return redirect(f"/documents/{new.id}")


@router.post("/documents/{job_id}/delete")
async def delete(request: Request, job_id: str) -> Response:
    session = await signed_in(request)
    await posted(request)
    await delete_document(svc_of(request), session.user_id, job_id)
    return redirect("/documents")
