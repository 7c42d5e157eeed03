"""What a Markdown document may ask of the converter before it is parsed. A GitHub table
gives every row as many cells as its header has columns, whatever the row holds: a header
of 1,000 columns over 50,000 one-cell rows (200 KB of Markdown) would become 500 MB of
HTML. The cells are counted from the text, in one pass, before any parsing."""

from __future__ import annotations

import re

from pdfprompt.domain.errors import InvalidInputError

MAX_TABLE_CELLS = 250_000
# A table's delimiter row (`|---|:--:|`): its columns are its cells of dashes.
_DELIMITER_ROW = re.compile(r"^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_COLUMN = re.compile(r":?-+:?")


def table_cells(text: str) -> int:
    """An upper bound of the cells the document's tables make: for each delimiter row with
    a `|`, its columns times the lines from the one above it to the next blank line."""
    cells = 0
    lines = text.splitlines()
    columns = 0
    for line in lines:
        if columns:
            if not line.strip():
                columns = 0
                continue
            cells += columns
            continue
        if "|" in line and "-" in line and _DELIMITER_ROW.match(line) is not None:
            columns = len(_COLUMN.findall(line))
            cells += 2 * columns  # the header and the delimiter row itself
    return cells


def check_markdown(text: str, field: str = "input") -> None:
    """An `InvalidInputError` naming `field` when the document's tables would make more
    than MAX_TABLE_CELLS cells."""
    cells = table_cells(text)
    if cells > MAX_TABLE_CELLS:
        raise InvalidInputError(
            f"{field}: its tables make {cells:,} cells, more than {MAX_TABLE_CELLS:,} (each "
            "row of a table has as many cells as its header has columns)",
            field=field,
        )
