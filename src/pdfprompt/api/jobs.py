"""Job routes: submit, read, list, cancel, delete, download."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from pdfprompt.accounts import Principal
from pdfprompt.actions import (
    JobDeleted,
    cancel_document,
    delete_document,
    document_file,
    job_changes,
    pdf_response,
    prompt_limit,
    revise,
    submit,
    submit_pdf_job,
    submit_template_job,
)
from pdfprompt.api.auth import FileReader, JobReader, JobWriter, Svc
from pdfprompt.api.body import json_body
from pdfprompt.api.openapi import binary, problems
from pdfprompt.api.schemas import FileInfoOut, JobIn, JobList, JobOut, ReviseIn
from pdfprompt.domain import (
    ID_PATTERN,
    Job,
    JobStatus,
    JobType,
)
from pdfprompt.settings import Settings
from pdfprompt.wiring import Services

router = APIRouter(prefix="/v1")
log = logging.getLogger(__name__)

JSON_OVERHEAD_BYTES = 64 * 1024
JOB_CURSOR = ID_PATTERN  # the id of the last job of the previous page
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
    return prompt_limit(svc, svc.accounts.plan_of(caller)) * 12 + JSON_OVERHEAD_BYTES


def _base(request: Request) -> str:
    return str(request.base_url)


def created(request: Request, job: Job, new: bool) -> JSONResponse:
    """`202` with the new job and its `Location`; `200` with an earlier one (same key)."""
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
    if parsed.template is not None:  # a template job: its data checked before it is queued
        job, new = await submit_template_job(
            svc,
            caller,
            parsed.template,
            parsed.data if parsed.data is not None else {},
            parsed.options.stored(),
            idempotency_key,
        )
        return created(request, job, new)
    if parsed.type in ("merge", "split", "pdf"):
        job, new = await submit_pdf_job(
            svc,
            caller,
            JobType(parsed.type),
            inputs=[
                i if isinstance(i, str) else i.model_dump(exclude_none=True) for i in parsed.inputs
            ]
            if parsed.inputs is not None
            else None,
            input=parsed.input,
            ranges=parsed.ranges,
            options=parsed.options.stored(),
            idempotency_key=idempotency_key,
        )
        return created(request, job, new)
    assert parsed.input is not None  # JobIn requires it for every other type
    job, new = await submit(
        svc,
        caller,
        svc.accounts.plan_of(caller),
        type=JobType(parsed.type),
        input=parsed.input,
        options=parsed.options.stored(),
        idempotency_key=idempotency_key,
    )
    return created(request, job, new)


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

    async def stream() -> AsyncIterator[str]:
        seq = 0
        try:
            async for job in job_changes(svc, job_id, caller.user_id, keepalive_s=SSE_KEEPALIVE_S):
                if job is None:
                    yield ": keep-alive\n\n"
                    continue
                seq += 1
                yield f"id: {seq}\nevent: job\ndata: {JobOut.of(job, base).model_dump_json()}\n\n"
        except JobDeleted:
            yield "event: deleted\ndata: {}\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, responses=problems(409))
async def cancel_job(request: Request, job_id: str, caller: JobWriter, svc: Svc) -> JobOut:
    return JobOut.of(await cancel_document(svc, caller.user_id, job_id), _base(request))


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
    job, new = await revise(svc, caller, job_id, parsed.instructions)
    return created(request, job, new)


@router.delete("/jobs/{job_id}", status_code=204, responses=problems(409))
async def delete_job(job_id: str, caller: JobWriter, svc: Svc) -> Response:
    await delete_document(svc, caller.user_id, job_id)
    return Response(status_code=204)


@router.get("/jobs/{job_id}/pdf", response_class=StreamingResponse, responses=OWN_PDF_ANSWERS)
async def get_job_pdf(request: Request, job_id: str, caller: FileReader, svc: Svc) -> Response:
    file = await document_file(svc, caller.user_id, job_id)
    return await pdf_response(svc.storage, file, request, presign_s=svc.settings.s3_presign_s)


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
