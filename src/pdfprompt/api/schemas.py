"""HTTP request and response shapes (pydantic lives at the edges only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from pdfprompt.actions import MAX_SHARE_EXPIRY_S
from pdfprompt.api.finish_schemas import (
    Attachments,
    EncryptIn,
    MarkIn,
    PdfaLevel,
    check_finishing,
)
from pdfprompt.api.page_schemas import Media, WaitForIn
from pdfprompt.api.pdf_job_schemas import PdfInputs, SplitRanges
from pdfprompt.api.sign_schemas import SignIn
from pdfprompt.domain import (
    DOCUMENT_KINDS,
    LANG_PATTERN,
    MAX_HEADER_FOOTER_CHARS,
    MAX_TEMPLATE_VERSION,
    MAX_TEXT_FIELD_CHARS,
    MAX_USER_CSS_CHARS,
    PAGE_RANGES,
    PAPER_FORMATS,
    PDF_JOBS,
    TEMPLATE_JOBS,
    TEMPLATE_NAME_PATTERN,
    THEMES,
    TONES,
    InvalidInputError,
    Job,
    RenderOptions,
    Template,
    TemplateSummary,
    check_css_length,
    check_header_footer,
    check_markdown,
    check_page_geometry,
    check_page_ranges,
    check_template_name,
    pdf_input_of,
    redacted_options,
    split_front_matter,
    template_of_input,
)
from pdfprompt.webhooks import EVENTS, EventName


def _length(value: str) -> str:
    try:
        return check_css_length(value, "value")
    except Exception as exc:
        raise ValueError("must be a CSS length such as '12mm', '1in' or '40px'") from exc


def _ranges(value: str) -> str:
    try:
        return check_page_ranges(value)
    except Exception as exc:
        raise ValueError("must list pages such as '1-3, 5'") from exc


def _loads_nothing(value: str) -> str:
    try:
        return check_header_footer(value, "value")
    except InvalidInputError as exc:
        raise ValueError(exc.message.removeprefix("value: ")) from None


HeaderFooter = Annotated[
    str, Field(max_length=MAX_HEADER_FOOTER_CHARS), AfterValidator(_loads_nothing)
]


def _whole(value: Any) -> Any:
    """JSON has numbers, and 60.0 is the integer 60 to a JSON schema: take it as one."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WHOLE = BeforeValidator(_whole)
CssLength = Annotated[str, Field(max_length=32), AfterValidator(_length)]
ShortText = Annotated[str, Field(max_length=MAX_TEXT_FIELD_CHARS)]


class Strict(BaseModel):
    """A request body: unknown fields are refused, and values are taken only in the JSON type
    the schema gives (no "true" for true, no "60" or 60.0 for 60)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class MarginIn(Strict):
    top: CssLength | None = None
    right: CssLength | None = None
    bottom: CssLength | None = None
    left: CssLength | None = None


class OptionsIn(Strict):
    format: Literal[PAPER_FORMATS] | None = None  # type: ignore[valid-type]
    width: CssLength | None = None
    height: CssLength | None = None
    landscape: StrictBool | None = None
    margin: MarginIn | None = None
    scale: Annotated[float, Field(ge=0.1, le=2.0, strict=True)] | None = None
    print_background: StrictBool | None = None
    header_html: HeaderFooter | None = None
    footer_html: HeaderFooter | None = None
    page_ranges: (
        Annotated[
            str,
            # The pattern for clients and the OpenAPI document; `_ranges` checks the same
            # with a message that shows the form.
            Field(max_length=200, json_schema_extra={"pattern": PAGE_RANGES}),
            AfterValidator(_ranges),
        ]
        | None
    ) = None
    title: ShortText | None = None
    author: ShortText | None = None
    subject: ShortText | None = None
    keywords: ShortText | None = None
    filename: Annotated[str, Field(max_length=200)] | None = None
    tagged: StrictBool | None = None
    outline: StrictBool | None = None
    tone: Literal[TONES] | None = None  # type: ignore[valid-type]
    document_kind: Literal[DOCUMENT_KINDS] | None = None  # type: ignore[valid-type]
    media: Media | None = None
    omit_background: StrictBool | None = None
    prefer_css_page_size: StrictBool | None = None
    wait_for: WaitForIn | None = None
    # Markdown documents (docs/markdown.md): language, look, contents, the writer's CSS.
    lang: Annotated[str, Field(max_length=35, pattern=LANG_PATTERN)] | None = None
    theme: Literal[THEMES] | None = None  # type: ignore[valid-type]
    toc: StrictBool | None = None
    css: Annotated[str, Field(max_length=MAX_USER_CSS_CHARS)] | None = None
    # Prompts: whether a print the quality check finds faults in is sent back to the model
    # once to be corrected (docs/prompts.md, "Repair pass"); on unless false.
    repair: StrictBool | None = None
    # Finishing (docs/finishing.md), applied after the render in this order.
    watermark: MarkIn | None = None
    stamp: MarkIn | None = None
    attachments: Attachments | None = None
    pdfa: PdfaLevel | None = None
    pdfua: StrictBool | None = None
    encrypt: EncryptIn | None = None
    sign: SignIn | None = None

    @model_validator(mode="after")
    def _finishing(self) -> OptionsIn:
        check_finishing(self)
        return self

    @model_validator(mode="after")
    def _size(self) -> OptionsIn:
        if (self.width is None) != (self.height is None):
            raise ValueError("width and height must be given together")
        if self.width is not None and self.format is not None:
            raise ValueError("give either format or width and height, not both")
        check_page_geometry(RenderOptions.from_dict(self.stored()))
        return self

    def stored(self) -> dict[str, Any]:
        """The options as kept on the job: only what the client set."""
        data = self.model_dump(exclude_none=True)
        if data.get("pdfua"):  # PDF/UA is made from a tagged render
            data["tagged"] = True
        if data.get("toc") and "outline" not in data:  # the contents' headings as bookmarks
            data["outline"] = True
        if "margin" in data:
            margin = {"top": "16mm", "right": "16mm", "bottom": "16mm", "left": "16mm"}
            margin.update(data["margin"])
            data["margin"] = margin
        return data


# The options a request gives that say how big the page is: front matter's `format` and
# `landscape` do not apply when the request sets the size by width and height.
_SIZE_KEYS = ("format", "width", "height")


def options_with_front_matter(text: str, options: OptionsIn) -> OptionsIn:
    """A Markdown document's options: the request's, and for what it leaves out, what the
    document's front matter names (`split_front_matter`), checked by the same rules; an
    `InvalidInputError` naming `input` (YAML that is not a mapping) or
    `input.front_matter.KEY` (a value the option refuses)."""
    named = split_front_matter(text).options
    if not named:
        return options
    try:
        front = OptionsIn.model_validate(named)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise InvalidInputError(
            f"input.front_matter.{where}: the front matter's {where}: "
            f"{error['msg'].removeprefix('Value error, ')}",
            field=f"input.front_matter.{where}",
        ) from None
    except InvalidInputError as exc:
        raise _in_front_matter(exc) from None
    given = options.model_fields_set
    if given & {"width", "height"}:
        given = given | set(_SIZE_KEYS)
    taken = {k: getattr(front, k) for k in front.model_fields_set if k not in given}
    merged = options.model_copy(update=taken)
    try:
        check_page_geometry(RenderOptions.from_dict(merged.stored()))
    except InvalidInputError as exc:
        raise _in_front_matter(exc) from None
    return merged


def _in_front_matter(exc: InvalidInputError) -> InvalidInputError:
    """An option's error said of the front matter's value."""
    field = (exc.field or "options").replace("options", "input.front_matter", 1)
    head, _, rest = exc.message.partition(": ")
    message = f"{field}: the front matter's {head.removeprefix('options.')}: {rest}"
    return InvalidInputError(message, field=field)


class JobIn(Strict):
    type: Literal["prompt", "markdown", "html", "template", "url", "merge", "split", "pdf"]
    # The document (prompt, Markdown or HTML, or a web page's URL); not given for a template
    # job or the PDF jobs.
    input: Annotated[Annotated[str, Field(min_length=1)] | None, Field(validate_default=True)] = (
        None
    )
    # A template job: the template (`tpl_…`, `tpl_…@3`, `NAME`, `NAME@3`) and its data.
    template: Annotated[
        Annotated[str, Field(min_length=1, max_length=200)] | None, Field(validate_default=True)
    ] = None
    data: dict[str, Any] | None = None
    options: OptionsIn = Field(default_factory=OptionsIn)

    # A merge: the PDFs, in order (asset ids or names, job or file ids, or objects).
    inputs: Annotated[PdfInputs | None, Field(validate_default=True)] = None
    # A split: the pages of each part ('1-3,4-').
    ranges: Annotated[SplitRanges | None, Field(validate_default=True)] = None

    @field_validator("input")
    @classmethod
    def _input(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("type") == "template":
            if value is not None:
                raise ValueError("a template job takes template and data, not input")
        elif info.data.get("type") == "merge":
            if value is not None:
                raise ValueError("a merge job takes inputs, not input")
        elif value is None:
            raise PydanticCustomError("missing", "Field required")
        return value

    @field_validator("template")
    @classmethod
    def _template(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("type") == "template":
            if value is None:
                raise PydanticCustomError("missing", "Field required")
        elif value is not None:
            raise ValueError("only a template job names a template")
        return value

    @field_validator("inputs")
    @classmethod
    def _inputs(cls, value: list[Any] | None, info: ValidationInfo) -> list[Any] | None:
        if info.data.get("type") == "merge":
            if value is None:
                raise PydanticCustomError("missing", "Field required")
        elif value is not None:
            raise ValueError("only a merge job takes inputs")
        return value

    @field_validator("ranges")
    @classmethod
    def _split_ranges(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("type") == "split":
            if value is None:
                raise PydanticCustomError("missing", "Field required")
        elif value is not None:
            raise ValueError("only a split job takes ranges")
        return value

    @model_validator(mode="after")
    def _not_blank(self) -> JobIn:
        if self.type != "template" and self.data is not None:
            raise ValueError("data is for template jobs")
        if self.input is not None and not self.input.strip():
            raise ValueError("input is empty")
        if self.options.wait_for is not None and self.type != "url":
            raise InvalidInputError(
                "options.wait_for: only a url job runs scripts, and so waits for them",
                field="options.wait_for",
            )
        if self.type == "markdown" and self.input is not None:
            check_markdown(self.input)
            self.options = options_with_front_matter(self.input, self.options)
        return self


class ReviseIn(Strict):
    instructions: Annotated[str, Field(min_length=1)]

    @model_validator(mode="after")
    def _not_blank(self) -> ReviseIn:
        if not self.instructions.strip():
            raise ValueError("instructions are empty")
        return self


class FileOut(BaseModel):
    id: str
    size_bytes: int
    pages: int
    filename: str
    url: str


class FileInfoOut(FileOut):
    content_type: str


class ErrorOut(BaseModel):
    code: str
    message: str


class BatchRefOut(BaseModel):
    """A job of a batch: the batch and its row there (from 0)."""

    id: str
    row: int


class JobOut(BaseModel):
    id: str
    type: str
    status: str
    stage: str
    progress: float
    attempts: int
    max_attempts: int
    priority: int
    generator: str | None
    error: ErrorOut | None
    # What a job that succeeded did not do as its document asked (addresses not loaded).
    warnings: list[ErrorOut]
    file: FileOut | None
    options: dict[str, Any]
    parent_id: str | None = None
    # A template job: the template and version it fills.
    template: dict[str, Any] | None = None
    # A job of a batch: the batch and its row.
    batch: BatchRefOut | None = None
    # A merge, split or pdf job: the PDFs it reads (`{"asset"}` or `{"file", "job"}`).
    inputs: list[dict[str, Any]] | None = None
    ranges: str | None = None  # a split's
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, job: Job, base_url: str) -> JobOut:
        file = None
        if job.file is not None:
            file = FileOut(
                id=job.file.id,
                size_bytes=job.file.size_bytes,
                pages=job.file.pages,
                filename=job.file.filename,
                url=f"{base_url}v1/jobs/{job.id}/pdf",
            )
        return cls(
            id=job.id,
            type=job.type.value,
            status=job.status.value,
            stage=job.stage.value,
            progress=round(job.progress, 4),
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            priority=job.priority,
            generator=job.generator.value if job.generator else None,
            error=ErrorOut(code=job.error.code, message=job.error.message) if job.error else None,
            warnings=[
                ErrorOut(code=w.code, message=w.message)
                for w in (job.file.warnings if job.file is not None else ())
            ],
            file=file,
            options=redacted_options(job.options),
            parent_id=job.parent_id,
            template=template_of_input(job.input) if job.type in TEMPLATE_JOBS else None,
            batch=(
                BatchRefOut(id=job.batch_id, row=job.batch_row)
                if job.batch_id is not None and job.batch_row is not None
                else None
            ),
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            updated_at=job.updated_at,
            **((pdf_input_of(job.input) or {}) if job.type in PDF_JOBS else {}),
        )


class JobList(BaseModel):
    items: list[JobOut]
    next_cursor: str | None


class KeyIn(Strict):
    name: Annotated[str, Field(max_length=200)] = ""
    scopes: list[Literal["jobs:write", "jobs:read", "files:read", "account"]] | None = None
    expires_in_s: Annotated[int, Field(ge=60, le=10 * 365 * 86400), WHOLE] | None = None


class KeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class IssuedKeyOut(KeyOut):
    key: str  # shown once


class KeyList(BaseModel):
    items: list[KeyOut]
    next_cursor: str | None = None


class ShareIn(Strict):
    # At most a year, and no longer than the plan keeps files (checked by the route).
    expires_in_s: Annotated[int, Field(ge=60, le=MAX_SHARE_EXPIRY_S), WHOLE] = 7 * 86400
    max_downloads: Annotated[int, Field(ge=1, le=1_000_000), WHOLE] | None = None


class ShareOut(BaseModel):
    id: str
    url: str | None  # the whole link: only in the answer that created it
    expires_at: datetime
    max_downloads: int | None
    downloads: int
    revoked_at: datetime | None
    created_at: datetime


class ShareList(BaseModel):
    items: list[ShareOut]
    next_cursor: str | None = None


WebhookUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2048,
        json_schema_extra={"pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]+"},
    ),
]


class WebhookIn(Strict):
    url: WebhookUrl
    events: Annotated[list[EventName], Field(min_length=1)] = list(EVENTS)
    description: Annotated[str, Field(max_length=200)] = ""


class WebhookPatch(Strict):
    url: WebhookUrl | None = None
    events: Annotated[list[EventName], Field(min_length=1)] | None = None
    description: Annotated[str, Field(max_length=200)] | None = None
    enabled: bool | None = None
    rotate_secret: bool = False


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str
    enabled: bool
    disabled_at: datetime | None
    disabled_reason: str | None
    failure_run: int  # deliveries in a row that failed for good
    last_success_at: datetime | None
    created_at: datetime
    secret: str | None = None  # only when created or rotated


class WebhookList(BaseModel):
    items: list[WebhookOut]
    next_cursor: str | None = None


class AttemptOut(BaseModel):
    number: int
    started_at: datetime
    duration_ms: int | None
    status_code: int | None
    error: str | None


class DeliveryOut(BaseModel):
    id: str
    event: str
    subject: str  # the job's id, or the quota period
    status: str  # pending | succeeded | failed
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None
    log: list[AttemptOut]


class DeliveryList(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


def _template_name(value: str) -> str:
    try:
        return check_template_name(value, "value")
    except InvalidInputError as exc:
        raise ValueError(exc.message.removeprefix("value: ")) from None


# Checked with the body, so that a repeated create (same Idempotency-Key, answered without
# checking the template again) still refuses a name the schema does not allow.
TemplateName = Annotated[
    str,
    Field(min_length=1, max_length=100, json_schema_extra={"pattern": TEMPLATE_NAME_PATTERN}),
    AfterValidator(_template_name),
]


class TemplateIn(Strict):
    name: TemplateName
    engine: Literal["html", "markdown"] = "html"
    body: Annotated[str, Field(min_length=1)]
    # A JSON Schema (draft 2020-12) for the data; `$ref` only within it (`#/…`).
    schema_: Annotated[dict[str, Any] | None, Field(alias="schema")] = None
    sample_data: dict[str, Any] | None = None
    options: OptionsIn = Field(default_factory=OptionsIn)

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class TemplateSummaryOut(BaseModel):
    id: str
    name: str
    engine: str
    version: int  # the latest
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, t: TemplateSummary) -> TemplateSummaryOut:
        return cls(
            id=t.id,
            name=t.name,
            engine=t.engine.value,
            version=t.latest_version,
            created_at=t.created_at,
            updated_at=t.updated_at,
        )


class TemplateOut(BaseModel):
    id: str
    name: str
    engine: str
    version: int  # of this answer's body, schema, sample data and options
    latest_version: int
    body: str
    schema_: Annotated[dict[str, Any] | None, Field(serialization_alias="schema")]
    sample_data: dict[str, Any] | None
    options: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    version_created_at: datetime

    @classmethod
    def of(cls, t: Template) -> TemplateOut:
        return cls(
            id=t.id,
            name=t.name,
            engine=t.engine.value,
            version=t.version,
            latest_version=t.latest_version,
            body=t.body,
            schema_=t.schema,
            sample_data=t.sample_data,
            options=redacted_options(t.options),
            created_at=t.created_at,
            updated_at=t.updated_at,
            version_created_at=t.version_created_at,
        )


class TemplateList(BaseModel):
    items: list[TemplateSummaryOut]
    next_cursor: str | None


class VersionOut(BaseModel):
    version: int
    created_at: datetime


class VersionList(BaseModel):
    items: list[VersionOut]
    next_cursor: str | None


class PreviewIn(Strict):
    data: dict[str, Any] | None = None  # the template's sample data when left out
    version: Annotated[int, Field(ge=1, le=MAX_TEMPLATE_VERSION), WHOLE] | None = None
    options: OptionsIn = Field(default_factory=OptionsIn)


class TemplateRefOut(BaseModel):
    id: str
    version: int


class GenerateIn(Strict):
    prompt: Annotated[str, Field(min_length=1)]
    engine: Literal["html", "markdown"] = "html"

    @model_validator(mode="after")
    def _not_blank(self) -> GenerateIn:
        if not self.prompt.strip():
            raise ValueError("prompt is empty")
        return self
