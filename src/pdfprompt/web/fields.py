"""Reading the fields of a posted form into the API's request schemas (`api.schemas`), so a
page checks its input by the same rules as the API: whole numbers, checkbox groups, and
the schema's refusals, and the rules' (`sentence`), as messages shown next to their field."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

_WHOLE = re.compile(r"^[0-9]{1,18}$")  # ASCII digits that fit a 64-bit integer


def whole_number(form: dict[str, str], name: str, errors: dict[str, str]) -> int | None:
    """The field as a whole number; None when empty; otherwise an error for it."""
    text = form.get(name, "").strip()
    if not text:
        return None
    if not _WHOLE.match(text):
        errors[name] = "Enter a whole number."
        return None
    return int(text)


def checked(form: dict[str, str], prefix: str, choices: Iterable[str]) -> list[str]:
    """The choices whose checkbox (`PREFIX + choice`) was posted, in the order given."""
    return [c for c in choices if f"{prefix}{c}" in form]


def validated(
    model: type[M], values: dict[str, Any], errors: dict[str, str], messages: dict[str, str]
) -> M | None:
    """`values` as `model`, or None with an error per refused field: the message given
    for that field in `messages`, else the schema's own words."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        for problem in exc.errors(include_url=False):
            field = str(problem["loc"][0]) if problem["loc"] else "form"
            errors.setdefault(field, messages.get(field, str(problem["msg"]) + "."))
        return None


def sentence(text: str) -> str:
    """A rule's message as a sentence: no `Value error, ` or `options.margin: ` prefix,
    capitalised, ending in a full stop."""
    text = text.removeprefix("Value error, ")
    head, colon, rest = text.partition(": ")
    if colon and " " not in head:
        text = rest
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
