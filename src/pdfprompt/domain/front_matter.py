"""A Markdown document's front matter: YAML between a leading `---` line and the next `---`
(or `...`) line, read with `yaml.safe_load` within a size cap, and the render options it may
set (docs/markdown.md, "Front matter")."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import yaml

from pdfprompt.domain.errors import InvalidInputError

MAX_FRONT_MATTER_CHARS = 16_384
# The keys that are render options, under the option's name; `date` is shown on a title
# page only, and any other key is kept for the writer's own use and otherwise ignored.
OPTION_KEYS = (
    "title",
    "author",
    "subject",
    "keywords",
    "lang",
    "format",
    "margin",
    "landscape",
    "toc",
    "theme",
    "css",
    "header_html",
    "footer_html",
)
_SCALARS = (str, int, float)
_OPENING = re.compile(r"\A(?:\ufeff)?---[ \t]*\r?\n")
_CLOSING = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.M)


@dataclass(frozen=True, slots=True)
class FrontMatter:
    """What the front matter said (`values`, `{}` when there is none) and the Markdown after
    it (`body`)."""

    values: dict[str, Any] = field(default_factory=dict)
    body: str = ""

    @property
    def options(self) -> dict[str, Any]:
        """The render options it names, as a request would give them: `keywords` as one
        string (a list is joined with commas), `author` likewise, `margin` as the four sides
        (one length sets all four)."""
        found: dict[str, Any] = {}
        for key in OPTION_KEYS:
            if key not in self.values or self.values[key] is None:
                continue
            value = self.values[key]
            # Only a list of plain values is joined: YAML aliases can make a small list of
            # lists stand for billions of items, which str() would write out.
            if (
                key in ("keywords", "author")
                and isinstance(value, list)
                and all(isinstance(v, _SCALARS) for v in value)
            ):
                value = ", ".join(str(v) for v in value)
            if key == "margin" and isinstance(value, str | int | float):
                side = str(value)
                value = {"top": side, "right": side, "bottom": side, "left": side}
            found[key] = value
        return found

    @property
    def date(self) -> str | None:
        """The `date` to show on a title page, as written (a YAML date as YYYY-MM-DD)."""
        value = self.values.get("date")
        if isinstance(value, date | datetime):
            return value.isoformat()
        return str(value)[:200] if isinstance(value, _SCALARS) else None


def split_front_matter(text: str, name: str = "input") -> FrontMatter:
    """The front matter of a Markdown document and the Markdown after it. A document that
    does not begin with a `---` line has none. `InvalidInputError` naming `name` when the
    block is never closed within `MAX_FRONT_MATTER_CHARS`, is not YAML, or is not a mapping
    of names to values."""
    opening = _OPENING.match(text)
    if opening is None:
        return FrontMatter({}, text)
    closing = _CLOSING.search(text, opening.end(), opening.end() + MAX_FRONT_MATTER_CHARS + 1)
    if closing is None:
        if len(text) - opening.end() > MAX_FRONT_MATTER_CHARS:
            raise InvalidInputError(
                f"{name}: the front matter (between the leading --- lines) is over "
                f"{MAX_FRONT_MATTER_CHARS} characters or never closed",
                field=name,
            )
        # A lone `---` first line with no closing one is a thematic break, not front matter.
        return FrontMatter({}, text)
    raw = text[opening.end() : closing.start()]
    try:
        values = yaml.safe_load(raw) if raw.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""
        raise InvalidInputError(
            f"{name}: the front matter is not valid YAML{where}", field=name
        ) from None
    except RecursionError:
        raise InvalidInputError(f"{name}: the front matter nests too deeply", field=name) from None
    if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
        raise InvalidInputError(
            f"{name}: the front matter must be a mapping of names to values (key: value lines)",
            field=name,
        )
    body = text[closing.end() :].removeprefix("\r").removeprefix("\n")
    return FrontMatter(values, body)
