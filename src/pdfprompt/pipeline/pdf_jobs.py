"""The PDF job types, end to end: `merge`, `split` and `pdf` read the PDFs the job names
(the owner's assets and files, resolved at submission) from storage, work on them in a child
process within the PDF limits (`pdf.PdfWorkshop`), apply the finishing options (and the
plan's watermark), check the plan's limits and store the result with its thumbnail. A split
is stored as a ZIP archive of its parts; its `pages` are the pages of all its parts, its
thumbnail the first page of its first part."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import zipfile
from dataclasses import dataclass

from pdfprompt.accounts import AssetStore
from pdfprompt.domain import (
    PDF_CONTENT_TYPE,
    ZIP_CONTENT_TYPE,
    FinishOptions,
    JobStage,
    JobType,
    JobWarning,
    NotFoundError,
    PdfInputMissingError,
    PdfJobInput,
    PdfSource,
    PdfTimeoutError,
    PdfTooComplexError,
    Plan,
    RenderOptions,
    as_repeated,
    safe_filename,
)
from pdfprompt.pdf import PdfMade, PdfPart, PdfWorkshop
from pdfprompt.pipeline.finishing import FinishTools, finish_pdf
from pdfprompt.pipeline.keys import attempt_keys
from pdfprompt.pipeline.limits import check_plan
from pdfprompt.pipeline.storing import store_reporting
from pdfprompt.queue import JobContext, StoredFile
from pdfprompt.render import RenderedPdf
from pdfprompt.storage import Storage

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PdfJobTools:
    """What a PDF job uses: storage, the owner's assets, the workshop its PDFs are worked
    on in, and the finishing steps' tools."""

    storage: Storage
    assets: AssetStore | None
    workshop: PdfWorkshop
    finish: FinishTools


async def run_pdf_job(ctx: JobContext, tools: PdfJobTools, plan: Plan | None) -> StoredFile:
    """A `merge`, `split` or `pdf` job's file, stored."""
    job = ctx.job
    parsed = PdfJobInput.from_text(job.input)
    options = RenderOptions.from_dict(job.options)
    finishing = FinishOptions.from_dict(job.options)
    watermark = plan is not None and plan.watermark
    await ctx.report(JobStage.RENDERING, 0.1)
    parts = await _read_sources(ctx, tools, parsed.sources)
    await ctx.report(JobStage.RENDERING, 0.3)
    meta = {
        key: value
        for key, value in (
            ("title", options.title),
            ("author", options.author),
            ("subject", options.subject),
            ("keywords", options.keywords),
        )
        if value
    }
    # The plan's watermark is drawn by the finishing steps, after the user's marks, when
    # there are marks; else with the operation, as a render draws it.
    stamped = watermark and not finishing.marks
    try:
        if job.type is JobType.MERGE:
            made = await tools.workshop.merge(parts, meta, watermark=stamped)
        elif job.type is JobType.SPLIT:
            assert parsed.ranges is not None
            made = await tools.workshop.split(parts[0], parsed.ranges, meta, watermark=stamped)
        else:
            made = await tools.workshop.rewrite(parts[0], meta, watermark=stamped)
    except PdfTimeoutError as exc:
        raise as_repeated(exc, job.error) from exc
    warnings: tuple[JobWarning, ...] = ()
    if finishing.any or (watermark and finishing.marks):
        made, warnings = await _finished(
            made,
            job.type,
            finishing,
            tools,
            user_id=job.user_id,
            plan_watermark=watermark and finishing.marks,
            title=options.title,
        )
    if plan is not None:
        await check_plan(ctx, plan, RenderedPdf(made.data, made.pages))
    split = job.type is JobType.SPLIT
    keys = attempt_keys(job)
    key = keys.pdf.removesuffix(".pdf") + ".zip" if split else keys.pdf
    await store_reporting(ctx, tools.storage, key, made.data)
    thumbnail = None
    if made.thumbnail is not None:
        try:
            await tools.storage.put(keys.thumbnail, made.thumbnail)
            thumbnail = keys.thumbnail
        except Exception as exc:  # the file is whole without one: the history shows a placeholder
            log.warning("job %s: no thumbnail (%s: %s)", job.id, type(exc).__name__, exc)
    filename = safe_filename(options.filename or options.title, f"{job.id}.pdf")
    if split:
        filename = filename.removesuffix(".pdf").removesuffix(".PDF") + ".zip"
    return StoredFile(
        storage_key=key,
        size_bytes=len(made.data),
        pages=made.pages,
        sha256=hashlib.sha256(made.data).hexdigest(),
        filename=filename,
        content_type=ZIP_CONTENT_TYPE if split else PDF_CONTENT_TYPE,
        warnings=warnings,
        thumbnail_key=thumbnail,
    )


async def _read_sources(
    ctx: JobContext, tools: PdfJobTools, sources: tuple[PdfSource, ...]
) -> list[PdfPart]:
    """The bytes of each source, named as errors show them (`inputs.N (NAME)`, or `input
    (NAME)`); `PdfInputMissingError` for one deleted since the job was submitted, and
    `PdfTooComplexError` when they are more than the PDF process may hold."""
    job = ctx.job
    several = job.type is JobType.MERGE
    keys: list[tuple[str, int]] = []
    for n, source in enumerate(sources):
        shown = f"inputs.{n} ({source.name})" if several else f"input ({source.name})"
        try:
            if source.kind == "asset":
                if tools.assets is None:
                    raise NotFoundError("no assets")
                asset = await tools.assets.get(job.user_id, source.id)
                if asset.content_type != PDF_CONTENT_TYPE:
                    raise NotFoundError("not a PDF any more")
                keys.append((asset.storage_key, asset.size_bytes))
            else:
                file = await ctx.store.get_file(source.id, job.user_id)
                keys.append((file.storage_key, file.size_bytes))
        except NotFoundError:
            raise PdfInputMissingError(
                f"{shown}: deleted (or replaced by something else) since the job was submitted"
            ) from None
    total = sum(size for _, size in keys)
    if total > tools.workshop.limits.memory_bytes // 2:
        raise PdfTooComplexError(
            f"the PDFs are {total} bytes in all; at most "
            f"{tools.workshop.limits.memory_bytes // 2} are worked on in one job"
        )
    parts = []
    for n, (source, (key, _)) in enumerate(zip(sources, keys, strict=True)):
        shown = f"inputs.{n} ({source.name})" if several else f"input ({source.name})"
        try:
            data = await tools.storage.read(key)
        except NotFoundError:
            raise PdfInputMissingError(f"{shown}: no longer stored") from None
        parts.append(PdfPart(data, shown, source.title, source.name))
    return parts


async def _finished(
    made: PdfMade,
    job_type: JobType,
    finishing: FinishOptions,
    tools: PdfJobTools,
    *,
    user_id: str,
    plan_watermark: bool,
    title: str | None,
) -> tuple[PdfMade, tuple[JobWarning, ...]]:
    """What the operation made with the finishing steps applied: to the PDF, or to each
    part of a split's archive; its thumbnail drawn again (in a child process: the pages
    are still the user's)."""
    if job_type is not JobType.SPLIT:
        done = await finish_pdf(
            made.data,
            finishing,
            tools.finish,
            user_id=user_id,
            plan_watermark=plan_watermark,
            title=title,
        )
        thumbnail = await tools.workshop.thumbnail(done.data)
        return PdfMade(done.data, made.pages, thumbnail, made.entries), done.warnings
    warnings: dict[str, JobWarning] = {}
    finished: list[tuple[str, bytes]] = []
    with zipfile.ZipFile(io.BytesIO(made.data)) as archive:
        names = archive.namelist()
        for name in names:
            done = await finish_pdf(
                await asyncio.to_thread(archive.read, name),
                finishing,
                tools.finish,
                user_id=user_id,
                plan_watermark=plan_watermark,
                title=title,
            )
            finished.append((name, done.data))
            warnings.update({w.message: w for w in done.warnings})
    data = await asyncio.to_thread(_zipped, finished)
    thumbnail = await tools.workshop.thumbnail(finished[0][1]) if finished else None
    return PdfMade(data, made.pages, thumbnail, made.entries), tuple(warnings.values())


def _zipped(entries: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name, data in entries:
            archive.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data)
    return out.getvalue()
