"""The templates pages: a person's templates, the editor (name, engine, body, JSON schema,
sample data, default page options; saving keeps a new version), its live preview, its
versions, and a new document filled from it.

Every rule is the actions room's: `template_content` checks a version before it is kept
(body syntax with its line, the schema, the sample against it), `preview_draft` prints an
edit before it is saved (rate limited, no quota), `submit_template_job` queues a document
with the plan's quota. The pages only put each refusal next to its field. The preview
answers into the editor's `<iframe name="preview">` (a form's target: no script needed),
so its PDF has the viewer's policy and its errors a page this site may frame."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from starlette.responses import Response

from pdfprompt.accounts import WebSession
from pdfprompt.actions import create_template as keep_new_template
from pdfprompt.actions import (
    preview_draft,
    submit_template_job,
    template_content,
    update_template,
)
from pdfprompt.api.schemas import OptionsIn
from pdfprompt.domain import (
    MAX_TEMPLATE_VERSION,
    PAPER_FORMATS,
    ConflictError,
    DataInvalidError,
    InvalidInputError,
    PayloadTooLargeError,
    PdfPromptError,
    QuotaExceededError,
    RateLimitedError,
    Template,
    TemplateRenderError,
    TemplateTimeoutError,
)
from pdfprompt.queue import TemplateContent
from pdfprompt.web import compose, words
from pdfprompt.web.fields import sentence
from pdfprompt.web.kit import page, pages, path_id, posted, principal, redirect, signed_in, svc_of
from pdfprompt.wiring import Services

router = pages()

ENGINES = {"html": "HTML", "markdown": "Markdown"}
SIDES = compose.SIDES
FIELDS = (
    "name",
    "engine",
    "body",
    "schema",
    "sample_data",
    "data",
    "format",
    "orientation",
    *(f"margin_{side}" for side in SIDES),
)
OPTION_FIELDS = frozenset(("format", "orientation", *(f"margin_{s}" for s in SIDES)))
# A schema and a sample as the API takes them (percent-encoded: 3 bytes a byte).
_JSON_BYTES = (65_536 + 262_144 + 262_144) * 3
_OVERHEAD_BYTES = 32 * 1024
# The preview's answer inside the editor: framed by this site's pages only.
FRAMED_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'"
    ),
}
TEMPLATES_PAGE = 200


def form_cap(svc: Services) -> int:
    """The largest editor form read: the largest body, schema and data percent-encoded."""
    return svc.settings.template_max_body_bytes * 3 + _JSON_BYTES + _OVERHEAD_BYTES


def blank() -> dict[str, str]:
    values = dict.fromkeys(FIELDS, "")
    values.update(engine="html", orientation="portrait", schema="", sample_data="{}")
    return values


def _json_text(value: Any) -> str:
    return "" if value is None else json.dumps(value, indent=2, ensure_ascii=False)


def values_of_template(template: Template) -> dict[str, str]:
    """The editor's fields holding `template`'s version."""
    values = blank()
    options = template.options
    margin = options.get("margin") or {}
    values.update(
        name=template.name,
        engine=template.engine.value,
        body=template.body,
        schema=_json_text(template.schema),
        sample_data=_json_text(template.sample_data),
        format=str(options.get("format", "")),
        orientation="landscape" if options.get("landscape") else "portrait",
        **{f"margin_{s}": str(margin.get(s, "")) for s in SIDES},
    )
    return values


def values_of(form: dict[str, str]) -> dict[str, str]:
    """The posted fields the editor has, newlines as typed (a browser sends CRLF)."""
    values = blank()
    for name in FIELDS:
        if name in form:
            values[name] = form[name].replace("\r\n", "\n")
    return values


def _parsed_json(text: str, field: str, errors: dict[str, str]) -> Any:
    """The field's JSON; None for an empty field; an error (with its line) for bad JSON."""
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        errors[field] = f"This is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        return None
    except RecursionError:
        errors[field] = "This JSON is nested too deeply."
        return None


def _options(values: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if values["format"].strip():
        options["format"] = values["format"].strip()
    if values["orientation"] == "landscape":
        options["landscape"] = True
    elif values["orientation"] not in ("", "portrait"):
        errors["orientation"] = "Choose portrait or landscape."
    margin = {s: values[f"margin_{s}"].strip() for s in SIDES if values[f"margin_{s}"].strip()}
    if margin:
        options["margin"] = margin
    try:
        return OptionsIn.model_validate(options).stored()
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            field = compose.field_of(("options", *(str(p) for p in error["loc"])))
            errors.setdefault(field, compose.message_of(field, error))
    except InvalidInputError as exc:  # page geometry, checked as a whole
        field = compose.field_of(("options", *(exc.field or "").split(".")[1:]))
        errors.setdefault(field, sentence(exc.message))
    return {}


def field_of(exc: PdfPromptError) -> str:
    """The editor's field a refusal concerns (`sample_data/items/0` → `sample_data`)."""
    head = (exc.field or "").split("/")[0].split(".")[0]
    return head if head in FIELDS else "form"


def refusal_of(exc: PdfPromptError) -> str:
    """A refusal in words; a data refusal lists its bad fields (JSON pointers)."""
    if isinstance(exc, DataInvalidError) and exc.errors:
        listed = "; ".join(
            f"at /{str(e['field']).partition('/')[2]}: {e['message']}" for e in exc.errors[:5]
        )
        more = exc.total - min(len(exc.errors), 5)
        return f"Does not fit the schema: {listed}." + (f" ({more} more.)" if more > 0 else "")
    return sentence(exc.message)


def content_of(
    svc: Services, values: dict[str, str], errors: dict[str, str]
) -> TemplateContent | None:
    """The version the editor holds, checked by the actions' rules; else None, with the
    errors by field."""
    schema = _parsed_json(values["schema"], "schema", errors)
    sample = _parsed_json(values["sample_data"], "sample_data", errors)
    options = _options(values, errors)
    if values["engine"] not in ENGINES:
        errors["engine"] = "Choose HTML or Markdown."
    if not values["body"].strip():
        errors["body"] = "Write the template's body first: it is empty."
    if errors:
        return None
    try:
        return template_content(
            svc,
            name=values["name"].strip(),
            engine=values["engine"],
            body=values["body"],
            schema=schema,
            sample_data=sample,
            options=options,
        )
    except (InvalidInputError, PayloadTooLargeError) as exc:
        errors[field_of(exc)] = refusal_of(exc)
        return None


# -- the list -------------------------------------------------------------------


@router.get("/templates")
async def templates_page(request: Request) -> Response:
    session = await signed_in(request)
    items, more = await svc_of(request).templates.list_templates(
        session.user_id, limit=TEMPLATES_PAGE, cursor=None
    )
    return page(request, "templates.html", me=session, templates=items, more=more, engines=ENGINES)


@router.post("/templates/{template_id}/delete")
async def delete(request: Request, template_id: str) -> Response:
    await posted(request)
    session = await signed_in(request)
    await svc_of(request).templates.delete(session.user_id, path_id(template_id, "template"))
    return redirect("/templates")


# -- the preview ----------------------------------------------------------------


def _preview_message(request: Request, status: int, field: str, text: str) -> Response:
    return page(
        request,
        "template_preview.html",
        status,
        headers=FRAMED_HEADERS,
        field=field,
        text=text,
    )


@router.post("/templates/preview")
async def preview(request: Request) -> Response:
    """The editor's fields printed (data from "Try with data", else the sample), into the
    editor's preview frame: the PDF, or the refusal in words naming its field."""
    session = await signed_in(request)
    svc = svc_of(request)
    form = await posted(request, form_cap(svc))
    values = values_of(form)
    if not values["name"].strip():  # a new template is previewed before it is named
        values["name"] = "preview"
    errors: dict[str, str] = {}
    content = content_of(svc, values, errors)
    data = _parsed_json(values["data"], "data", errors)
    if content is None or "data" in errors:
        field = next(iter(errors))
        return _preview_message(request, 400, field, errors[field])
    owner = form.get("template_id", "")
    try:
        pdf = await preview_draft(
            svc,
            principal(session),
            content,
            data=data,
            template_id=owner if owner.startswith("tpl_") and len(owner) <= 64 else "draft",
        )
    except RateLimitedError as exc:
        return _preview_message(request, 429, "form", sentence(exc.message))
    except (TemplateRenderError, TemplateTimeoutError) as exc:
        return _preview_message(request, 422, "body", sentence(exc.message))
    except (InvalidInputError, PayloadTooLargeError) as exc:
        field = field_of(exc)
        return _preview_message(request, 400, "data" if field == "form" else field, refusal_of(exc))
    return Response(
        pdf,
        200,
        media_type="application/pdf",
        headers={
            "Content-Disposition": 'inline; filename="preview.pdf"',
            "Content-Security-Policy": FRAMED_HEADERS["Content-Security-Policy"].split("; ")[1],
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


# -- the editor -----------------------------------------------------------------


async def _editor(
    request: Request,
    session: WebSession,
    values: dict[str, str],
    *,
    template: Template | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    saved: bool = False,
) -> Response:
    svc = svc_of(request)
    versions: list[Any] = []
    if template is not None:
        versions, _ = await svc.templates.list_versions(
            session.user_id, template.id, limit=50, cursor=None
        )
    errors = errors or {}
    return page(
        request,
        "template.html",
        status,
        me=session,
        tpl=template,
        versions=versions,
        v=values,
        errors=errors,
        saved=saved,
        options_open=bool(OPTION_FIELDS & errors.keys()),
        engines=ENGINES,
        formats=PAPER_FORMATS,
        sides=SIDES,
    )


@router.get("/templates/new")
async def new_template(request: Request) -> Response:
    session = await signed_in(request)
    return await _editor(request, session, blank())


async def _mine(request: Request, session: WebSession, template_id: str) -> Template:
    version = request.query_params.get("version", "")
    number = int(version) if version.isascii() and version.isdigit() and len(version) < 8 else None
    if number is not None and not 1 <= number <= MAX_TEMPLATE_VERSION:
        number = None
    return await svc_of(request).templates.get(
        session.user_id, path_id(template_id, "template"), number
    )


@router.get("/templates/{template_id}")
async def edit_template(request: Request, template_id: str) -> Response:
    session = await signed_in(request)
    template = await _mine(request, session, template_id)
    values = values_of_template(template)
    values["data"] = values["sample_data"]
    saved = request.query_params.get("saved") == "1"
    return await _editor(request, session, values, template=template, saved=saved)


@router.post("/templates")
async def create_template(request: Request) -> Response:
    session = await signed_in(request)
    svc = svc_of(request)
    values = values_of(await posted(request, form_cap(svc)))
    errors: dict[str, str] = {}
    content = content_of(svc, values, errors)
    if content is None:
        return await _editor(request, session, values, errors=errors, status=400)
    try:
        made, _ = await keep_new_template(svc, session.user_id, content)
    except ConflictError as exc:
        errors = {"name": sentence(exc.message)}
        return await _editor(request, session, values, errors=errors, status=409)
    return redirect(f"/templates/{made.id}?saved=1")


@router.post("/templates/{template_id}")
async def save_template(request: Request, template_id: str) -> Response:
    session = await signed_in(request)
    svc = svc_of(request)
    values = values_of(await posted(request, form_cap(svc)))
    template = await svc.templates.get(session.user_id, path_id(template_id, "template"))
    errors: dict[str, str] = {}
    content = content_of(svc, values, errors)
    if content is None:
        return await _editor(request, session, values, template=template, errors=errors, status=400)
    try:
        kept = await update_template(svc, session.user_id, template.id, content)
    except ConflictError as exc:
        errors = {"name": sentence(exc.message)}
        return await _editor(request, session, values, template=template, errors=errors, status=409)
    return redirect(f"/templates/{kept.id}?saved=1")


# -- a document from the template -----------------------------------------------


@router.post("/templates/{template_id}/documents")
async def new_document(request: Request, template_id: str) -> Response:
    session = await signed_in(request)
    svc = svc_of(request)
    form = await posted(request, form_cap(svc))
    template = await _mine(request, session, template_id)
    values = values_of_template(template)
    values["data"] = form.get("data", "").replace("\r\n", "\n")
    errors: dict[str, str] = {}
    data = _parsed_json(values["data"], "data", errors)
    if not errors:
        try:
            job, _ = await submit_template_job(
                svc, principal(session), f"{template.id}@{template.version}", data or {}, {}
            )
        except (InvalidInputError, PayloadTooLargeError) as exc:
            errors["data"] = refusal_of(exc)
        except QuotaExceededError as exc:
            errors["data"] = words.quota_words(exc)
        else:
            return redirect(f"/documents/{job.id}")
    return await _editor(request, session, values, template=template, errors=errors, status=400)
