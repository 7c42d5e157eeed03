"""Template routes: create, change (a new version), read, list, delete, preview."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response

from pdfprompt.accounts import Principal
from pdfprompt.actions import (
    create_template,
    generate_template,
    preview_template,
    prompt_limit,
    template_content,
    update_template,
)
from pdfprompt.api.auth import JobReader, JobWriter, Svc
from pdfprompt.api.body import json_body
from pdfprompt.api.jobs import JSON_OVERHEAD_BYTES, created
from pdfprompt.api.openapi import binary, problems
from pdfprompt.api.schemas import (
    GenerateIn,
    JobOut,
    PreviewIn,
    TemplateIn,
    TemplateList,
    TemplateOut,
    TemplateSummaryOut,
    VersionList,
    VersionOut,
)
from pdfprompt.domain import MAX_TEMPLATE_VERSION, TEMPLATE_ID_PATTERN
from pdfprompt.wiring import Services

router = APIRouter(prefix="/v1")

_SCHEMA_AND_DATA_BYTES = (65_536 + 262_144) * 3 + 64 * 1024


def _template_body_limit(svc: Services, _: Principal) -> int:
    """The largest body of a template: its body, schema and sample data as JSON may spell
    them (`\\u` escapes), and the options."""
    return svc.settings.template_max_body_bytes * 3 + _SCHEMA_AND_DATA_BYTES


def _preview_body_limit(svc: Services, _: Principal) -> int:
    return _SCHEMA_AND_DATA_BYTES


def _content(svc: Services, parsed: TemplateIn) -> Any:
    return template_content(
        svc,
        name=parsed.name,
        engine=parsed.engine,
        body=parsed.body,
        schema=parsed.schema_,
        sample_data=parsed.sample_data,
        options=parsed.options.stored(),
    )


def _answer(template: Any, status: int) -> Response:
    body = TemplateOut.of(template).model_dump_json(by_alias=True)
    headers = {"Location": f"/v1/templates/{template.id}"} if status == 201 else None
    return Response(body, status, media_type="application/json", headers=headers)


@router.post(
    "/templates",
    status_code=201,
    response_model=TemplateOut,
    responses={
        200: {
            "model": TemplateOut,
            "description": "The template an earlier request with the same Idempotency-Key made",
        },
        **problems(409, 413),
    },
)
async def create_template_route(
    caller: JobWriter,
    parsed: Annotated[TemplateIn, json_body(TemplateIn, _template_body_limit)],
    svc: Svc,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Response:
    """A new template (version 1). The body must compile, the schema be a draft 2020-12
    JSON Schema with local references only, and the sample data fit it (422 naming the
    field otherwise). A name already used is 409. The same `Idempotency-Key` again answers
    the template it created (200)."""
    if idempotency_key is not None:  # a repeated create: the body is not checked again
        earlier = await svc.templates.created_before(caller.user_id, idempotency_key)
        if earlier is not None:
            return _answer(earlier, 200)
    made, new = await create_template(svc, caller.user_id, _content(svc, parsed), idempotency_key)
    return _answer(made, 201 if new else 200)


def _generate_limit(svc: Services, caller: Principal) -> int:
    return prompt_limit(svc, svc.accounts.plan_of(caller)) * 12 + JSON_OVERHEAD_BYTES


@router.post(
    "/templates/generate",
    status_code=202,
    response_model=JobOut,
    responses={
        200: {
            "model": JobOut,
            "description": "The job an earlier request with the same Idempotency-Key created",
        }
    },
)
async def generate_template_route(
    request: Request,
    caller: JobWriter,
    parsed: Annotated[GenerateIn, json_body(GenerateIn, _generate_limit)],
    svc: Svc,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Response:
    """A `template_generate` job: the model writes a template (body, JSON schema, sample
    data) from the prompt, with the same keys, fallback and clean-up as prompt jobs. When it
    succeeds the template is saved, the job carries `"template": {"id", "version"}`, and its
    PDF is the sample data filled. Counts as one PDF of the month."""
    job, new = await generate_template(svc, caller, parsed.prompt, parsed.engine, idempotency_key)
    return created(request, job, new)


@router.put("/templates/{template_id}", response_model=TemplateOut, responses=problems(409, 413))
async def update_template_route(
    template_id: str,
    caller: JobWriter,
    parsed: Annotated[TemplateIn, json_body(TemplateIn, _template_body_limit)],
    svc: Svc,
) -> Response:
    """A new immutable version of the template (`version` + 1); older versions stay."""
    content = _content(svc, parsed)
    return _answer(await update_template(svc, caller.user_id, template_id, content), 200)


@router.get("/templates", response_model=TemplateList)
async def list_templates(
    caller: JobReader,
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=TEMPLATE_ID_PATTERN)] = None,
) -> TemplateList:
    items, next_cursor = await svc.templates.list_templates(
        caller.user_id, limit=limit, cursor=cursor
    )
    return TemplateList(items=[TemplateSummaryOut.of(t) for t in items], next_cursor=next_cursor)


@router.get("/templates/{template_id}", response_model=TemplateOut)
async def get_template(
    template_id: str,
    caller: JobReader,
    svc: Svc,
    version: Annotated[int | None, Query(ge=1, le=MAX_TEMPLATE_VERSION)] = None,
) -> Response:
    """The template at its latest version, or at `version`."""
    return _answer(await svc.templates.get(caller.user_id, template_id, version), 200)


@router.get("/templates/{template_id}/versions", response_model=VersionList)
async def list_versions(
    template_id: str,
    caller: JobReader,
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[1-9][0-9]{0,6}$")] = None,
) -> VersionList:
    items, next_cursor = await svc.templates.list_versions(
        caller.user_id, template_id, limit=limit, cursor=int(cursor) if cursor else None
    )
    return VersionList(
        items=[VersionOut(version=v.version, created_at=v.created_at) for v in items],
        next_cursor=str(next_cursor) if next_cursor is not None else None,
    )


@router.delete("/templates/{template_id}", status_code=204)
async def delete_template(template_id: str, caller: JobWriter, svc: Svc) -> Response:
    """The template and its versions. Jobs already queued still print: each job keeps a
    copy of the version it fills."""
    await svc.templates.delete(caller.user_id, template_id)
    return Response(status_code=204)


@router.post(
    "/templates/{template_id}/preview",
    response_class=Response,
    responses={200: binary("application/pdf", "The PDF, stamped PREVIEW"), **problems(503)},
)
async def preview_template_route(
    template_id: str,
    caller: JobWriter,
    parsed: Annotated[PreviewIn, json_body(PreviewIn, _preview_body_limit)],
    svc: Svc,
) -> Response:
    """The template filled with `data` (or its sample data), at most 5 pages, stamped
    PREVIEW; answered when ready (up to 30 s). Uses none of the month's PDFs; 10 previews
    a minute per user (429 with Retry-After past that)."""
    pdf = await preview_template(
        svc,
        caller,
        template_id,
        data=parsed.data,
        version=parsed.version,
        options=parsed.options.stored(),
    )
    return Response(
        pdf,
        200,
        media_type="application/pdf",
        headers={"Content-Disposition": 'inline; filename="preview.pdf"'},
    )
