"""Batches: many jobs submitted at once, followed, cancelled and downloaded together.

A row becomes a job in one place: `batch_row_jobs` for rows that are job bodies (the API
checks each body as `POST /v1/jobs` does and hands the specs here), `template_rows` for a
template's data (each item checked against the template version's schema by `template_job`,
as a template job's data is).
`submit_batch` then checks every row as `submit` checks one job (input size, the plan's
prompt limit), lists every bad row, and queues all of them in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
import zipfile
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from pdfprompt.accounts import Principal
from pdfprompt.actions.certificates import check_signing
from pdfprompt.actions.documents import check_input_size, check_page_url, prompt_limit
from pdfprompt.actions.templates import resolve_template, template_job
from pdfprompt.domain import (
    DEFAULT_FILENAME,
    Batch,
    BatchJobSpec,
    BatchRowsError,
    ConflictError,
    DataInvalidError,
    InvalidInputError,
    JobType,
    PayloadTooLargeError,
    PdfPromptError,
    Plan,
    RowError,
    archive_names,
    check_filename_pattern,
)
from pdfprompt.pdf import merge_pdfs
from pdfprompt.queue import BatchFile, NewBatch, NewJob
from pdfprompt.wiring import Services

log = logging.getLogger(__name__)

ARCHIVE_CHUNK_BYTES = 256 * 1024


async def template_rows(
    svc: Services,
    caller: Principal,
    ref: str,
    items: Sequence[Any],
    options: Mapping[str, Any] | None,
) -> tuple[list[BatchJobSpec], str, int]:
    """Template batches: the version `ref` names, resolved once, and each item's data
    checked against its schema as `POST /v1/jobs` checks one (`template_job`), as a job spec
    whose `fields` are the item's data (for archive names); with the template's id and
    version. Every bad item is listed by row (`BatchRowsError`, fields `items/<row>/…`)."""
    template = await resolve_template(svc, caller.user_id, ref)
    given = dict(options or {})
    specs: list[BatchJobSpec] = []
    errors: list[RowError] = []
    for row, data in enumerate(items):
        try:
            job = template_job(template, data, given, field=f"items/{row}")
        except DataInvalidError as exc:
            for error in exc.errors:
                errors.append(RowError(row, str(error["field"]), str(error["message"])))
            if not exc.errors:
                errors.append(RowError(row, exc.field or f"items/{row}", exc.message))
            continue
        fields = dict(data) if isinstance(data, Mapping) else {}
        specs.append(BatchJobSpec(job.type, job.input, job.options, fields))
    if errors:
        raise BatchRowsError(errors)
    return specs, template.id, template.version


async def template_schema(svc: Services, caller: Principal, ref: str) -> Mapping[str, Any] | None:
    """The JSON schema of the template version `ref` names: an uploaded CSV's cells are
    converted to its property types before `template_rows` checks the rows (None: the
    template has no schema, and the cells stay text)."""
    template = await resolve_template(svc, caller.user_id, ref)
    return template.schema


def check_row_count(svc: Services, count: int, field: str) -> None:
    """At least one row, at most `PDFPROMPT_MAX_BATCH_ITEMS`."""
    most = svc.settings.max_batch_items
    if count == 0:
        raise InvalidInputError(f"{field}: a batch needs at least one row", field=field)
    if count > most:
        raise InvalidInputError(f"{field}: {count} rows; a batch holds at most {most}", field=field)


def _row_problems(
    svc: Services, plan: Plan, specs: Sequence[BatchJobSpec], field: str
) -> list[RowError]:
    """What `submit` would refuse of each row: its input's size, a prompt's length, a web
    page's address."""
    errors: list[RowError] = []
    longest_prompt = prompt_limit(svc, plan)
    for row, spec in enumerate(specs):
        where = f"{field}/{row}/input"
        try:
            check_input_size(svc, spec.input)
        except PayloadTooLargeError as exc:
            errors.append(RowError(row, where, exc.message.removeprefix("input: ")))
            continue
        if spec.type is JobType.PROMPT and len(spec.input) > longest_prompt:
            errors.append(
                RowError(row, where, f"{len(spec.input)} characters; the limit is {longest_prompt}")
            )
        if spec.type is JobType.URL:
            try:
                check_page_url(svc, plan, spec.input)
            except InvalidInputError as exc:
                place = f"{field}/{row}/{exc.field or 'input'}"
                errors.append(RowError(row, place, exc.message.split(": ", 1)[-1]))
    return errors


async def submit_batch(
    svc: Services,
    caller: Principal,
    plan: Plan,
    specs: Sequence[BatchJobSpec],
    *,
    field: str,
    filename: str | None = None,
    template: tuple[str, int] | None = None,
    idempotency_key: str | None = None,
) -> tuple[Batch, bool]:
    """Check every row (`BatchRowsError` listing them, nothing queued), then queue all of
    them in one transaction with one PDF each reserved in this period's quota, all or none
    (`QuotaExceededError`). `field`: where the rows are in the request (`jobs` or `items`).
    Returns the batch and whether it is new (False: an earlier batch with the same
    idempotency key)."""
    check_row_count(svc, len(specs), field)
    pattern = check_filename_pattern(filename) if filename is not None else DEFAULT_FILENAME
    if idempotency_key is not None and not idempotency_key.strip():
        raise InvalidInputError("Idempotency-Key: must not be blank", field="Idempotency-Key")
    errors = _row_problems(svc, plan, specs, field)
    if errors:
        raise BatchRowsError(errors)
    checked: set[tuple[Any, bool]] = set()
    for spec in specs:  # each signing asked for, once
        sign = spec.options.get("sign")
        if sign is None:
            continue
        asked = (sign.get("certificate"), bool(sign.get("timestamp")))
        if asked not in checked:
            checked.add(asked)
            await check_signing(svc, caller.user_id, spec.options)
    names = archive_names(pattern, [(n, s.fields) for n, s in enumerate(specs)])
    period = svc.accounts.period()
    jobs = [
        NewJob(
            user_id=caller.user_id,
            type=spec.type,
            input=spec.input,
            options=spec.options,
            max_attempts=svc.settings.max_attempts,
            priority=plan.priority,
            plan=plan.name,
            quota_period=period,
            quota_limit=plan.pdfs_per_month,
        )
        for spec in specs
    ]
    batch, new = await svc.jobs.enqueue_batch(
        NewBatch(
            user_id=caller.user_id,
            jobs=jobs,
            names=names,
            filename=pattern,
            plan=plan.name,
            quota_period=period,
            quota_limit=plan.pdfs_per_month,
            idempotency_key=idempotency_key,
            template_id=template[0] if template else None,
            template_version=template[1] if template else None,
        )
    )
    if new and svc.wakeup is not None:
        svc.wakeup.notify()
    return batch, new


async def batch_changes(
    svc: Services, batch_id: str, user_id: str, *, keepalive_s: float
) -> AsyncIterator[Batch | None]:
    """The batch now, then again each time its counts or status change, ending once it is
    completed or canceled; None after each `keepalive_s` of quiet. The counts are read (one
    indexed GROUP BY) every `PDFPROMPT_POLL_MS`, at most."""
    poll_s = max(0.05, svc.settings.poll_ms / 1000)
    last: tuple[object, ...] | None = None
    quiet_s = 0.0
    while True:
        batch = await svc.jobs.get_batch(batch_id, user_id)
        state = (batch.status, batch.counts)
        if state != last:
            last, quiet_s = state, 0.0
            yield batch
        if batch.status.value in ("completed", "canceled"):
            return
        await asyncio.sleep(poll_s)
        quiet_s += poll_s
        if quiet_s >= keepalive_s:
            quiet_s = 0.0
            yield None


class _Sink:
    """A write-only stream `zipfile` writes an archive into (unseekable: entries get data
    descriptors), drained after each write."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def write(self, data: bytes, /) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


async def batch_archive(svc: Services, files: Sequence[BatchFile]) -> AsyncIterator[bytes]:
    """A ZIP of the PDFs (stored, not compressed again; ZIP64 where an entry or the archive
    needs it), built while it is sent: each PDF is read from storage in chunks and passed
    on, so the first bytes leave before the last PDF is read. A PDF no longer stored is
    left out (logged)."""
    sink = _Sink()
    moment = time.gmtime()[:6]
    archive = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
    for item in files:
        info = zipfile.ZipInfo(item.name, date_time=moment)
        info.compress_type = zipfile.ZIP_STORED
        info.file_size = item.file.size_bytes
        chunks = aiter(svc.storage.stream(item.file.storage_key))
        try:  # its first chunk before its entry begins: a PDF gone leaves no empty entry
            first = await anext(chunks, b"")
        except PdfPromptError as exc:
            log.warning("batch archive: row %d left out (%s)", item.row, exc.message)
            continue
        with archive.open(info, "w") as entry:
            entry.write(first)
            yield sink.take()
            async for chunk in chunks:
                entry.write(chunk)
                yield sink.take()
        yield sink.take()
    archive.close()
    yield sink.take()


async def merged_pdf(
    svc: Services, batch_id: str, files: Sequence[BatchFile]
) -> tuple[AsyncIterator[bytes], int]:
    """One PDF of the batch's PDFs in row order (an outline entry per row), built in a
    temporary folder: its chunks (the folder goes when they are read) and its size.
    `ConflictError` before any PDF exists."""
    if not files:
        raise ConflictError(f"batch {batch_id} has no PDF yet")
    directory = tempfile.TemporaryDirectory(prefix="pdfprompt-merge-")
    try:
        parts = []
        for n, item in enumerate(files):
            path = os.path.join(directory.name, f"{n}.pdf")
            with open(path, "wb") as out:
                async for chunk in svc.storage.stream(item.file.storage_key):
                    out.write(chunk)
            parts.append((path, item.name.removesuffix(".pdf")))
        merged = os.path.join(directory.name, "merged.pdf")
        await asyncio.to_thread(merge_pdfs, parts, merged)
        for path, _ in parts:
            os.unlink(path)
    except BaseException:
        directory.cleanup()
        raise

    async def send() -> AsyncIterator[bytes]:
        try:
            with open(merged, "rb") as handle:
                while chunk := await asyncio.to_thread(handle.read, 256 * 1024):
                    yield chunk
        finally:
            directory.cleanup()

    return send(), os.path.getsize(merged)
