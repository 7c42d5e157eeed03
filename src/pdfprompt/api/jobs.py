"""Job routes: submit, read, list, cancel, delete, download."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from pdfprompt.accounts import Principal
from pdfprompt.api.auth import FileReader, JobReader, JobWriter, Svc
from pdfprompt.api.body import json_body
from pdfprompt.api.openapi import binary, problems
from pdfprompt.api.schemas import FileInfoOut, JobIn, JobList, JobOut, ReviseIn
from pdfprompt.domain import (
    WARN_AT,
    ConflictError,
    DuplicateJobError,
    FileInfo,
    InvalidInputError,
    Job,
    JobStatus,
    JobType,
    NotFoundError,
    PayloadTooLargeError,
    Plan,
    tightest,
)
from pdfprompt.queue import NewJob
from pdfprompt.settings import Settings
from pdfprompt.storage import Storage
from pdfprompt.wiring import Services

router = APIRouter(prefix="/v1")
log = logging.getLogger(__name__)

JSON_OVERHEAD_BYTES = 64 * 1024
JOB_CURSOR = r"^[0-9a-f-]{1,36}$"  # the id of the last job of the previous page
PDF_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: binary("application/pdf", "The PDF"),
    206: binary("application/pdf", "The byte range asked for (`Range: bytes=…`)"),
    302: {"description": "On S3 with PDFPROMPT_S3_PRESIGN_S: a presigned URL (`Location`)"},
    304: {"description": "Not modified (`If-None-Match` names the ETag)"},
    416: {"description": "The range cannot be satisfied (`Content-Range: bytes */size`)"},
}
EVENT_STREAM = {
    "description": "One `job` event (the job object as JSON) per change of the job; the stream "
    "ends after a final status (or with a `deleted` event); `: keep-alive` comments between",
    "content": {
        "text/event-stream": {
            "schema": {
                "type": "object",
                "required": ["event", "data"],
                "properties": {
                    "event": {"type": "string", "enum": ["job", "deleted"]},
                    "id": {"type": "string"},
                    "data": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": {"$ref": "#/components/schemas/JobOut"},
                    },
                },
            }
        }
    },
}
OWN_PDF_ANSWERS = {**PDF_ANSWERS, **problems(409)}


def job_body_limit(settings: Settings) -> int:
    """The largest body of a job submission: the largest input, as JSON may spell it
    (`\\u` escapes: a 4-byte UTF-8 character is 12 bytes of JSON), and the options."""
    return settings.max_input_bytes * 3 + JSON_OVERHEAD_BYTES


def _revise_limit(svc: Services, caller: Principal) -> int:
    return _prompt_limit(svc, svc.accounts.plan_of(caller)) * 12 + JSON_OVERHEAD_BYTES


def _base(request: Request) -> str:
    return str(request.base_url)


def _prompt_limit(svc: Services, plan: Plan) -> int:
    """Longest prompt or revision instructions: the plan's, within the server's."""
    return tightest(plan.max_prompt_chars, svc.settings.max_prompt_chars) or 0


def _check_prompt(text: str, limit: int, field: str) -> None:
    if len(text) > limit:
        raise InvalidInputError(
            f"{field}: {len(text)} characters; the limit is {limit}", field=field
        )


async def _submit(svc: Services, caller: Principal, plan: Plan, **job: Any) -> tuple[Job, bool]:
    """Queue a job under the caller's plan: its priority, and one PDF reserved in this
    period's quota (`QuotaExceededError` when none is left). Returns the job and whether it
    was new (False: an earlier job with the same idempotency key)."""
    new = NewJob(
        user_id=caller.user_id,
        max_attempts=svc.settings.max_attempts,
        priority=plan.priority,
        plan=plan.name,
        quota_period=svc.accounts.period(),
        quota_limit=plan.pdfs_per_month,
        **job,
    )
    try:
        created = await svc.jobs.enqueue(new)
    except DuplicateJobError as dup:
        return await svc.jobs.get(dup.existing_job_id, caller.user_id), False
    if created.extra.get("quota_warning"):
        svc.metrics.quota_warnings.inc()
        log.info(
            "user %s reached %d%% of the %d PDFs of plan %s for %s",
            caller.user_id,
            round(WARN_AT * 100),
            plan.pdfs_per_month,
            plan.name,
            new.quota_period,
        )
    if svc.wakeup is not None:
        svc.wakeup.notify()
    return created, True


def _created(request: Request, job: Job, new: bool) -> JSONResponse:
    body = JobOut.of(job, _base(request)).model_dump(mode="json")
    if not new:
        return JSONResponse(body, 200)
    return JSONResponse(body, 202, headers={"Location": f"/v1/jobs/{job.id}"})


@router.post(
    "/jobs",
    status_code=202,
    response_model=JobOut,
    responses={
        200: {
            "model": JobOut,
            "description": "The job an earlier request with the same Idempotency-Key created",
        }
    },
)
async def create_job(
    request: Request,
    caller: JobWriter,
    parsed: Annotated[JobIn, json_body(JobIn, lambda svc, _: job_body_limit(svc.settings))],
    svc: Svc,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Response:
    size = len(parsed.input.encode("utf-8"))
    if size > svc.settings.max_input_bytes:
        raise PayloadTooLargeError(
            f"input: {size} bytes is over the limit of {svc.settings.max_input_bytes} bytes",
            field="input",
        )
    plan = svc.accounts.plan_of(caller)
    if parsed.type == "prompt":
        _check_prompt(parsed.input, _prompt_limit(svc, plan), "input")
    if idempotency_key is not None and not idempotency_key.strip():
        raise InvalidInputError("Idempotency-Key: must not be blank", field="Idempotency-Key")
    job, new = await _submit(
        svc,
        caller,
        plan,
        type=JobType(parsed.type),
        input=parsed.input,
        options=parsed.options.stored(),
        idempotency_key=idempotency_key,
    )
    return _created(request, job, new)


@router.get("/jobs", response_model=JobList)
async def list_jobs(
    request: Request,
    caller: JobReader,
    svc: Svc,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=JOB_CURSOR)] = None,
) -> JobList:
    page = await svc.jobs.list_jobs(caller.user_id, status=status, limit=limit, cursor=cursor)
    return JobList(
        items=[JobOut.of(j, _base(request)) for j in page.items], next_cursor=page.next_cursor
    )


@router.get("/jobs/{job_id}", response_model=JobOut)
async def get_job(request: Request, job_id: str, caller: JobReader, svc: Svc) -> JobOut:
    return JobOut.of(await svc.jobs.get(job_id, caller.user_id), _base(request))


SSE_KEEPALIVE_S = 15.0


@router.get(
    "/jobs/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: EVENT_STREAM},
)
async def job_events(request: Request, job_id: str, caller: JobReader, svc: Svc) -> Response:
    """Server-Sent Events: one `job` event per status, stage, progress or attempt change,
    closing after a final status. Changes arrive by notification (this process, or NOTIFY
    from other nodes on PostgreSQL); a read every `PDFPROMPT_POLL_MS` covers the rest."""
    await svc.jobs.get(job_id, caller.user_id)  # 404 before the stream starts
    base = _base(request)
    poll_s = svc.settings.poll_ms / 1000

    async def stream() -> AsyncIterator[str]:
        last: tuple[object, ...] | None = None
        quiet_s = 0.0
        seq = 0
        with svc.events.subscribe(job_id) as changed:
            while True:
                changed.clear()
                try:
                    job = await svc.jobs.get(job_id, caller.user_id)
                except NotFoundError:
                    yield "event: deleted\ndata: {}\n\n"
                    return
                state = (job.status, job.stage, round(job.progress, 3), job.attempts)
                if state != last:
                    last, seq, quiet_s = state, seq + 1, 0.0
                    data = JobOut.of(job, base).model_dump_json()
                    yield f"id: {seq}\nevent: job\ndata: {data}\n\n"
                if job.status.is_final:
                    return
                try:
                    await asyncio.wait_for(changed.wait(), poll_s)
                except TimeoutError:
                    quiet_s += poll_s
                    if quiet_s >= SSE_KEEPALIVE_S:
                        quiet_s = 0.0
                        yield ": keep-alive\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, responses=problems(409))
async def cancel_job(request: Request, job_id: str, caller: JobWriter, svc: Svc) -> JobOut:
    before = await svc.jobs.get(job_id, caller.user_id)
    if before.status.is_final:
        raise ConflictError(f"job {job_id} is already {before.status.value}")
    return JobOut.of(await svc.jobs.cancel_job(job_id, caller.user_id), _base(request))


@router.post(
    "/jobs/{job_id}/revise", status_code=202, response_model=JobOut, responses=problems(409)
)
async def revise_job(
    request: Request,
    job_id: str,
    caller: JobWriter,
    parsed: Annotated[ReviseIn, json_body(ReviseIn, _revise_limit)],
    svc: Svc,
) -> Response:
    """A new prompt job that edits this job's document with the instructions (the model
    gets the previous HTML, not a fresh prompt); linked by `parent_id`, same options."""
    plan = svc.accounts.plan_of(caller)
    _check_prompt(parsed.instructions, _prompt_limit(svc, plan), "instructions")
    parent = await svc.jobs.get(job_id, caller.user_id)
    if parent.status is not JobStatus.SUCCEEDED:
        raise ConflictError(
            f"job {job_id} is {parent.status.value}; only a finished PDF is revised"
        )
    job, new = await _submit(
        svc,
        caller,
        plan,
        type=JobType.PROMPT,
        input=parsed.instructions,
        options=parent.options,
        parent_id=parent.id,
    )
    return _created(request, job, new)


@router.delete("/jobs/{job_id}", status_code=204, responses=problems(409))
async def delete_job(job_id: str, caller: JobWriter, svc: Svc) -> Response:
    for key in await svc.jobs.delete_job(job_id, caller.user_id):
        await svc.storage.delete(key)
    return Response(status_code=204)


def _content_disposition(filename: str) -> str:
    from urllib.parse import quote

    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


# ASCII digits only, and few enough to be a byte offset (`\d` also matches other scripts'
# digits, and `int()` of thousands of digits is refused): anything else is no range.
_RANGE = re.compile(r"^bytes=([0-9]{0,18})-([0-9]{0,18})$")


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (first, last) bytes of a single `Range: bytes=` request, clamped to the object;
    None for no or an ignorable (multi-part, malformed) range; raises for one that cannot be
    satisfied."""
    match = _RANGE.match((header or "").strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        n = int(last)
        if n == 0:
            raise _Unsatisfiable
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise _Unsatisfiable
    return start, end


class _Unsatisfiable(Exception):
    pass


async def pdf_response(
    storage: Storage, file: FileInfo, request: Request, *, presign_s: int = 0
) -> Response:
    """Stream a stored PDF with its length, filename and a strong ETag; a single byte range
    (`Range: bytes=…`) answers 206 with that part. With `presign_s` and a store that has
    presigned URLs, answer 302 to one valid that long instead (the store serves the bytes)."""
    etag = f'"{file.id}"'
    disposition = _content_disposition(file.filename)
    if presign_s > 0:
        url = await storage.presigned_url(
            file.storage_key,
            expires_s=presign_s,
            filename=disposition,
            content_type=file.content_type,
        )
        if url is not None:
            return Response(status_code=302, headers={"Location": url, "Cache-Control": "no-store"})
    headers = {
        "ETag": etag,
        "Content-Disposition": disposition,
        "Cache-Control": "private, max-age=3600",
        "X-Content-Type-Options": "nosniff",
        "Accept-Ranges": "bytes",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    try:
        size = await storage.size(file.storage_key)
    except NotFoundError:  # its message names the storage key: nothing a client should see
        raise NotFoundError(f"file {file.id} is no longer stored") from None
    wanted = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range != etag:
        wanted = None  # the client holds another version: send it all
    try:
        part = _byte_range(wanted, size)
    except _Unsatisfiable:
        headers["Content-Range"] = f"bytes */{size}"
        return Response(status_code=416, headers=headers)
    if part is None:
        headers["Content-Length"] = str(size)
        return StreamingResponse(
            storage.stream(file.storage_key), media_type=file.content_type, headers=headers
        )
    start, end = part
    headers["Content-Length"] = str(end - start + 1)
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(
        storage.stream(file.storage_key, start, end),
        status_code=206,
        media_type=file.content_type,
        headers=headers,
    )


@router.get("/jobs/{job_id}/pdf", response_class=StreamingResponse, responses=OWN_PDF_ANSWERS)
async def get_job_pdf(request: Request, job_id: str, caller: FileReader, svc: Svc) -> Response:
    job = await svc.jobs.get(job_id, caller.user_id)
    if job.file is None:
        raise ConflictError(f"job {job_id} is {job.status.value}; it has no PDF")
    return await pdf_response(svc.storage, job.file, request, presign_s=svc.settings.s3_presign_s)


@router.get("/files/{file_id}", response_model=FileInfoOut)
async def get_file(request: Request, file_id: str, caller: FileReader, svc: Svc) -> FileInfoOut:
    file = await svc.jobs.get_file(file_id, caller.user_id)
    return FileInfoOut(
        id=file.id,
        size_bytes=file.size_bytes,
        pages=file.pages,
        filename=file.filename,
        content_type=file.content_type,
        url=f"{_base(request)}v1/files/{file.id}/content",
    )


@router.get("/files/{file_id}/content", response_class=StreamingResponse, responses=OWN_PDF_ANSWERS)
async def get_file_content(
    request: Request, file_id: str, caller: FileReader, svc: Svc
) -> Response:
    file = await svc.jobs.get_file(file_id, caller.user_id)
    return await pdf_response(svc.storage, file, request, presign_s=svc.settings.s3_presign_s)
