"""The finishing options' request shapes (watermark, stamp, attachments, PDF/A, PDF/UA,
encryption; `docs/finishing.md`), and the checks that span several of them
(`check_finishing`), each naming the field it refuses."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, model_validator
from typing_extensions import TypedDict

from pdfprompt.domain import (
    MARK_POSITIONS,
    MAX_ATTACHMENTS,
    MAX_MARK_TEXT_CHARS,
    MAX_PASSWORD_CHARS,
    REDACTED,
    RELATIONSHIPS,
    InvalidInputError,
    check_css_length,
    check_page_ranges,
)

if TYPE_CHECKING:
    from pdfprompt.api.schemas import OptionsIn


class Strict(BaseModel):
    """As `schemas.Strict` (which imports this module): unknown fields refused, values only
    in their JSON type."""

    model_config = ConfigDict(extra="forbid", strict=True)


# An asset by id or name, with or without `asset:`.
ASSET_OPTION_PATTERN = r"^(asset:)?(ast_[0-9a-f-]{36}|[A-Za-z0-9][A-Za-z0-9._-]{0,99})$"
COLOR_PATTERN = r"^#[0-9A-Fa-f]{6}$"
# An attachment's file name: no path separators or control characters.
ATTACHMENT_NAME_PATTERN = r"^[^\x00-\x1f\x7f/\\]{1,200}$"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _drawable(value: str) -> str:
    # The marks' font has the Windows-1252 characters (the pdf room's `mark_text_error`).
    for char in value:
        if _CONTROL.match(char):
            raise ValueError(f"control character U+{ord(char):04X} cannot be drawn")
        try:
            char.encode("cp1252")
        except UnicodeEncodeError:
            raise ValueError(
                f"character {char!r} cannot be drawn (marks take the Latin characters of "
                "Windows-1252)"
            ) from None
    if not value.strip():
        raise ValueError("is blank")
    return value


def _length(value: str) -> str:
    try:
        return check_css_length(value, "value")
    except InvalidInputError:
        raise ValueError("must be a CSS length such as '40mm', '2in' or '200px'") from None


def _ranges(value: str) -> str:
    try:
        return check_page_ranges(value)
    except InvalidInputError:
        raise ValueError("must list pages such as '1-3, 5'") from None


def _password(value: str) -> str:
    size = len(value.encode("utf-8"))
    if size > MAX_PASSWORD_CHARS:
        raise ValueError(f"is {size} bytes in UTF-8; AES-256 passwords are at most 127")
    if _CONTROL.search(value):
        raise ValueError("must not hold control characters")
    if value == REDACTED:  # a job's or template's options sent back as they were shown
        raise ValueError("is how a password is shown, not a password")
    return value


AssetOption = Annotated[str, Field(max_length=110, pattern=ASSET_OPTION_PATTERN)]
Password = Annotated[
    str, Field(min_length=1, max_length=MAX_PASSWORD_CHARS), AfterValidator(_password)
]


class MarkIn(Strict):
    """A watermark or stamp: `text` or `image` (an image asset), not both."""

    text: (
        Annotated[
            str, Field(min_length=1, max_length=MAX_MARK_TEXT_CHARS), AfterValidator(_drawable)
        ]
        | None
    ) = None
    image: AssetOption | None = None
    font_size: Annotated[float, Field(ge=4, le=500)] | None = None
    color: Annotated[str, Field(pattern=COLOR_PATTERN)] | None = None
    opacity: Annotated[float, Field(ge=0, le=1)] | None = None
    angle: Annotated[float, Field(ge=-360, le=360)] | None = None
    position: Literal[MARK_POSITIONS] | None = None  # type: ignore[valid-type]
    pages: Annotated[str, Field(max_length=200), AfterValidator(_ranges)] | None = None
    width: Annotated[str, Field(max_length=32), AfterValidator(_length)] | None = None

    @model_validator(mode="after")
    def _one(self) -> MarkIn:
        if (self.text is None) == (self.image is None):
            raise ValueError("give either text or image")
        if self.image is not None and (self.font_size is not None or self.color is not None):
            raise ValueError("font_size and color are for text marks")
        if self.text is not None and self.width is not None:
            raise ValueError("width is for image marks")
        return self


class AttachmentIn(Strict):
    asset: AssetOption
    name: Annotated[str, Field(pattern=ATTACHMENT_NAME_PATTERN)] | None = None
    description: Annotated[str, Field(max_length=1000)] | None = None
    relationship: Literal[RELATIONSHIPS] | None = None  # type: ignore[valid-type]


class PermissionsIn(TypedDict, total=False):
    """What the user password allows (each true when left out). A TypedDict: a model may
    not have a field named `copy`."""

    __pydantic_config__ = ConfigDict(extra="forbid", strict=True)  # type: ignore[misc]

    print: StrictBool
    copy: StrictBool
    modify: StrictBool
    annotate: StrictBool


class EncryptIn(Strict):
    user_password: Password | None = None
    owner_password: Password | None = None
    permissions: PermissionsIn | None = None

    @model_validator(mode="after")
    def _distinct(self) -> EncryptIn:
        if self.user_password is not None and self.user_password == self.owner_password:
            raise ValueError(
                "owner_password must differ from user_password (the owner's lifts the restrictions)"
            )
        return self


Attachments = Annotated[list[AttachmentIn], Field(max_length=MAX_ATTACHMENTS)]
PdfaLevel = Literal["2b", "3b"]


def check_finishing(options: OptionsIn) -> None:
    """The finishing options that cannot go together, refused naming the field:
    PDF/A-2 with attachments (PDF/A-3 carries them), PDF/A with encryption, PDF/UA on an
    untagged render, two attachments of one name."""
    if options.pdfa == "2b" and options.attachments:
        raise InvalidInputError(
            "options.pdfa: PDF/A-2b files cannot carry attachments; use 3b",
            field="options.pdfa",
        )
    if options.pdfa is not None and options.encrypt is not None:
        raise InvalidInputError(
            "options.encrypt: a PDF/A file cannot be encrypted; drop pdfa or encrypt",
            field="options.encrypt",
        )
    if options.pdfua and options.tagged is False:
        raise InvalidInputError(
            "options.tagged: PDF/UA needs a tagged PDF (leave tagged out or true)",
            field="options.tagged",
        )
    seen: set[str] = set()
    for n, attachment in enumerate(options.attachments or ()):
        name = attachment.name or attachment.asset.removeprefix("asset:")
        if name in seen:
            field = f"options.attachments.{n}.name"
            raise InvalidInputError(f"{field}: {name!r} is attached twice", field=field)
        seen.add(name)
