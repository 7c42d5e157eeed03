"""Documents: the rules of submitting, revising, deleting and following a job."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from pdfprompt.accounts import Principal
from pdfprompt.actions.certificates import check_signing
from pdfprompt.actions.finishing import check_finish_assets
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
from pdfprompt.webhooks import parse_target
from pdfprompt.wiring import Services

log = logging.getLogger(__name__)


def prompt_limit(svc: Services, plan: Plan) -> int:
    """Longest prompt or revision instructions: the plan's, within the server's."""
    return tightest(plan.max_prompt_chars, svc.settings.max_prompt_chars) or 0


def check_input_size(svc: Services, text: str) -> None:
    """A job's input within the server's `max_input_bytes` (UTF-8)."""
    size = len(text.encode("utf-8"))
    if size > svc.settings.max_input_bytes:
        raise PayloadTooLargeError(
            f"input: {size} bytes is over the limit of {svc.settings.max_input_bytes} bytes",
            field="input",
        )


def check_prompt(text: str, limit: int, field: str) -> None:
    if len(text) > limit:
        raise InvalidInputError(
            f"{field}: {len(text)} characters; the limit is {limit}", field=field
        )


def check_page_url(svc: Services, plan: Plan, url: str) -> str:
    """A URL job's address, if this server and the plan allow it: URL jobs on (hosts
    allowed, and a renderer that runs Chromium), an http(s) URL without a user name or
    password, whose host the allow-list names, and not a special-purpose address the
    operator does not allow. `InvalidInputError` on `type` or `input`. A host name is
    resolved, and what it resolves to judged, by the worker at every request."""
    policy = svc.settings.url_policy.for_plan(plan.url_allow)
    if not policy.enabled:
        why = "this server" if plan.url_allow is None else f"plan {plan.name}"
        raise InvalidInputError(
            f"type: url jobs are off for {why} (an operator turns them on with "
            "PDFPROMPT_URL_ALLOW, the hosts pages may be loaded from)",
            field="type",
        )
    if svc.settings.render_engine == "weasyprint":
        raise InvalidInputError(
            "type: url jobs need Chromium, and this server renders with WeasyPrint",
            field="type",
        )
    try:
        target = parse_target(url.strip())
    except InvalidInputError as exc:
        raise InvalidInputError(
            "input: " + exc.message.removeprefix("url: "), field="input"
        ) from None
    if target.url.userinfo:
        raise InvalidInputError(
            "input: a URL with a user name or password is refused", field="input"
        )
    host = str(target.address) if target.address is not None else target.host
    if not policy.host_allowed(host):
        raise InvalidInputError(
            f"input: {host} is not on the hosts url jobs may load from", field="input"
        )
    refused = policy.address_refused(target.address) if target.address is not None else None
    if refused is not None:
        raise InvalidInputError(f"input: {host} is {refused}", field="input")
    return url.strip()


async def submit(svc: Services, caller: Principal, plan: Plan, **job: Any) -> tuple[Job, bool]:
    """Queue a job under the caller's plan: its priority, and one PDF reserved in this
    period's quota (`QuotaExceededError` when none is left). Returns the job and whether it
    was new (False: an earlier job with the same idempotency key).

    A new document's input is checked first: within the server's size
    (`PayloadTooLargeError`) and, a description, within the plan's prompt limit
    (`InvalidInputError`), both on `input`; a revision's instructions are `revise`'s to
    check. Then a blank idempotency key is refused."""
    if job.get("parent_id") is None:
        check_input_size(svc, job["input"])
        if job["type"] is JobType.PROMPT:
            check_prompt(job["input"], prompt_limit(svc, plan), "input")
        if job["type"] is JobType.URL:
            job["input"] = check_page_url(svc, plan, job["input"])
    await check_signing(svc, caller.user_id, job.get("options") or {})
    key = job.get("idempotency_key")
    if key is not None and not key.strip():
        raise InvalidInputError("Idempotency-Key: must not be blank", field="Idempotency-Key")
    await check_finish_assets(svc, caller.user_id, job.get("options") or {})
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


async def revise(
    svc: Services, caller: Principal, job_id: str, instructions: str
) -> tuple[Job, bool]:
    """A new prompt job that edits this job's document with the instructions (the model
    gets the previous HTML, not a fresh prompt); linked by `parent_id`, same options. Only
    a finished PDF is revised (`ConflictError` otherwise)."""
    plan = svc.accounts.plan_of(caller)
    check_prompt(instructions, prompt_limit(svc, plan), "instructions")
    parent = await svc.jobs.get(job_id, caller.user_id)
    if parent.status is not JobStatus.SUCCEEDED:
        raise ConflictError(
            f"job {job_id} is {parent.status.value}; only a finished PDF is revised"
        )
    if parent.type is JobType.URL:
        raise ConflictError(f"job {job_id} printed a web page; only a document is revised")
    return await submit(
        svc,
        caller,
        plan,
        type=JobType.PROMPT,
        input=instructions,
        options=parent.options,
        parent_id=parent.id,
    )


async def cancel_document(svc: Services, user_id: str, job_id: str) -> Job:
    """Cancel a queued or running job (its worker loses it at once); `ConflictError` for a
    job that already ended, `NotFoundError` for another user's."""
    before = await svc.jobs.get(job_id, user_id)
    if before.status.is_final:
        raise ConflictError(f"job {job_id} is already {before.status.value}")
    return await svc.jobs.cancel_job(job_id, user_id)


async def document_file(svc: Services, user_id: str, job_id: str) -> FileInfo:
    """The PDF of the user's job; `ConflictError` while it has none."""
    job = await svc.jobs.get(job_id, user_id)
    if job.file is None:
        raise ConflictError(f"job {job_id} is {job.status.value}; it has no PDF")
    return job.file


async def delete_document(svc: Services, user_id: str, job_id: str) -> None:
    """The job, its files' rows, then their stored bytes (`NotFoundError` for another
    user's job; `ConflictError` for one still running)."""
    for key in await svc.jobs.delete_job(job_id, user_id):
        await svc.storage.delete(key)


async def job_changes(
    svc: Services, job_id: str, user_id: str, *, keepalive_s: float
) -> AsyncIterator[Job | None]:
    """The job now, then again each time its status, stage, progress or attempts change,
    ending after a final status; None after each `keepalive_s` of quiet (a stream's
    keep-alive); `JobDeleted` when the job goes while followed. Changes arrive by
    notification (this process, or NOTIFY from other nodes on PostgreSQL); a read every
    `PDFPROMPT_POLL_MS` covers the rest."""
    poll_s = svc.settings.poll_ms / 1000
    last: tuple[object, ...] | None = None
    quiet_s = 0.0
    with svc.events.subscribe(job_id) as changed:
        while True:
            changed.clear()
            try:
                job = await svc.jobs.get(job_id, user_id)
            except NotFoundError:
                raise JobDeleted from None
            state = (job.status, job.stage, round(job.progress, 3), job.attempts)
            if state != last:
                last, quiet_s = state, 0.0
                yield job
            if job.status.is_final:
                return
            try:
                await asyncio.wait_for(changed.wait(), poll_s)
            except TimeoutError:
                quiet_s += poll_s
                if quiet_s >= keepalive_s:
                    quiet_s = 0.0
                    yield None


class JobDeleted(Exception):
    """The job followed by `job_changes` was deleted while followed."""
