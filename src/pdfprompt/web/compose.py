"""The new-document form: its fields, the example prompts, and reading a posted form into
a job through the API's own schema (`JobIn`, whose `OptionsIn` holds the rules of every
option), with each error put next to the field it concerns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from pdfprompt.api.schemas import JobIn
from pdfprompt.domain import (
    DOCUMENT_KINDS,
    MAX_HEADER_FOOTER_CHARS,
    MAX_TEXT_FIELD_CHARS,
    PAPER_FORMATS,
    TONES,
    InvalidInputError,
)
from pdfprompt.web.fields import sentence

SIDES = ("top", "right", "bottom", "left")
FIELDS = (
    "type",
    "input",
    "tone",
    "document_kind",
    "title",
    "format",
    "orientation",
    *(f"margin_{side}" for side in SIDES),
    "header_html",
    "footer_html",
)
# Fields inside the folded options panel: an error in one opens it.
OPTION_FIELDS = frozenset(FIELDS[4:])
TYPES = {"prompt": "A description", "markdown": "Markdown", "html": "HTML"}
# What a submission may carry beside its input: the options and the token. Under the 64 KiB
# the server takes beside an input at all (`PDFPROMPT_MAX_INPUT_BYTES`), so that a form too
# large is answered by a page.
FORM_OVERHEAD_BYTES = 32 * 1024


def form_cap(max_input_bytes: int) -> int:
    """The largest new-document form read: the largest input percent-encoded (3 bytes a
    byte) and the other fields."""
    return max_input_bytes * 3 + FORM_OVERHEAD_BYTES


@dataclass(frozen=True, slots=True)
class Example:
    label: str
    text: str
    tone: str
    kind: str


EXAMPLES = (
    Example(
        "An invoice",
        "Invoice from Studio Ellis, 14 Harbour Row, Bristol, to ACME Corp for three days of "
        "design work in March at 650 EUR a day, VAT 20%, payable within 30 days.",
        "formal",
        "invoice",
    ),
    Example(
        "Meeting notes",
        "Notes of the team meeting on 4 June: we ship version 2 in July; Ana owns the release "
        "checklist; Tom drafts the announcement; open question: pricing for schools.",
        "concise",
        "notes",
    ),
    Example(
        "A cover letter",
        "A cover letter for a junior data analyst post at the city library, from someone who "
        "ran its volunteer reading programme for two years and taught herself SQL.",
        "friendly",
        "letter",
    ),
    Example(
        "A café menu",
        "A one-page menu for a small café: six coffees, four teas, three cakes and a soup of "
        "the day, with prices in pounds and a note that oat milk is free.",
        "neutral",
        "menu",
    ),
)


def blank() -> dict[str, str]:
    """The form's values before anything is typed."""
    values = dict.fromkeys(FIELDS, "")
    values.update(type="prompt", orientation="portrait")
    return values


def example(number: str) -> dict[str, str]:
    """The form filled with example `number` (as the link `/?example=N` gives it); blank
    for anything else (`str.isdigit` would pass superscripts and numbers too long for
    `int`: the link's text is looked up, never converted)."""
    values = blank()
    chosen = {str(i): e for i, e in enumerate(EXAMPLES)}.get(number)
    if chosen is not None:
        values.update(input=chosen.text, tone=chosen.tone, document_kind=chosen.kind)
    return values


def choices() -> dict[str, Any]:
    """What the form's selects offer, and its fields' caps."""
    return {
        "types": TYPES,
        "tones": TONES,
        "kinds": DOCUMENT_KINDS,
        "formats": PAPER_FORMATS,
        "sides": SIDES,
        "examples": EXAMPLES,
        "max_text": MAX_TEXT_FIELD_CHARS,
        "max_header": MAX_HEADER_FOOTER_CHARS,
    }


def values_of(form: dict[str, str]) -> dict[str, str]:
    """The posted fields the form has (others are ignored), newlines as typed: a browser
    sends a textarea's line ends as CRLF, which would count twice against a limit."""
    values = blank()
    for name in FIELDS:
        if name in form:
            values[name] = form[name].replace("\r\n", "\n")
    return values


def job_of(values: dict[str, str]) -> tuple[JobIn | None, dict[str, str]]:
    """The job the form asks for, checked by the API's schema; or the errors by field."""
    options: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in ("title", "format"):
        if values[name].strip():
            options[name] = values[name].strip()
    for name in ("header_html", "footer_html"):
        if values[name].strip():
            options[name] = values[name]
    if values["orientation"] == "landscape":
        options["landscape"] = True
    elif values["orientation"] not in ("", "portrait"):
        errors["orientation"] = "Choose portrait or landscape."
    margin = {s: values[f"margin_{s}"].strip() for s in SIDES if values[f"margin_{s}"].strip()}
    if margin:
        options["margin"] = margin
    if values["type"] == "prompt":
        for name in ("tone", "document_kind"):
            if values[name]:
                options[name] = values[name]
    if values["type"] not in TYPES:
        errors["type"] = "Choose a description, Markdown or HTML."
    try:
        job = JobIn.model_validate(
            {"type": values["type"], "input": values["input"], "options": options}
        )
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            field = field_of(tuple(str(part) for part in error["loc"]))
            errors.setdefault(field, message_of(field, error))
        return None, errors
    except InvalidInputError as exc:  # page geometry, checked as a whole
        errors[field_of(tuple((exc.field or "").split(".")))] = sentence(exc.message)
        return None, errors
    return (None, errors) if errors else (job, errors)


def field_of(loc: tuple[str, ...]) -> str:
    """The form field a schema error's location (`("options", "margin", "top")`) is about;
    `form` for one about no single field."""
    if loc in ((), ("input",)):
        return "input"  # the only check of the whole job: the input is blank
    if loc[:2] == ("input", "front_matter"):
        return "input"  # a Markdown document's front matter (docs/markdown.md)
    if loc == ("type",):
        return "type"
    if loc[:1] != ("options",) or len(loc) < 2:
        return "form"
    name = loc[1]
    if name == "margin":
        return f"margin_{loc[2]}" if len(loc) > 2 and loc[2] in SIDES else "margin_top"
    if name == "landscape":
        return "orientation"
    return name if name in FIELDS else "form"


def message_of(field: str, error: Any) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if field == "input" and kind in ("value_error", "string_too_short", "missing"):
        return "Write or paste something first: the box is empty."
    if kind == "string_too_long":
        return f"At most {ctx.get('max_length', 0):,} characters."
    if kind == "literal_error":
        return "Choose one of the values offered."
    return sentence(str(error.get("msg", "This value is not accepted.")))
