"""docs/configuration.md, written from the settings' groups and their field descriptions.

`python -m pdfprompt.settings > docs/configuration.md` writes it (`COMMAND`); a unit test fails
when the file and the settings disagree.
"""

from __future__ import annotations

import inspect
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from pdfprompt.settings import Settings
from pdfprompt.settings.accounts import AccountsSettings
from pdfprompt.settings.database import DatabaseSettings
from pdfprompt.settings.http import HttpSettings
from pdfprompt.settings.llm import LlmSettings
from pdfprompt.settings.pdf_jobs import PdfJobSettings
from pdfprompt.settings.queue import QueueSettings
from pdfprompt.settings.render import RenderSettings
from pdfprompt.settings.service import ServiceSettings
from pdfprompt.settings.signing import SigningSettings
from pdfprompt.settings.storage import StorageSettings
from pdfprompt.settings.templates import TemplateSettings
from pdfprompt.settings.web import WebSettings
from pdfprompt.settings.webhooks import WebhookSettings

COMMAND = ".venv/bin/python -m pdfprompt.settings > docs/configuration.md"

# The sections of the page, in its order: every field of `Settings` is in exactly one.
GROUPS: tuple[tuple[str, type[BaseModel]], ...] = (
    ("Service", ServiceSettings),
    ("Database", DatabaseSettings),
    ("Storage", StorageSettings),
    ("Queue and workers", QueueSettings),
    ("Rendering", RenderSettings),
    ("LLM", LlmSettings),
    ("Accounts, plans and rate limits", AccountsSettings),
    ("Webhooks", WebhookSettings),
    ("Templates", TemplateSettings),
    ("Web pages (URL jobs)", WebSettings),
    ("Signing", SigningSettings),
    ("PDF jobs", PdfJobSettings),
    ("HTTP API", HttpSettings),
)

# Environment variables that are no field of `Settings`: read by libraries, or for a default.
OTHER_VARIABLES = (
    (
        "`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`",
        "The proxy LLM requests go through (by the scheme of `OPENROUTER_BASE_URL`), unless "
        "`NO_PROXY` names its host; read at start.",
    ),
    (
        "`SSL_CERT_FILE`, `SSL_CERT_DIR`",
        "More certificate authorities to trust for an HTTPS LLM provider, besides the "
        "system's and certifi's.",
    ),
    (
        "`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`, …",
        "Credentials and configuration of S3 storage, as boto3 reads them (or an instance role).",
    ),
    ("`XDG_DATA_HOME`", "Where the default data directory goes."),
)

INTRO = f"""\
# Configuration

<!-- Generated from src/pdfprompt/settings/ by `{COMMAND}`.
     Edit the field descriptions there, not this file: a unit test fails when they differ. -->

pdfprompt reads its configuration from environment variables, once, when a process starts;
a bad value stops the start with a message naming the variable. Names operators already
know keep their plain form (`DATABASE_URL`, `MAX_PDF_CONCURRENCY`, `OPENROUTER_API_KEY`, …);
the others start with `PDFPROMPT_`. With nothing set, pdfprompt runs its embedded default:
a SQLite database and the PDFs under the data directory, Chromium when one is found, and
prompts typeset as Markdown until an LLM key is set.

The settings are grouped by the part of pdfprompt that reads them
(`src/pdfprompt/settings/`, one module per group). Units are in the "value" column.
"""

UNITS = {
    "_s": "seconds",
    "_ms": "milliseconds",
    "_mb": "MiB",
    "_days": "days",
    "_bytes": "bytes",
    "_chars": "characters",
}


def configuration_markdown() -> str:
    """The text of docs/configuration.md."""
    covered = [name for _, group in GROUPS for name in group.model_fields]
    if sorted(covered) != sorted(Settings.model_fields):
        raise ValueError(f"GROUPS must hold every field of Settings once; they hold {covered}")
    parts = [INTRO]
    for title, group in GROUPS:
        parts.append(f"\n## {title}\n\n{inspect.cleandoc(group.__doc__ or '')}\n\n")
        parts.append("| variable | default | value | description |\n|---|---|---|---|\n")
        for name, field in group.model_fields.items():
            cells = (_variables(name, field), _default(field), _value(name, field))
            parts.append(_row(*cells, _description(name, field)))
    parts.append(
        "\n## Other variables\n\nNot settings of pdfprompt's own, but they change what it does.\n\n"
    )
    parts.append("| variable | description |\n|---|---|\n")
    for variables, description in OTHER_VARIABLES:
        parts.append(_row(variables, description))
    return "".join(parts)


def _row(*cells: str) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |\n"


def _extra(field: FieldInfo, key: str) -> str | None:
    extra = field.json_schema_extra
    value = extra.get(key) if isinstance(extra, dict) else None
    return value if isinstance(value, str) else None


def _variables(name: str, field: FieldInfo) -> str:
    shown = _extra(field, "variables")
    if shown is not None:
        return shown
    alias = field.validation_alias
    choices = getattr(alias, "choices", None)
    if not choices:
        raise ValueError(f"Settings.{name} names no environment variable")
    return ", ".join(f"`{choice}`" for choice in choices)


def _description(name: str, field: FieldInfo) -> str:
    if not field.description:
        raise ValueError(f"Settings.{name} has no description")
    return " ".join(field.description.split())


def _default(field: FieldInfo) -> str:
    shown = _extra(field, "shown_default")
    if shown is not None:
        return shown
    value = field.default
    if value is None or value == "":
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def _value(name: str, field: FieldInfo) -> str:
    kind = _extra(field, "value") or _kind(field.annotation)
    unit = next((unit for suffix, unit in UNITS.items() if name.endswith(suffix)), None)
    if unit is not None and kind in ("integer", "number"):
        kind = unit
    if kind == "text" and name.endswith("_url"):
        kind = "URL"
    if kind == "text" and name.endswith(("_dir", "_path", "_file")):
        kind = "path"
    bounds = [_bound(item) for item in field.metadata]
    return " ".join([kind, ", ".join(b for b in bounds if b)]).strip()


def _kind(annotation: Any) -> str:
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (Union, types.UnionType) and len(args) == 1:
        return _kind(args[0])
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in get_args(annotation))
    if get_origin(annotation) is tuple:
        return "secrets" if args and args[0] is SecretStr else "list"
    known = {
        bool: "`true` or `false`",
        int: "integer",
        float: "number",
        SecretStr: "secret",
        Path: "path",
    }
    return known.get(annotation, "text")


def _bound(item: object) -> str:
    """`Field(ge=1)` and its kin, as pydantic keeps them (annotated-types' `Ge(ge=1)`)."""
    signs = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))
    for attribute, sign in signs:
        limit = getattr(item, attribute, None)
        if isinstance(limit, int | float):
            return f"{sign} {limit}"
    return ""
