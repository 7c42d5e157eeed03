"""The checks of what a template holds, for the rooms that may not import `generate`
(`actions`): each is `generate`'s, run here."""

from __future__ import annotations

from typing import Any

from pdfprompt import generate
from pdfprompt.domain import TemplateEngine


def check_body(body: str, engine: TemplateEngine, field: str = "body") -> None:
    """The body compiles in the sandbox (`InvalidInputError` on `field` with the line)."""
    generate.check_body(body, engine, field)


def check_schema(schema: Any, field: str = "schema") -> dict[str, Any]:
    """A usable draft 2020-12 JSON Schema with local references only."""
    return generate.check_schema(schema, field)


def check_data(schema: dict[str, Any] | None, data: Any, field: str = "data") -> None:
    """`DataInvalidError` listing every field of `data` that does not fit `schema`."""
    generate.check_data(schema, data, field)
