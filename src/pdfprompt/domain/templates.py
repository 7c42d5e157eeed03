"""Templates as the product sees them: a named design with immutable versions, and how a
job names one (`tpl_…`, `tpl_…@3`, `NAME`, `NAME@3`)."""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pdfprompt.domain.errors import InvalidInputError

TEMPLATE_ID_PATTERN = r"^tpl_[0-9a-f-]{1,36}$"
TEMPLATE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,99}$"
_NAME = re.compile(TEMPLATE_NAME_PATTERN)
_ID = re.compile(TEMPLATE_ID_PATTERN)
MAX_TEMPLATE_VERSION = 1_000_000


class TemplateEngine(enum.StrEnum):
    HTML = "html"
    MARKDOWN = "markdown"


@dataclass(frozen=True, slots=True)
class Template:
    """One version of a template (`body`, `schema`, `sample_data` and `options` are those of
    `version`; `latest_version` is the template's newest)."""

    id: str
    user_id: str
    name: str
    engine: TemplateEngine
    version: int
    latest_version: int
    body: str
    schema: dict[str, Any] | None
    sample_data: Any
    options: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    version_created_at: datetime


@dataclass(frozen=True, slots=True)
class TemplateSummary:
    id: str
    name: str
    engine: TemplateEngine
    latest_version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class TemplateRef:
    """What a job names: a template by id or by name, at a version or its latest (None)."""

    id: str | None
    name: str | None
    version: int | None


def check_template_name(name: str, field: str = "name") -> str:
    if not _NAME.match(name) or name != name.strip():
        raise InvalidInputError(
            f"{field}: 1 to 100 letters, digits, spaces, '.', '_' or '-', starting with a "
            "letter or digit, no leading or trailing space",
            field=field,
        )
    return name


def parse_template_ref(ref: str, field: str = "template") -> TemplateRef:
    """`tpl_…`, `tpl_…@N`, `NAME` or `NAME@N`; `InvalidInputError` on `field` otherwise."""
    base, at, version_text = ref.rpartition("@") if "@" in ref else (ref, "", "")
    version: int | None = None
    if at:
        if not version_text.isdigit() or not 1 <= int(version_text) <= MAX_TEMPLATE_VERSION:
            raise InvalidInputError(
                f"{field}: the version after '@' must be a whole number from 1", field=field
            )
        version = int(version_text)
    if _ID.match(base):
        return TemplateRef(base, None, version)
    if _NAME.match(base):
        return TemplateRef(None, base, version)
    raise InvalidInputError(
        f"{field}: name a template by its id (tpl_…) or its name, optionally with @VERSION",
        field=field,
    )


@dataclass(frozen=True, slots=True)
class TemplateInput:
    """What a template job keeps as its input: a copy of the version it fills (so that
    deleting the template never changes a queued job) and the data."""

    template_id: str
    version: int
    engine: TemplateEngine
    body: str
    data: Any
    preview: bool = False  # a preview: stamped PREVIEW, reserves no quota

    def to_text(self) -> str:
        return json.dumps(
            {
                "template": {"id": self.template_id, "version": self.version},
                "engine": self.engine.value,
                "body": self.body,
                "data": self.data,
                "preview": self.preview,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_text(cls, text: str) -> TemplateInput:
        value = json.loads(text)
        return cls(
            template_id=value["template"]["id"],
            version=value["template"]["version"],
            engine=TemplateEngine(value["engine"]),
            body=value["body"],
            data=value["data"],
            preview=bool(value.get("preview")),
        )


def template_of_input(text: str) -> dict[str, Any] | None:
    # (for `TEMPLATE_JOBS`: a template job, and a template_generate job once it saved one)
    """`{"id", "version"}` of the template a template job's input fills (None if unreadable)."""
    try:
        ref = json.loads(text)["template"]
        return {"id": str(ref["id"]), "version": int(ref["version"])}
    except (ValueError, KeyError, TypeError):
        return None
