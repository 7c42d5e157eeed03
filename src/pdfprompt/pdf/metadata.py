"""Document information (author, subject, keywords) Chromium cannot set, and outline titles
Chromium gets wrong."""

from __future__ import annotations

from html.parser import HTMLParser

from pypdf.generic import DictionaryObject, IndirectObject, NameObject, TextStringObject

from pdfprompt.domain import RenderOptions
from pdfprompt.pdf.update import PdfUpdate, dictionary

_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})


def needs_rewrite(options: RenderOptions) -> bool:
    return bool(options.author or options.subject or options.keywords or options.outline)


def rewrite(update: PdfUpdate, options: RenderOptions, document: str) -> None:
    """Title, author, subject and keywords into the PDF's information dictionary, and its
    outline's titles mended (`mended_title`); only what differs is changed."""
    if options.outline:
        for ref, item in _mend_outline(update.root, heading_texts(document)):
            update.change(ref, item)
    update.set_information(_information(options))


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


def _mend_outline(
    root: DictionaryObject, headings: set[str]
) -> list[tuple[IndirectObject, DictionaryObject]]:
    """Mend the outline's titles in place (`mended_title`); the entries changed, with their
    references."""
    changed = []
    for ref, item in outline_items(root):
        title = str(item.get("/Title", ""))
        mended = mended_title(title, headings)
        if mended != title:
            item[NameObject("/Title")] = TextStringObject(mended)
            changed.append((ref, item))
    return changed


def outline_items(root: DictionaryObject) -> list[tuple[IndirectObject, DictionaryObject]]:
    """Every entry of the document's outline (bookmarks), with its reference."""
    if "/Outlines" not in root:
        return []
    outlines = dictionary(root["/Outlines"])
    found: list[tuple[IndirectObject, DictionaryObject]] = []
    pending = [outlines.raw_get("/First")] if "/First" in outlines else []
    while pending:
        ref = pending.pop()
        item = dictionary(ref)
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
