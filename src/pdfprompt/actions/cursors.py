"""Numeric cursors and ids as a client writes them in a path or a query."""

from __future__ import annotations

import re

from pdfprompt.domain import InvalidInputError

NUMERIC_CURSOR = r"^[0-9]{1,18}$"  # ASCII digits that fit a 64-bit integer
_INTEGER = re.compile(NUMERIC_CURSOR)


def integer_cursor(value: str | None, field: str = "cursor") -> int | None:
    """A numeric cursor or id from a query or path: ASCII digits that fit a 64-bit integer
    (`str.isdigit` also passes superscripts and other scripts' digits that `int` refuses)."""
    if value is None or value == "":
        return None
    if not _INTEGER.match(value):
        raise InvalidInputError(f"{field}: not a cursor this endpoint gave", field=field)
    return int(value)
