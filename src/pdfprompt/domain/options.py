"""Render options: what a client may ask of the page and the PDF."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pdfprompt.domain.errors import InvalidInputError
from pdfprompt.domain.finishing import FINISH_KEYS

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
# Pages are numbered from 1, in at most six digits: more than any renderer prints, and a
# larger number was refused by Chromium on every attempt.
_PAGE = r"[1-9][0-9]{0,5}"
PAGE_RANGES = rf"^ *{_PAGE}( *- *{_PAGE})?( *, *{_PAGE}( *- *{_PAGE})?)* *$"
_PAGE_RANGES = re.compile(PAGE_RANGES)
MAX_HEADER_FOOTER_CHARS = 20_000
# The looks a Markdown document can take (option and front matter `theme`), each a stylesheet
# of the Markdown renderer; and the most CSS a request's own stylesheet (`css`) may hold.
THEMES = ("default", "report", "letter", "academic", "compact")
MAX_USER_CSS_CHARS = 50_000
# A document language (option and front matter `lang`): a BCP 47 tag such as en, de-CH, zh-Hans.
LANG_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,4}$"
MAX_TEXT_FIELD_CHARS = 1_000


def check_css_length(value: str, name: str) -> str:
    """A CSS length the renderer understands: a number with px, in, cm, mm, pt or pc."""
    if not _LENGTH.match(value):
        raise InvalidInputError(
            f"{name}: {value!r} is not a length (use a number with px, in, cm, mm, pt or pc)",
            field=name,
        )
    return value.strip()


# Every format the API accepts (`PAPER_FORMATS`), in inches, portrait.
PAPER_INCHES = {
    "letter": (8.5, 11.0),
    "legal": (8.5, 14.0),
    "tabloid": (11.0, 17.0),
    "a3": (11.7, 16.54),
    "a4": (8.27, 11.7),
    "a5": (5.83, 8.27),
}
_PER_INCH = {"px": 96.0, "in": 1.0, "cm": 2.54, "mm": 25.4, "pt": 72.0, "pc": 6.0}
_CSS_LENGTH = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$")
# The page sizes a request may name: from a small label to the largest page PDF allows
# (14,400 units of 1/72 in).
MIN_PAGE_IN = 0.4
MAX_PAGE_IN = 200.0


def inches(length: str) -> float:
    """A CSS length ("16mm", "0.5in", "12pt", "96" = px) in inches."""
    match = _CSS_LENGTH.match(length.lower())
    if match is None or (match.group(2) or "px") not in _PER_INCH:
        raise ValueError(f"{length!r} is not a length")
    return float(match.group(1)) / _PER_INCH[match.group(2) or "px"]


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
MEDIA_TYPES = ("print", "screen")
# The longest a `wait_for` waits (a delay, a selector, the network falling quiet), and the
# longest selector it may name. The render's own timeout bounds it too.
MAX_WAIT_MS = 10_000
MAX_SELECTOR_CHARS = 500
# The network is idle when no request of the page has been in flight for this long.
NETWORK_IDLE_MS = 500


@dataclass(frozen=True, slots=True)
class WaitFor:
    """What a page that runs scripts (a URL job's) waits for after it has loaded, before it
    is printed: one of the network falling quiet, an element matching a CSS selector, or a
    delay; each at most `MAX_WAIT_MS`."""

    network_idle: bool = False
    selector: str | None = None
    delay_ms: int | None = None


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
    media: str | None = None  # the CSS media type the page is laid out for: print (None)
    omit_background: bool = False  # no default white page background: transparent pages
    prefer_css_page_size: bool = False  # the document's @page size wins over the request's
    wait_for: WaitFor | None = None  # URL jobs only (scripts run there)
    # Markdown documents only (docs/markdown.md): the document's language, its look, a table
    # of contents, and the writer's own stylesheet applied after the theme.
    lang: str | None = None
    theme: str | None = None
    toc: bool | None = None
    css: str | None = None
    # Prompts only: a print the quality check finds faults in goes back to the model once.
    repair: bool = True

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RenderOptions:
        """Options as stored on a job (already validated by the API schema); the finishing
        options among them (`FINISH_KEYS`) are `FinishOptions`' to read."""
        values = {k: v for k, v in data.items() if k not in FINISH_KEYS}
        margin = values.pop("margin", None)
        wait_for = values.pop("wait_for", None)
        return cls(
            margin=Margin(**margin) if margin else None,
            wait_for=WaitFor(**wait_for) if wait_for else None,
            **values,
        )

    @property
    def css_media(self) -> str:
        """The CSS media type the document is laid out for."""
        return self.media or "print"

    @property
    def size_wins(self) -> bool:
        """Whether the request's page size wins over the document's `@page` size: when it
        names one, unless it prefers the document's (`prefer_css_page_size`)."""
        return self.size_named and not self.prefer_css_page_size

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
    def paper_inches(self) -> tuple[float, float]:
        """The paper's width and height in inches, portrait: the width and height the request
        names, else its format's (A4 when it names none)."""
        if self.width and self.height:
            return inches(self.width), inches(self.height)
        return PAPER_INCHES[(self.format or DEFAULT_FORMAT).lower()]

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


def check_page_geometry(options: RenderOptions) -> None:
    """A page the renderers can print: a named size between `MIN_PAGE_IN` and `MAX_PAGE_IN`
    on each side, and margins that leave some of it to print on (against the named size, or
    A4 where the document's `@page` rules decide). `InvalidInputError` naming the field."""
    if options.width and options.height:
        for name, value in (("width", options.width), ("height", options.height)):
            size = inches(value)
            if not MIN_PAGE_IN <= size <= MAX_PAGE_IN:
                raise InvalidInputError(
                    f"options.{name}: {value} is not between {MIN_PAGE_IN:g}in and "
                    f"{MAX_PAGE_IN:g}in",
                    field=f"options.{name}",
                )
    width, height = options.paper_inches
    if options.landscape:
        width, height = height, width
    if options.margin is None:
        return
    m = options.margin
    for across, (first, second), size in (
        ("left and right", ("left", "right"), width),
        ("top and bottom", ("top", "bottom"), height),
    ):
        taken = inches(getattr(m, first)) + inches(getattr(m, second))
        if taken >= size - MIN_CONTENT_IN:
            raise InvalidInputError(
                f"options.margin: the {across} margins ({taken:.2f}in) leave less than "
                f"{MIN_CONTENT_IN:g}in of a {size:.2f}in page to print on",
                field=f"options.margin.{first}",
            )


MIN_CONTENT_IN = 0.25
# What a header or footer template may not hold: it is drawn apart from the document, where
# nothing can be fetched, and a template that tried failed every attempt the same way.
_LOADING_TAGS = frozenset({"link", "script", "iframe", "frame", "object", "embed", "base", "meta"})
_TAG = re.compile(r"<\s*([a-zA-Z][\w:-]*)([^>]*)>?", re.S)
_ADDRESS_ATTRIBUTE = re.compile(
    r"\b(src|srcset|href|xlink:href|data|poster|background|action|formaction)\s*=\s*"
    r"(\"[^\"]*\"|'[^']*'|[^\s>]+)",
    re.I,
)
_LOADING_CSS = re.compile(r"@import|url\(\s*(?![\s'\"]*data:)", re.I)


def check_header_footer(template: str, name: str) -> str:
    """A header or footer template that loads nothing: no `<link>`, `<script>`, frames or
    `@import`, and addresses only `data:` URIs (and `#` or any address in a link's `href`,
    which is followed, not loaded). `InvalidInputError` naming the field and the culprit."""
    culprit = None
    if found := _LOADING_CSS.search(template):
        culprit = found.group(0)
    for tag in _TAG.finditer(template):
        if culprit is not None:
            break
        element = tag.group(1).lower()
        if element in _LOADING_TAGS:
            culprit = f"<{element}>"
            break
        for attribute in _ADDRESS_ATTRIBUTE.finditer(tag.group(2)):
            key, value = attribute.group(1).lower(), attribute.group(2).strip("\"' ").lower()
            if element == "a" and key == "href":
                continue
            if not value.startswith(("data:", "#")):
                culprit = f"{element} {key}={attribute.group(2)}"
                break
    if culprit is not None and "asset:" in culprit.lower():
        # Chromium draws headers and footers apart from the page, outside the request
        # interception that serves assets; nothing there is ever loaded.
        raise InvalidInputError(
            f"{name}: {culprit[:80]!r}: a header or footer cannot use assets (it is drawn "
            "apart from the page, where nothing is loaded); put the image in as a data: URI",
            field=name,
        )
    if culprit is not None:
        raise InvalidInputError(
            f"{name}: {culprit[:80]!r}: a header or footer cannot load anything (only data: URIs)",
            field=name,
        )
    return template
