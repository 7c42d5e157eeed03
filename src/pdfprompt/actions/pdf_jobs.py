"""Submitting the PDF job types (`merge`, `split`, `pdf`): each PDF the job names is resolved
to one of the caller's own (an uploaded PDF asset, by id or name; a job that succeeded with
a PDF, or its file) before anything is queued, so that a name nobody has, another user's
PDF, a job still running or a split's archive is a `422` naming the field; the job keeps
what they resolved to (`PdfJobInput`), and is then queued like any other."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pdfprompt.accounts import Principal
from pdfprompt.actions.documents import submit
from pdfprompt.domain import (
    ASSET_TYPES,
    FINISH_KEYS,
    PDF_CONTENT_TYPE,
    InvalidInputError,
    Job,
    JobStatus,
    JobType,
    NotFoundError,
    PdfJobInput,
    PdfSource,
    is_asset_id,
    split_spans,
)
from pdfprompt.wiring import Services

# A job's or a file's id: a UUID.
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# The options a PDF job takes: nothing is rendered, so no page or print option.
PDF_JOB_OPTIONS = FINISH_KEYS | {"title", "author", "subject", "keywords", "filename"}

# What an input may be: a reference (`"ast_…"`, an asset name, a job or file id), or an
# object naming one of `asset`, `job`, `file`, with an optional outline `title`.
PdfRef = str | dict[str, Any]


async def submit_pdf_job(
    svc: Services,
    caller: Principal,
    job_type: JobType,
    *,
    inputs: Sequence[PdfRef] | None = None,
    input: str | None = None,
    ranges: str | None = None,
    options: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> tuple[Job, bool]:
    """Queue a `merge` (`inputs`: 2 to `PDFPROMPT_PDF_MAX_INPUTS` PDFs), `split` (`input`
    and `ranges`) or `pdf` (`input`) job; `InvalidInputError` naming the field for an input
    the caller has no PDF by, or too many or too few of them."""
    plan = svc.accounts.plan_of(caller)
    for key in options or {}:
        if key not in PDF_JOB_OPTIONS:
            raise InvalidInputError(
                f"options.{key}: a {job_type.value} job prints nothing; it takes the document "
                "information (title, author, subject, keywords), filename and the finishing "
                "options",
                field=f"options.{key}",
            )
    if job_type is JobType.MERGE:
        wanted = list(inputs or [])
        limit = svc.settings.pdf_max_inputs
        if not 2 <= len(wanted) <= limit:
            raise InvalidInputError(
                f"inputs: {len(wanted)} PDFs; a merge takes 2 to {limit}", field="inputs"
            )
        sources = [
            await resolve_pdf(svc, caller.user_id, ref, f"inputs.{n}")
            for n, ref in enumerate(wanted)
        ]
    else:
        if input is None:
            raise InvalidInputError("input: required", field="input")
        sources = [await resolve_pdf(svc, caller.user_id, input, "input")]
    if job_type is JobType.SPLIT:
        if ranges is None:
            raise InvalidInputError("ranges: required for a split", field="ranges")
        split_spans(ranges)
    kept = PdfJobInput(tuple(sources), ranges.replace(" ", "") if ranges else None)
    return await submit(
        svc,
        caller,
        plan,
        type=job_type,
        input=kept.to_text(),
        options=options or {},
        idempotency_key=idempotency_key,
    )


async def resolve_pdf(svc: Services, user_id: str, ref: PdfRef, field: str) -> PdfSource:
    """The caller's PDF that `ref` names; `InvalidInputError` naming `field` when it names
    none (the same for another user's: their existence is not told)."""
    title: str | None = None
    if isinstance(ref, dict):
        title = ref.get("title")
        kinds = [k for k in ("asset", "job", "file") if ref.get(k) is not None]
        if len(kinds) != 1:
            raise InvalidInputError(f"{field}: name one of asset, job or file", field=field)
        kind, text = kinds[0], str(ref[kinds[0]])
    else:
        text = ref
        kind = "asset" if is_asset_id(text) or not _UUID.match(text) else "any"
    source = None
    if kind in ("job", "any"):
        source = await _job_pdf(svc, user_id, text, field)
    if source is None and kind in ("file", "any"):
        source = await _file_pdf(svc, user_id, text, field)
    if source is None and kind in ("asset", "any"):
        source = await _asset_pdf(svc, user_id, text, field)
    if source is None:
        shown = text if len(text) <= 60 else text[:59] + "…"
        raise InvalidInputError(
            f"{field}: you have no PDF {shown!r} (give an uploaded PDF's asset id or name, "
            "or the id of one of your jobs that made a PDF, or of its file)",
            field=field,
        )
    if title is not None:
        return PdfSource(source.kind, source.id, source.name, source.job_id, title)
    return source


async def _asset_pdf(svc: Services, user_id: str, text: str, field: str) -> PdfSource | None:
    found = await svc.assets.find(user_id, [text])
    asset = next((a for a in found if a.id == text), None) or next(
        (a for a in found if a.name == text), None
    )
    if asset is None:
        return None
    if asset.content_type != PDF_CONTENT_TYPE:
        words = ASSET_TYPES.get(asset.content_type, ("", asset.content_type))[1]
        raise InvalidInputError(
            f"{field}: asset {asset.name!r} is a {words} {asset.kind}, not a PDF", field=field
        )
    return PdfSource("asset", asset.id, asset.name)


async def _job_pdf(svc: Services, user_id: str, text: str, field: str) -> PdfSource | None:
    try:
        job = await svc.jobs.get(text, user_id)
    except NotFoundError:
        return None
    if job.status is not JobStatus.SUCCEEDED or job.file is None:
        raise InvalidInputError(
            f"{field}: job {job.id} is {job.status.value}; only a job that made a PDF can be used",
            field=field,
        )
    if job.file.content_type != PDF_CONTENT_TYPE:
        raise InvalidInputError(
            f"{field}: job {job.id} made a {job.file.content_type} file, not a PDF",
            field=field,
        )
    return PdfSource("file", job.file.id, job.file.filename, job_id=job.id)


async def _file_pdf(svc: Services, user_id: str, text: str, field: str) -> PdfSource | None:
    try:
        file = await svc.jobs.get_file(text, user_id)
    except NotFoundError:
        return None
    if file.content_type != PDF_CONTENT_TYPE:
        raise InvalidInputError(
            f"{field}: file {file.id} is a {file.content_type} file, not a PDF", field=field
        )
    return PdfSource("file", file.id, file.filename)
