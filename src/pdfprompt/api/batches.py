"""Batch routes: submit many jobs at once (job bodies, or a template's data as JSON or an
uploaded CSV/JSON Lines file), follow them, cancel them, download them together."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from pdfprompt.accounts import Principal
from pdfprompt.actions import (
    batch_archive,
    batch_changes,
    check_row_count,
    integer_cursor,
    merged_pdf,
    submit_batch,
    template_rows,
    template_schema,
)
from pdfprompt.api.auth import FileReader, JobReader, JobWriter, Svc, authenticated
from pdfprompt.api.batch_schemas import (
    BatchIn,
    BatchJobList,
    BatchJobOut,
    BatchList,
    BatchOut,
)
from pdfprompt.api.body import parse_json, read_body, validated
from pdfprompt.api.openapi import binary, problems
from pdfprompt.api.schemas import BatchRefOut, JobIn, JobOut, OptionsIn
from pdfprompt.api.services import services
from pdfprompt.domain import (
    BATCH_ID_PATTERN,
    PDF_JOBS,
    BatchJobSpec,
    BatchRowsError,
    InputLimits,
    InvalidInputError,
    Job,
    JobStatus,
    JobType,
    NotFoundError,
    PayloadTooLargeError,
    RowError,
    parse_csv,
    parse_jsonl,
)
from pdfprompt.wiring import Services

router = APIRouter(prefix="/v1")

SSE_KEEPALIVE_S = 15.0
ROW_CURSOR = r"^[0-9]{1,18}$"  # the row of the last job of the previous page
BATCH_CURSOR = r"^bat_[0-9a-f-]{1,36}$"
_BATCH_ID = re.compile(BATCH_ID_PATTERN)
MAX_FORM_FIELD_BYTES = 64 * 1024


# -- one row, one job ---------------------------------------------------------


def batch_row_jobs(rows: list[Any], field: str = "jobs") -> list[BatchJobSpec]:
    """Each row (a job body as `POST /v1/jobs` takes it) checked as that route checks one
    (`JobIn`), as a job spec; every bad row listed (`BatchRowsError`, fields
    `jobs/<row>/…`)."""
    specs: list[BatchJobSpec] = []
    errors: list[RowError] = []
    for row, body in enumerate(rows):
        where = f"{field}/{row}"
        if not isinstance(body, dict):
            errors.append(RowError(row, where, "must be a JSON object (a job body)"))
            continue
        try:
            parsed = JobIn.model_validate(body)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                path = "/".join(str(p) for p in error.get("loc", ()))
                message = error.get("msg", "invalid value")
                if error.get("type") == "extra_forbidden":
                    message = "unknown field"
                errors.append(RowError(row, f"{where}/{path}" if path else where, message))
            continue
        if JobType(parsed.type) in PDF_JOBS:  # their inputs are resolved one job at a time
            errors.append(
                RowError(
                    row,
                    f"{where}/type",
                    f"a batch makes documents; a {parsed.type} job is submitted on its own "
                    "(POST /v1/jobs)",
                )
            )
            continue
        if parsed.input is None:  # a template job: its rows are sent as {"template", "items"}
            errors.append(
                RowError(
                    row,
                    f"{where}/type",
                    'a batch of one template\'s data is sent as {"template", "items"}',
                )
            )
            continue
        options = parsed.options.stored()
        fields = {k: v for k, v in options.items() if isinstance(v, str | int | float)}
        specs.append(BatchJobSpec(JobType(parsed.type), parsed.input, options, fields))
    if errors:
        raise BatchRowsError(errors)
    return specs


# -- reading the request --------------------------------------------------------


class Upload:
    """A batch sent as a file: its rows, the template, options and file name pattern."""

    def __init__(
        self, items: list[Any], template: str, options: OptionsIn | None, filename: str | None
    ) -> None:
        self.items = items
        self.template = template
        self.options = options
        self.filename = filename


def _limits(svc: Services) -> InputLimits:
    return InputLimits(
        max_bytes=svc.settings.max_batch_bytes, max_rows=svc.settings.max_batch_items
    )


async def _upload(request: Request, svc: Services, caller: Principal) -> Upload:
    """A multipart batch: a `file` part (CSV with a header row, or JSON Lines), `template`,
    and the optional `options` (JSON text) and `filename`."""
    most = svc.settings.max_batch_bytes
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared[:20]) > most):
        raise PayloadTooLargeError(f"body: over the limit of {most} bytes", field="body")
    try:
        form = await request.form(max_files=1, max_fields=8, max_part_size=MAX_FORM_FIELD_BYTES)
    except PayloadTooLargeError:
        raise
    except Exception as exc:  # the multipart parser's own errors: a malformed body
        raise InvalidInputError(f"body: not a multipart form ({exc})"[:300], field="body") from None
    try:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidInputError("file: a CSV or JSON Lines file is needed", field="file")
        data = await upload.read(most + 1)
        template = form.get("template")
        if not isinstance(template, str) or not template.strip() or len(template) > 200:
            raise InvalidInputError("template: a template is needed", field="template")
        options = None
        raw_options = form.get("options")
        if isinstance(raw_options, str) and raw_options.strip():
            options = validated(OptionsIn, parse_json(raw_options.encode("utf-8")))
        filename = form.get("filename")
        if filename is not None and (not isinstance(filename, str) or len(filename) > 200):
            raise InvalidInputError("filename: at most 200 characters of text", field="filename")
        name = (upload.filename or "").lower()
        kind = (upload.content_type or "").lower()
        limits = _limits(svc)
        if name.endswith((".jsonl", ".ndjson")) or "json" in kind:
            items: list[Any] = parse_jsonl(data, limits)
        else:
            # The template's schema converts CSV cells to its types.
            schema = await template_schema(svc, caller, template.strip())
            items = parse_csv(data, schema, limits)
        return Upload(items, template.strip(), options, filename or None)
    finally:
        await form.close()


async def _batch_body(
    request: Request,
    caller: Annotated[Principal, Depends(authenticated)],
    svc: Annotated[Services, Depends(services)],
) -> BatchIn | Upload:
    """The body, read after the caller is authenticated, within `PDFPROMPT_MAX_BATCH_BYTES`
    before it is parsed: JSON (`BatchIn`), or a multipart upload."""
    kind = request.headers.get("content-type", "").lower()
    if kind.startswith("multipart/form-data"):
        return await _upload(request, svc, caller)
    return validated(BatchIn, parse_json(await read_body(request, svc.settings.max_batch_bytes)))


_batch_body.__pdfprompt_body__ = BatchIn  # type: ignore[attr-defined]


def _batch_id(batch_id: str) -> str:
    if not _BATCH_ID.match(batch_id):
        raise NotFoundError(f"batch {batch_id[:60]} not found")
    return batch_id


# -- routes ---------------------------------------------------------------------


@router.post(
    "/batches",
    status_code=202,
    response_model=BatchOut,
    responses={
        200: {
            "model": BatchOut,
            "description": "The batch an earlier request with the same Idempotency-Key created",
        },
        **problems(413),
    },
)
async def create_batch(
    caller: JobWriter,
    parsed: Annotated[BatchIn | Upload, Depends(_batch_body)],
    svc: Svc,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Response:
    """Queue many jobs at once: every row is checked first (`422` listing the bad rows in
    `errors`, nothing queued), then all are queued in one transaction with the month's
    quota reserved for all of them or none."""
    plan = svc.accounts.plan_of(caller)
    template: tuple[str, int] | None = None
    if isinstance(parsed, BatchIn) and parsed.jobs is not None:
        field = "jobs"
        specs = batch_row_jobs(parsed.jobs)
    else:
        field = "items"
        items = parsed.items or []
        check_row_count(svc, len(items), "items")
        options = parsed.options.stored() if parsed.options is not None else None
        assert parsed.template is not None
        specs, template_id, version = await template_rows(
            svc, caller, parsed.template, items, options
        )
        template = (template_id, version)
    batch, new = await submit_batch(
        svc,
        caller,
        plan,
        specs,
        field=field,
        filename=parsed.filename,
        template=template,
        idempotency_key=idempotency_key,
    )
    body = BatchOut.of(batch).model_dump(mode="json")
    if not new:
        return JSONResponse(body, 200)
    return JSONResponse(body, 202, headers={"Location": f"/v1/batches/{batch.id}"})


@router.get("/batches", response_model=BatchList)
async def list_batches(
    caller: JobReader,
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=BATCH_CURSOR)] = None,
) -> BatchList:
    page = await svc.jobs.list_batches(caller.user_id, limit=limit, cursor=cursor)
    return BatchList(items=[BatchOut.of(b) for b in page.items], next_cursor=page.next_cursor)


@router.get("/batches/{batch_id}", response_model=BatchOut)
async def get_batch(batch_id: str, caller: JobReader, svc: Svc) -> BatchOut:
    return BatchOut.of(await svc.jobs.get_batch(_batch_id(batch_id), caller.user_id))


def _batch_job(job: Job, base: str) -> BatchJobOut:
    out = JobOut.of(job, base).model_dump()
    out["batch"] = BatchRefOut(id=job.extra["batch_id"], row=job.extra["batch_row"])
    return BatchJobOut(**out)


@router.get("/batches/{batch_id}/jobs", response_model=BatchJobList)
async def list_batch_jobs(
    request: Request,
    batch_id: str,
    caller: JobReader,
    svc: Svc,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=ROW_CURSOR)] = None,
) -> BatchJobList:
    """The batch's jobs in row order (each with its row; a failed one with its error);
    `cursor` is the row of the last job of the previous page."""
    jobs, more = await svc.jobs.batch_jobs(
        _batch_id(batch_id),
        caller.user_id,
        status=status,
        limit=limit,
        after_row=integer_cursor(cursor),
    )
    base = str(request.base_url)
    return BatchJobList(
        items=[_batch_job(j, base) for j in jobs],
        next_cursor=None if more is None else str(more),
    )


BATCH_EVENTS = {
    "description": "One `batch` event (the batch object as JSON) per change of its counts or "
    "status; the stream ends once it is completed or canceled; `: keep-alive` comments between",
    "content": {
        "text/event-stream": {
            "schema": {
                "type": "object",
                "required": ["event", "data"],
                "properties": {
                    "event": {"type": "string", "enum": ["batch"]},
                    "id": {"type": "string"},
                    "data": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": {"$ref": "#/components/schemas/BatchOut"},
                    },
                },
            }
        }
    },
}


@router.get(
    "/batches/{batch_id}/events",
    response_class=StreamingResponse,
    responses={200: BATCH_EVENTS},
)
async def batch_events(batch_id: str, caller: JobReader, svc: Svc) -> Response:
    """Server-Sent Events: one `batch` event per change of the batch's counts or status,
    closing once it is completed or canceled."""
    await svc.jobs.get_batch(_batch_id(batch_id), caller.user_id)  # 404 before the stream

    async def stream() -> AsyncIterator[str]:
        seq = 0
        with contextlib.suppress(NotFoundError):  # deleted with its owner meanwhile
            async for batch in batch_changes(
                svc, batch_id, caller.user_id, keepalive_s=SSE_KEEPALIVE_S
            ):
                if batch is None:
                    yield ": keep-alive\n\n"
                    continue
                seq += 1
                data = BatchOut.of(batch).model_dump_json()
                yield f"id: {seq}\nevent: batch\ndata: {data}\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/batches/{batch_id}/cancel", response_model=BatchOut)
async def cancel_batch(batch_id: str, caller: JobWriter, svc: Svc) -> BatchOut:
    """Cancel every job of the batch not yet ended (their quota reservations released);
    cancelling again, or a batch that ended, changes nothing."""
    return BatchOut.of(await svc.jobs.cancel_batch(_batch_id(batch_id), caller.user_id))


ARCHIVE_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A ZIP of every succeeded PDF (or with `merge=true`, one PDF)",
        "content": {
            "application/zip": {"schema": {"type": "string", "format": "binary"}},
            "application/pdf": binary("application/pdf", "")["content"]["application/pdf"],
        },
    },
    **problems(409),
}


def _attachment(name: str) -> str:
    return f'attachment; filename="{name}"'


@router.get(
    "/batches/{batch_id}/archive", response_class=StreamingResponse, responses=ARCHIVE_ANSWERS
)
async def batch_archive_route(
    batch_id: str,
    caller: FileReader,
    svc: Svc,
    merge: bool = False,
) -> Response:
    """Every succeeded PDF of the batch: a ZIP streamed as it is built (entries named by the
    batch's `filename` pattern), or with `merge=true` one PDF of them all in row order with
    an outline entry per row."""
    files = await svc.jobs.batch_files(_batch_id(batch_id), caller.user_id)
    if merge:
        return await _merged(svc, batch_id, files)
    return StreamingResponse(
        batch_archive(svc, files),
        media_type="application/zip",
        headers={
            "Content-Disposition": _attachment(f"{batch_id}.zip"),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


async def _merged(svc: Services, batch_id: str, files: list[Any]) -> Response:
    chunks, size = await merged_pdf(svc, batch_id, files)
    return StreamingResponse(
        chunks,
        media_type="application/pdf",
        headers={
            "Content-Disposition": _attachment(f"{batch_id}.pdf"),
            "Content-Length": str(size),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )
