"""PDF post-processing: document information (author, subject, keywords) Chromium cannot set,
and outline titles Chromium gets wrong."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from typing import Any

from pypdf import PdfReader, PdfWriter
from pypdf.generic import (
    DictionaryObject,
    IndirectObject,
    NameObject,
    NumberObject,
    TextStringObject,
)

from pdfprompt.domain import RenderOptions

_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})


def needs_rewrite(options: RenderOptions) -> bool:
    return bool(options.author or options.subject or options.keywords or options.outline)


def rewritten(pdf: bytes, options: RenderOptions, document: str) -> bytes:
    """The PDF with title, author, subject and keywords in its information dictionary, and
    its outline's titles mended (`mended_title`); the same bytes when nothing differs.

    What changed is appended to the PDF as an incremental update: the objects, a
    cross-reference section for them and a trailer pointing back to the original's. Copying
    the whole document instead (pypdf's writer) cost 29 ms of CPU for the 20-page corpus
    report and 265 ms for it tagged, more than its render. A PDF whose cross-references are
    a stream (WeasyPrint writes such) is copied whole."""
    reader = PdfReader(io.BytesIO(pdf))
    trailer = reader.trailer
    headings = heading_texts(document) if options.outline else None
    changed = {
        ref.idnum: (ref.generation, item)
        for ref, item in _mend_outline(_dictionary(trailer["/Root"]), headings)
    }
    info_ref = trailer.raw_get("/Info") if "/Info" in trailer else None
    info = _dictionary(info_ref) if isinstance(info_ref, IndirectObject) else DictionaryObject()
    wanted = {k: v for k, v in _information(options).items() if str(info.get(k, "")) != v}
    if wanted:
        for key, value in wanted.items():
            info[NameObject(key)] = TextStringObject(value)
        if not isinstance(info_ref, IndirectObject):
            info_ref = IndirectObject(_size(trailer), 0, None)
        changed[info_ref.idnum] = (info_ref.generation, info)
    if not changed:
        return pdf
    update = _incremental_update(pdf, trailer, changed, info_ref)
    return update if update is not None else _copied(pdf, options, headings)


def _information(options: RenderOptions) -> dict[str, str]:
    if not (options.author or options.subject or options.keywords):
        return {}  # Chromium writes the title itself (the document's <title>)
    info = {
        "/Title": options.title,
        "/Author": options.author,
        "/Subject": options.subject,
        "/Keywords": options.keywords,
    }
    return {k: v for k, v in info.items() if v}


_STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF\s*$")


def _incremental_update(
    pdf: bytes,
    trailer: DictionaryObject,
    changed: dict[int, tuple[int, DictionaryObject]],
    info_ref: Any,
) -> bytes | None:
    """`pdf` with the changed objects appended as an incremental update; None when its last
    cross-reference section is not a table (a stream takes a stream to follow it)."""
    found = _STARTXREF.search(pdf[-64:])
    if found is None:
        return None
    previous = int(found.group(1))
    if pdf[previous : previous + 4] != b"xref":
        return None
    out = io.BytesIO()
    out.write(pdf if pdf.endswith(b"\n") else pdf + b"\n")
    offsets: dict[int, int] = {}
    for number in sorted(changed):
        generation, obj = changed[number]
        offsets[number] = out.tell()
        out.write(f"{number} {generation} obj\n".encode())
        obj.write_to_stream(out)
        out.write(b"\nendobj\n")
    at = out.tell()
    out.write(b"xref\n")
    for number in sorted(changed):
        # Each entry is exactly 20 bytes: offset, generation, "n", and a two-byte end.
        out.write(f"{number} 1\n{offsets[number]:010d} {changed[number][0]:05d} n \n".encode())
    new_trailer = DictionaryObject(
        {NameObject(k): trailer.raw_get(k) for k in trailer if k not in ("/Prev", "/Size")}
    )
    size = max(_size(trailer), max(changed) + 1)
    new_trailer[NameObject("/Size")] = NumberObject(size)
    new_trailer[NameObject("/Prev")] = NumberObject(previous)
    if info_ref is not None:
        new_trailer[NameObject("/Info")] = info_ref
    out.write(b"trailer\n")
    new_trailer.write_to_stream(out)
    out.write(f"\nstartxref\n{at}\n%%EOF\n".encode())
    return out.getvalue()


def _copied(pdf: bytes, options: RenderOptions, headings: set[str] | None) -> bytes:
    """The whole PDF copied into a new one with the information and outline titles."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    _mend_outline(writer.root_object, headings)
    information = _information(options)
    if information:
        writer.add_metadata(information)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _dictionary(obj: Any) -> DictionaryObject:
    found = obj.get_object()
    if not isinstance(found, DictionaryObject):
        raise ValueError(f"not a PDF dictionary: {found!r:.80}")
    return found


def _size(trailer: DictionaryObject) -> int:
    size = trailer.get("/Size")
    if not isinstance(size, int):
        raise ValueError("the PDF's trailer has no /Size")
    return size


def _mend_outline(
    root: DictionaryObject, headings: set[str] | None
) -> list[tuple[IndirectObject, DictionaryObject]]:
    """Mend the outline's titles in place (`mended_title`; nothing when `headings` is None,
    no outline was asked for); the entries changed, with their references."""
    if headings is None:
        return []
    changed = []
    for ref, item in _outline_items(root):
        title = str(item.get("/Title", ""))
        mended = mended_title(title, headings)
        if mended != title:
            item[NameObject("/Title")] = TextStringObject(mended)
            changed.append((ref, item))
    return changed


def _outline_items(root: DictionaryObject) -> list[tuple[IndirectObject, DictionaryObject]]:
    """Every entry of the document's outline (bookmarks), with its reference."""
    if "/Outlines" not in root:
        return []
    outlines = _dictionary(root["/Outlines"])
    found: list[tuple[IndirectObject, DictionaryObject]] = []
    pending = [outlines.raw_get("/First")] if "/First" in outlines else []
    while pending:
        ref = pending.pop()
        item = _dictionary(ref)
        found.append((ref, item))
        pending.extend(item.raw_get(k) for k in ("/Next", "/First") if k in item)
    return found


class _HeadingText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._open: list[str] | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HEADINGS:
            if self._open is None:
                self._open = []
            self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _HEADINGS and self._open is not None:
            self._depth -= 1
            if self._depth == 0:
                self.found.append(" ".join("".join(self._open).split()))
                self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open.append(data)


def heading_texts(document: str) -> set[str]:
    """The text of every heading (h1 to h6) of the document, its white space collapsed."""
    parser = _HeadingText()
    parser.feed(document)
    parser.close()
    return set(parser.found)


def mended_title(title: str, headings: set[str]) -> str:
    """Chromium (156) names the outline entry of some headings that begin a page with their
    text twice over ('Results' as 'ResultsResults'; the tagged structure itself holds it
    once). Such a title is put back to the heading's text: only when it is not itself a
    heading of the document and its two halves are the same heading."""
    if title in headings or len(title) % 2:
        return title
    half = title[: len(title) // 2]
    return half if half == title[len(half) :] and half in headings else title
