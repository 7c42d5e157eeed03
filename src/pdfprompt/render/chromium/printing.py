"""What Chromium is asked to print (`Page.printToPDF`'s parameters), what its refusals mean,
and how many pages it printed."""

from __future__ import annotations

import re
from typing import Any

from pdfprompt.domain import (
    InvalidInputError,
    RenderOptions,
    RenderRefusedError,
    inches,
    page_spans,
)
from pdfprompt.render.chromium.cdp import CdpError
from pdfprompt.render.document import chromium_header_footer

# Chromium's words for the print parameters it refuses, and the option each is about.
_REFUSED_OPTIONS = (
    ("content area", "options.margin"),
    ("margin", "options.margin"),
    ("paper width", "options.width"),
    ("paper height", "options.height"),
    ("scale", "options.scale"),
    ("page range", "options.page_ranges"),
)
_PAGE_OBJECT = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def print_parameters(options: RenderOptions, max_pages: int | None = None) -> dict[str, Any]:
    """CDP `Page.printToPDF` parameters for the options; with `max_pages`, at most one page
    more than that is printed (enough to tell the document is over it). Tagging and the
    outline are off unless asked for (`tagged`, `outline`): they cost CPU and bytes
    (docs/render.md, "Tagging and the outline")."""
    width, height = options.paper_inches
    margin = options.page_margin
    params: dict[str, Any] = {
        "landscape": bool(options.landscape),
        "printBackground": options.print_background,
        "scale": options.scale,
        "paperWidth": width,
        "paperHeight": height,
        # Chromium prints with these where the document's @page names no margin; margins
        # the request names are also made to win over the document's (`with_page_rules`).
        "marginTop": inches(margin.top),
        "marginRight": inches(margin.right),
        "marginBottom": inches(margin.bottom),
        "marginLeft": inches(margin.left),
        # The page size is the @page size: the request's (`with_page_rules`), else the
        # document's, else the paper's.
        "preferCSSPageSize": True,
        # Chromium builds the outline from the tags: an outline needs a tagged PDF.
        "generateTaggedPDF": options.tagged or options.outline,
        "generateDocumentOutline": options.outline,
    }
    if options.header_html or options.footer_html:
        params["displayHeaderFooter"] = True
        params["headerTemplate"] = chromium_header_footer(options.header_html)
        params["footerTemplate"] = chromium_header_footer(options.footer_html)
    if max_pages is not None:
        params["pageRanges"] = capped_ranges(options.page_ranges, max_pages + 1)
    elif options.page_ranges:
        params["pageRanges"] = options.page_ranges
    return params


def capped_ranges(ranges: str | None, most: int) -> str:
    """Page ranges that pick at most `most` pages: the first `most` of `ranges`, or of the
    whole document when there are none. Chromium skips pages a range names beyond the
    document's end, so a document of 50,000 pages is laid out but never painted past the
    limit: over the limit, a render ends in seconds instead of at the timeout."""
    if not ranges:
        return f"1-{most}"
    merged: list[tuple[int, int]] = []
    for first, last in sorted(page_spans(ranges)):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    picked: list[str] = []
    for first, last in merged:
        last = min(last, first + most - 1)
        picked.append(f"{first}-{last}")
        most -= last - first + 1
        if most == 0:
            break
    return ",".join(picked)


def refused_print(exc: CdpError, options: RenderOptions) -> InvalidInputError | RenderRefusedError:
    """The permanent error for a print Chromium refused twice: the option it names, when its
    message names one, else the document with these options."""
    said = exc.message.lower()
    if "exceeds page count" in said:
        return InvalidInputError(
            f"options.page_ranges: {options.page_ranges!r} picks no page of the document",
            field="options.page_ranges",
        )
    for words, option in _REFUSED_OPTIONS:
        if words in said:
            return InvalidInputError(
                f"{option}: Chromium cannot print with these options ({exc.message})",
                field=option,
            )
    return RenderRefusedError(f"Chromium cannot print this document with these options: {exc}")


def count_pages(pdf: bytes) -> int:
    """Pages in a PDF Chromium wrote (its page objects are not in compressed streams)."""
    return len(_PAGE_OBJECT.findall(pdf))
