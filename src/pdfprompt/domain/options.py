"""Render options: what a client may ask of the page and the PDF."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pdfprompt.domain.errors import InvalidInputError

PAPER_FORMATS = ("A3", "A4", "A5", "Letter", "Legal", "Tabloid")
# What a prompt may ask of the LLM's writing (options `tone` and `document_kind`).
TONES = ("neutral", "formal", "friendly", "persuasive", "technical", "concise")
DOCUMENT_KINDS = (
    "document",
    "invoice",
    "report",
    "letter",
    "resume",
    "notes",
    "article",
    "proposal",
    "contract",
    "newsletter",
    "certificate",
    "menu",
)
_LENGTH = re.compile(r"^\s*(\d+(\.\d+)?|\.\d+)\s*(px|in|cm|mm|pt|pc)?\s*$")
_PAGE_RANGES = re.compile(r"^\s*\d+(\s*-\s*\d+)?(\s*,\s*\d+(\s*-\s*\d+)?)*\s*$")
MAX_HEADER_FOOTER_CHARS = 20_000
MAX_TEXT_FIELD_CHARS = 1_000


def check_css_length(value: str, name: str) -> str:
    """A CSS length the renderer understands: a number with px, in, cm, mm, pt or pc."""
    if not _LENGTH.match(value):
        raise InvalidInputError(
            f"{name}: {value!r} is not a length (use a number with px, in, cm, mm, pt or pc)",
            field=name,
        )
    return value.strip()


def check_page_ranges(value: str, name: str = "options.page_ranges") -> str:
    page_spans(value, name)
    return value.replace(" ", "")


def page_spans(ranges: str, name: str = "options.page_ranges") -> list[tuple[int, int]]:
    """The (first, last) page of each range in `ranges` ('1-3, 5'), in the order written;
    `InvalidInputError` naming `name` when it is not a list of non-empty ranges."""
    if not _PAGE_RANGES.match(ranges):
        raise InvalidInputError(
            f"{name}: {ranges!r} is not a list of pages such as '1-3, 5'", field=name
        )
    spans = []
    for part in ranges.split(","):
        bounds = [int(x) for x in part.split("-")]
        if bounds[0] < 1 or bounds[-1] < bounds[0]:
            raise InvalidInputError(f"{name}: range {part.strip()!r} is empty", field=name)
        spans.append((bounds[0], bounds[-1]))
    return spans


def page_numbers(ranges: str, total: int, name: str = "options.page_ranges") -> list[int]:
    """The 1-based page numbers `ranges` ('1-3,5') picks from a `total`-page document, in
    document order, each once. Pages past the end are skipped (as Chromium does); ranges
    that pick no page at all are an error."""
    picked: set[int] = set()
    for first, last in page_spans(ranges, name):
        picked.update(range(first, min(last, total) + 1))
    if not picked:
        raise InvalidInputError(
            f"{name}: {ranges!r} picks no page of the document (it has {total})", field=name
        )
    return sorted(picked)


@dataclass(frozen=True, slots=True)
class Margin:
    top: str = "16mm"
    right: str = "16mm"
    bottom: str = "16mm"
    left: str = "16mm"

    @property
    def css(self) -> str:
        """The four margins as a CSS `margin` value."""
        return f"{self.top} {self.right} {self.bottom} {self.left}"


DEFAULT_FORMAT = "A4"


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """Validated options; build with `RenderOptions.from_dict` at the edges.

    What the request names wins over the document's own `@page` rules; what it leaves out
    (None), the document decides, and failing that pdfprompt's defaults do: A4 portrait,
    16 mm margins (`size_named`, `css_size`, `page_margin`)."""

    format: str | None = None
    width: str | None = None
    height: str | None = None
    landscape: bool | None = None
    margin: Margin | None = None
    scale: float = 1.0
    print_background: bool = True
    header_html: str | None = None
    footer_html: str | None = None
    page_ranges: str | None = None
    title: str | None = None
    author: str | None = None
    subject: str | None = None
    keywords: str | None = None
    filename: str | None = None
    tagged: bool = False  # a tagged (structured, accessible) PDF
    outline: bool = False  # bookmarks from the document's headings
    tone: str | None = None  # prompts only: how the LLM writes
    document_kind: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RenderOptions:
        """Options as stored on a job (already validated by the API schema)."""
        values = dict(data)
        margin = values.pop("margin", None)
        return cls(margin=Margin(**margin) if margin else None, **values)

    @property
    def size_named(self) -> bool:
        """Whether the request sets the page size (format, width and height, or landscape):
        then the document's `@page` size is not used."""
        return self.format is not None or self.width is not None or self.landscape is not None

    @property
    def css_size(self) -> str:
        """The page size as a CSS `size` value: the request's, else A4 portrait."""
        if self.width and self.height:
            return f"{self.width} {self.height}"
        orientation = "landscape" if self.landscape else "portrait"
        return f"{self.format or DEFAULT_FORMAT} {orientation}"

    @property
    def page_margin(self) -> Margin:
        """The margins to print with where the document's `@page` names none."""
        return self.margin or Margin()


def safe_filename(name: str | None, default: str) -> str:
    """A download filename with no path parts, quotes or control characters, ending in .pdf."""
    base = (name or "").strip().replace("\\", "/").split("/")[-1]
    base = re.sub(r"[\x00-\x1f\x7f\"';]", "", base)
    base = re.sub(r"\s+", " ", base).strip(" .")
    if not base:
        base = default
    if not base.lower().endswith(".pdf"):
        base += ".pdf"
    return base[:200]
