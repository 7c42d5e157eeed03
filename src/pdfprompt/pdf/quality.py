"""The PDF half of the print-quality check: pages that print nothing, and glyphs no installed
font has (printed as `.notdef`, an empty box). Read from the PDF's structure, never by
rasterising: each page's content stream is decompressed once and scanned.

A page is blank when its content paints nothing: no text shown, no image or form drawn, no
shading and no path filled or stroked (any engine's PDF). A missing glyph is glyph 0
(`.notdef`) shown from a two-byte (`Identity-H`) font, as Chromium (Skia) writes every font
it embeds; the character it stood for is read from the `/ActualText` Chromium puts around
it, where there is one. Other producers' codes are not glyph ids (WeasyPrint's own CMaps),
so their PDFs are checked for blank pages only."""

from __future__ import annotations

import io
import re
from typing import cast

import pikepdf
from zlib_ng import zlib_ng

from pdfprompt.domain import JobWarning, blank_page_warning, missing_glyphs_warning

# The operators that paint: text, XObjects, shadings, and path painting (not `n`, which
# ends a path used only to clip).
_PAINTS = re.compile(
    rb"(?<![A-Za-z0-9_*'\"/])(?:Tj|TJ|'|\"|Do|sh|f\*?|F|S|s|B\*?|b\*?)(?![A-Za-z0-9_*])"
)
# A hex string shown with Tj, or the strings of a TJ array.
_SHOWN_HEX = re.compile(rb"<([0-9A-Fa-f\s]*)>\s*Tj|\[([^\]]{0,100000})\]\s*TJ")
_HEX = re.compile(rb"<([0-9A-Fa-f\s]*)>")
# The hex digits that follow a `<` (a string when a `>` ends them).
_HEX_RUN = re.compile(rb"[0-9A-Fa-f]*")
_ACTUAL_TEXT = re.compile(
    rb"/ActualText\s*<FEFF([0-9A-Fa-f]*)>\s*>>\s*BDC\s*[^<\[]{0,200}<0000>\s*Tj"
)
# zlib-ng's error (its stub declares an instance of it, not the class).
_DAMAGED = cast("type[Exception]", zlib_ng.error)
# Pages past this many are not looked at (the check stays cheap on a document of hundreds).
MAX_CHECKED_PAGES = 200


def printed_findings(pdf: bytes) -> tuple[JobWarning, ...]:
    """The blank pages and missing glyphs of a PDF, as warnings (none for a PDF that cannot
    be read: the check never fails a job)."""
    try:
        # Only the pages' own /Contents is read: nothing inherited needs copying down.
        document = pikepdf.open(io.BytesIO(pdf), inherit_page_attributes=False)
    except pikepdf.PdfError:
        return ()
    blank: list[int] = []
    warnings: list[JobWarning] = []
    with document:
        # Chromium (Skia) shows glyph ids; another producer's codes may mean other glyphs.
        glyph_ids = "Skia" in str(document.docinfo.get("/Producer", ""))
        for number, page in enumerate(document.pages[:MAX_CHECKED_PAGES], start=1):
            try:
                content = _content(page)
            except pikepdf.PdfError:
                continue
            if not _PAINTS.search(content):
                blank.append(number)
                continue
            if glyph_ids and shows_notdef(content):
                missing, chars = _notdef(content)
                if missing:
                    warnings.append(missing_glyphs_warning(number, missing, chars))
    if blank:
        warnings.insert(0, blank_page_warning(blank))
    return tuple(warnings)


def shows_notdef(content: bytes) -> bool:
    """Whether a hex string of `content` has glyph 0 at a glyph's place: `0000` a multiple
    of four digits after the string's `<` (what `<(?:[0-9A-Fa-f]{4})*0000[0-9A-Fa-f]*>`
    finds). Found from the occurrences of `0000` with `bytes.find`, scanning each byte a
    bounded number of times: the regular expression tried every `<` of the page (a 20-page
    report's 1.5 MB of content took 7 ms; this, about 1 ms, most of it `find`'s pass over
    the page's many zeros)."""
    at = content.find(b"0000")
    lt = -1  # the last `<` before `at`
    scanned = 0  # content[lt + 1 : scanned] holds no `<`
    run_of, run_end = -1, -1  # the `<` whose hex digits were last read, and where they end
    while at >= 0:
        found = content.rfind(b"<", scanned, at)
        if found >= 0:
            lt = found
        scanned = at
        if lt >= 0:
            if run_of != lt:
                run_of = lt
                matched = _HEX_RUN.match(content, lt + 1)
                run_end = matched.end() if matched else lt + 1
            in_string = run_end >= at + 4 and content[run_end : run_end + 1] == b">"
            if in_string and (at - lt - 1) % 4 == 0:
                return True
        at = content.find(b"0000", at + 1)
    return False


def _content(page: pikepdf.Page) -> bytes:
    """A page's content streams, decompressed and joined."""
    contents = page.obj.get("/Contents")
    parts = contents if isinstance(contents, pikepdf.Array) else [contents]
    # Anything but a stream (none, a null, a number) holds no content.
    return b"\n".join(_decoded(part) for part in parts if isinstance(part, pikepdf.Stream))


def _decoded(stream: pikepdf.Stream) -> bytes:
    """A stream's data decoded. Flate alone, as Chromium and WeasyPrint write content, is
    inflated by zlib-ng, twice as fast as the zlib qpdf uses (qpdf's decoding was about half
    of the check's time on a 20-page report: 2.4 of 5.2 ms); any other filter, and data
    zlib-ng finds damaged, by qpdf, which reads what it can."""
    if stream.get("/Filter") == pikepdf.Name.FlateDecode and "/DecodeParms" not in stream:
        try:
            return zlib_ng.decompress(stream.read_raw_bytes())
        except _DAMAGED:
            pass
    return bytes(stream.read_bytes())


def _notdef(content: bytes) -> tuple[int, list[str]]:
    """How many glyphs 0 the content shows from two-byte strings, and the characters the
    PDF says some of them stand for."""
    missing = 0
    for shown in _SHOWN_HEX.finditer(content):
        if shown.group(1) is not None:
            strings = [shown.group(1)]
        else:
            strings = [m.group(1) for m in _HEX.finditer(shown.group(2))]
        for string in strings:
            digits = re.sub(rb"\s", b"", string)
            missing += sum(1 for i in range(0, len(digits) - 3, 4) if digits[i : i + 4] == b"0000")
    chars = []
    for named in _ACTUAL_TEXT.finditer(content):
        try:
            chars.append(bytes.fromhex(named.group(1).decode()).decode("utf-16-be"))
        except ValueError:
            continue
    return missing, [c for text in chars for c in text]
