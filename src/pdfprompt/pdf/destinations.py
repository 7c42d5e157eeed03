"""Where a PDF's named destinations are: Chromium names one for every element a link of the
document points to (`<a href="#results">` → `/results`), so the page each heading of a
table of contents landed on can be read back from the PDF."""

from __future__ import annotations

import io

from pypdf import PdfReader
from pypdf.errors import PdfReadError

# A table of contents links to a few hundred headings at most; a PDF naming more is read
# no further (the numbers are a courtesy, not worth an unbounded read).
MAX_DESTINATIONS = 5_000


def destination_pages(data: bytes) -> dict[str, int]:
    """Each named destination of the PDF and its page, numbered from 1; `{}` when the PDF
    names none or cannot be read."""
    try:
        reader = PdfReader(io.BytesIO(data))
        named = reader.named_destinations
        pages: dict[str, int] = {}
        for name, destination in list(named.items())[:MAX_DESTINATIONS]:
            number = reader.get_destination_page_number(destination)
            if number is not None and number >= 0:
                pages[name.removeprefix("/")] = number + 1
        return pages
    except (PdfReadError, ValueError, KeyError, TypeError):
        return {}
