"""Templates: saving a version (checked first), filling one as a job, and the preview.

A job copies the version it fills (body, engine) with its data into its own input when it
is queued, so a template deleted or changed afterwards never changes a queued job."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pdfprompt.accounts import Principal
from pdfprompt.actions.documents import check_prompt, job_changes, prompt_limit, submit
from pdfprompt.domain import (
    InvalidInputError,
    Job,
    JobType,
    NotFoundError,
    PayloadTooLargeError,
    Template,
    TemplateEngine,
    TemplateInput,
    TemplateRenderError,
    TemplateTimeoutError,
    UnavailableError,
    check_template_name,
    parse_template_ref,
)
from pdfprompt.queue import NewJob, TemplateContent
from pdfprompt.wiring import Services, check_body, check_data, check_schema

PREVIEWS_PER_MINUTE = 10  # per user
PREVIEW_TIMEOUT_S = 30.0  # the longest a preview request waits for its PDF
PREVIEW_MAX_PAGES = 5
PREVIEW_PRIORITY_BOOST = 100  # a preview is claimed before the user's queued jobs


def template_content(
    svc: Services,
    *,
    name: str,
    engine: str,
    body: str,
    schema: dict[str, Any] | None,
    sample_data: Any,
    options: dict[str, Any],
) -> TemplateContent:
    """What a version will hold, checked: the body within its size and compiling in the
    sandbox, the schema a usable draft 2020-12 schema with local references only, and the
    sample data valid against it. Each refusal names its field."""
    limit = svc.settings.template_max_body_bytes
    size = len(body.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise PayloadTooLargeError(
            f"body: {size} bytes is over the limit of {limit} bytes", field="body"
        )
    check_template_name(name)
    kind = TemplateEngine(engine)
    check_body(body, kind)
    if schema is not None:
        check_schema(schema)
    if sample_data is not None:
        check_data(schema, sample_data, "sample_data")
    return TemplateContent(name, kind, body, schema, sample_data, options)


async def create_template(
    svc: Services, user_id: str, content: TemplateContent, idempotency_key: str | None = None
) -> tuple[Template, bool]:
    """The new template, and True; or, for an `Idempotency-Key` that created one before,
    that template and False (nothing is checked against the new body then)."""
    if idempotency_key is not None and not idempotency_key.strip():
        raise InvalidInputError("Idempotency-Key: must not be blank", field="Idempotency-Key")
    return await svc.templates.create(user_id, content, idempotency_key)


async def update_template(
    svc: Services, user_id: str, template_id: str, content: TemplateContent
) -> Template:
    return await svc.templates.add_version(user_id, template_id, content)


async def resolve_template(svc: Services, user_id: str, ref: str) -> Template:
    """The version a job names (`tpl_…`, `tpl_…@N`, `NAME`, `NAME@N`); an unknown one is
    `InvalidInputError` on `template` (it is a field of the request)."""
    parsed = parse_template_ref(ref)
    try:
        return await svc.templates.find(user_id, parsed)
    except NotFoundError as exc:
        raise InvalidInputError(f"template: {exc.message}", field="template") from None


def merged_options(defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The template's default options overlaid by the request's (a page size given either
    way replaces the other way's)."""
    merged = dict(defaults)
    if "width" in given or "format" in given:
        for key in ("width", "height", "format"):
            merged.pop(key, None)
    merged.update(given)
    return merged


@dataclass(frozen=True, slots=True)
class TemplateJob:
    """A template job checked and ready to queue: the fields of `NewJob` it sets."""

    input: str
    options: dict[str, Any]
    type: JobType = JobType.TEMPLATE

    def fields(self) -> dict[str, Any]:
        return {"type": self.type, "input": self.input, "options": self.options}


def template_job(
    template: Template,
    data: Any,
    options: dict[str, Any],
    *,
    field: str = "data",
    preview: bool = False,
) -> TemplateJob:
    """The job that fills `template` with `data` (no I/O: a batch calls it for each row of
    one resolved template). `data` is checked against the version's schema first:
    `DataInvalidError` listing every bad field as a JSON pointer under `field`
    (`data/items/0/price`; a batch passes `items/12`)."""
    check_data(template.schema, data, field)
    filled = TemplateInput(
        template.id, template.version, template.engine, template.body, data, preview=preview
    )
    return TemplateJob(filled.to_text(), merged_options(template.options, options))


async def submit_template_job(
    svc: Services,
    caller: Principal,
    ref: str,
    data: Any,
    options: dict[str, Any],
    idempotency_key: str | None = None,
) -> tuple[Job, bool]:
    """`POST /v1/jobs` with `"type": "template"`: resolve, check the data, then queue like
    any job (the quota is reserved the same way)."""
    template = await resolve_template(svc, caller.user_id, ref)
    job = template_job(template, data, options)
    return await submit(
        svc,
        caller,
        svc.accounts.plan_of(caller),
        idempotency_key=idempotency_key,
        **job.fields(),
    )


async def preview_template(
    svc: Services,
    caller: Principal,
    template_id: str,
    *,
    data: Any = None,
    version: int | None = None,
    options: dict[str, Any] | None = None,
) -> bytes:
    """The PDF of the template filled with `data` (or its sample data), stamped PREVIEW and
    at most `PREVIEW_MAX_PAGES` pages. It runs as a job of its own, claimed before the
    user's others, with no quota reserved or counted; this waits for it (on any worker, in
    this process or another) up to `PREVIEW_TIMEOUT_S`, reads its PDF and deletes the job.
    `RateLimitedError` past `PREVIEWS_PER_MINUTE`."""
    await svc.rate_limiter.hit(
        f"template-preview:{caller.user_id}",
        PREVIEWS_PER_MINUTE,
        f"template previews: {PREVIEWS_PER_MINUTE}",
    )
    template = await svc.templates.get(caller.user_id, template_id, version)
    return await _preview(svc, caller, template, data, options)


async def preview_draft(
    svc: Services,
    caller: Principal,
    content: TemplateContent,
    *,
    data: Any = None,
    template_id: str = "draft",
) -> bytes:
    """The preview of a version not saved yet (`content`, checked by `template_content`): the
    template page shows what an edit prints before it is kept. The same job, limits and rate
    as `preview_template` (one count per user for both)."""
    await svc.rate_limiter.hit(
        f"template-preview:{caller.user_id}",
        PREVIEWS_PER_MINUTE,
        f"template previews: {PREVIEWS_PER_MINUTE}",
    )
    now = datetime.now(UTC)
    draft = Template(
        id=template_id,
        user_id=caller.user_id,
        name=content.name,
        engine=content.engine,
        version=0,
        latest_version=0,
        body=content.body,
        schema=content.schema,
        sample_data=content.sample_data,
        options=content.options,
        created_at=now,
        updated_at=now,
        version_created_at=now,
    )
    return await _preview(svc, caller, draft, data, None)


async def _preview(
    svc: Services,
    caller: Principal,
    template: Template,
    data: Any,
    options: dict[str, Any] | None,
) -> bytes:
    if data is None:
        data = template.sample_data if template.sample_data is not None else {}
    shown = {"page_ranges": f"1-{PREVIEW_MAX_PAGES}", **(options or {})}
    prepared = template_job(template, data, shown, preview=True)
    plan = svc.accounts.plan_of(caller)
    job = await svc.jobs.enqueue(
        NewJob(
            user_id=caller.user_id,
            max_attempts=1,
            priority=plan.priority + PREVIEW_PRIORITY_BOOST,
            plan=plan.name,
            **prepared.fields(),
        )
    )
    if svc.wakeup is not None:
        svc.wakeup.notify()
    try:
        done = await _finished(svc, job)
        if done.error is not None:
            if done.error.code == TemplateTimeoutError.code:
                raise TemplateTimeoutError(done.error.message)
            if done.error.code == TemplateRenderError.code:
                raise TemplateRenderError(done.error.message)
            raise InvalidInputError(
                f"the preview failed: {done.error.code}: {done.error.message}", field="data"
            )
        if done.file is None:
            raise UnavailableError("the preview was canceled; try again")
        return await svc.storage.read(done.file.storage_key)
    finally:
        with contextlib.suppress(Exception):
            if not (await svc.jobs.get(job.id, caller.user_id)).status.is_final:
                await svc.jobs.cancel_job(job.id, caller.user_id)
            for key in await svc.jobs.delete_job(job.id, caller.user_id):
                await svc.storage.delete(key)


async def _finished(svc: Services, job: Job) -> Job:
    async def last() -> Job:
        final = job
        async for seen in job_changes(svc, job.id, job.user_id, keepalive_s=3600):
            if seen is not None:
                final = seen
        return final

    try:
        return await asyncio.wait_for(last(), PREVIEW_TIMEOUT_S)
    except TimeoutError:
        raise UnavailableError(
            f"the preview was not ready within {PREVIEW_TIMEOUT_S:.0f} s (are workers "
            "running?); try again",
        ) from None


async def generate_template(
    svc: Services,
    caller: Principal,
    prompt: str,
    engine: str = "html",
    idempotency_key: str | None = None,
) -> tuple[Job, bool]:
    """`POST /v1/templates/generate`: a `template_generate` job (quota as any job) in which
    the model writes a template from `prompt`; when it succeeds the template is saved, the
    job names it (`"template": {"id", "version"}`) and its PDF is the sample data filled."""
    plan = svc.accounts.plan_of(caller)
    check_prompt(prompt, prompt_limit(svc, plan), "prompt")
    return await submit(
        svc,
        caller,
        plan,
        type=JobType.TEMPLATE_GENERATE,
        input=json.dumps({"prompt": prompt, "engine": TemplateEngine(engine).value}),
        options={},
        idempotency_key=idempotency_key,
    )
