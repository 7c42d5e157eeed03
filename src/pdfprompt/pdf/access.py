"""PDF/UA-1 on a tagged render: the document's title set and shown in the viewer's title
bar (`DisplayDocTitle`), its natural language (`/Lang`), figures' alternative text from the
document's `<img alt>` where the render left it out, pages with annotations taken in
structure order (`/Tabs /S`), and the XMP identification; and the project's own checks of a
result (`pdfua_problems`), which walk the structure tree. Blocking: run it in a thread."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser

from pikepdf import Array, Dictionary, Name, Pdf, String

from pdfprompt.domain import InvalidInputError
from pdfprompt.pdf.archive import font_problems
from pdfprompt.pdf.xmp import Identification, read_xmp, write_xmp, xmp_value

_MAX_DEPTH = 200  # of the structure tree walked
_MAX_ELEMENTS = 200_000
_HEADING = re.compile(r"^/H([1-6])$")
_HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
MAX_TITLE_CHARS = 300
_LANG = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")


@dataclass(frozen=True, slots=True)
class Accessibility:
    """What the document says of itself for PDF/UA."""

    title: str | None = None
    lang: str | None = None
    alts: tuple[str, ...] = ()  # its images' alt texts, in document order


def read_document(document: str | None) -> Accessibility:
    """The title (`<title>`, else its first heading's text), language (`<html lang>`) and
    image alt texts of an HTML document."""
    if not document:
        return Accessibility()
    reader = _DocumentReader()
    try:
        reader.feed(document)
        reader.close()
    except Exception:  # HTMLParser gives up on little; keep what it read
        pass
    title = " ".join("".join(reader.title).split()) or None
    heading = " ".join("".join(reader.heading).split())[:MAX_TITLE_CHARS] or None
    return Accessibility(title or heading, reader.lang, tuple(reader.alts))


class _DocumentReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lang: str | None = None
        self.alts: list[str] = []
        self.title: list[str] = []
        self.heading: list[str] = []
        self._in_title = False
        self._titled = False
        self._in_heading: str | None = None
        self._headed = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "html" and self.lang is None and values.get("lang"):
            self.lang = (values["lang"] or "").strip() or None
        elif tag == "img":
            self.alts.append((values.get("alt") or "").strip())
        elif tag == "title" and not self._titled:
            self._in_title = True
        elif tag in _HEADING_TAGS and not self._headed:
            self._in_heading = tag

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._in_title:
            self._in_title, self._titled = False, True
        elif tag == self._in_heading:
            self._in_heading, self._headed = None, True

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif self._in_heading is not None:
            self.heading.append(data)


def make_pdfua(pdf: Pdf, about: Accessibility, *, pdfa: str | None = None) -> list[str]:
    """`pdf` (changed in place) made PDF/UA-1 as far as its tags allow; what it could not
    mend, as sentences for the job's warnings (a figure with no alternative text, headings
    out of order). `InvalidInputError` for an untagged PDF or one with no title."""
    root = pdf.Root
    if not isinstance(root.get(Name.StructTreeRoot), Dictionary):
        raise InvalidInputError(
            "options.pdfua: the PDF is not tagged (it has no structure tree)",
            field="options.pdfua",
        )
    # The document's own (options.title, <title>, a heading) before what the renderer
    # wrote, which may be the page's address ("about:blank").
    rendered = str(pdf.docinfo.get(Name.Title, "")).strip()
    if rendered.startswith(("about:", "data:", "http://", "https://", "file:", "blob:")):
        rendered = ""
    title = about.title or rendered
    if not title:
        raise InvalidInputError(
            "options.pdfua: the document has no title (give options.title, a <title> or a heading)",
            field="options.pdfua",
        )
    pdf.docinfo[Name.Title] = String(title)
    preferences = root.get(Name.ViewerPreferences)
    if not isinstance(preferences, Dictionary):
        preferences = Dictionary()
        root[Name.ViewerPreferences] = preferences
    preferences[Name.DisplayDocTitle] = True
    marks = root.get(Name.MarkInfo)
    if not isinstance(marks, Dictionary):
        marks = Dictionary(Type=Name.MarkInfo)
        root[Name.MarkInfo] = marks
    marks[Name.Marked] = True
    warnings: list[str] = []
    lang = about.lang if about.lang and _LANG.match(about.lang) else None
    if lang is not None:
        root[Name.Lang] = String(lang)
    elif not str(root.get(Name.Lang, "")).strip():
        root[Name.Lang] = String("en")
        warnings.append("the document gives no language (<html lang>); English was assumed")
    for page in pdf.pages:
        if len(page.obj.get(Name.Annots, Array())):
            page.obj[Name.Tabs] = Name.S
    roles = _role_map(pdf)
    alts = iter(about.alts)
    missing = 0
    for element in _elements(pdf):
        if _role(element, roles) != "/Figure":
            continue
        given = str(element.get(Name.Alt, "")).strip()
        alt = next(alts, None)
        if not given and alt:
            element[Name.Alt] = String(alt)
        elif not given:
            missing += 1
    if missing:
        warnings.append(f"{missing} figure(s) have no alternative text (give each <img> an alt)")
    warnings += heading_problems(pdf)
    level = {"2b": (2, "B"), "3b": (3, "B")}.get(pdfa or "")
    write_xmp(
        pdf,
        Identification(level[0] if level else None, level[1] if level else None, 1),
    )
    return warnings


def _role_map(pdf: Pdf) -> dict[str, str]:
    tree = pdf.Root.get(Name.StructTreeRoot)
    found = tree.get(Name.RoleMap) if isinstance(tree, Dictionary) else None
    if not isinstance(found, Dictionary):
        return {}
    return {str(k): str(v) for k, v in found.items()}


def _role(element: Dictionary, roles: dict[str, str]) -> str:
    role = str(element.get(Name.S, ""))
    for _ in range(10):  # a role map may chain, but not for ever
        if role not in roles:
            break
        role = roles[role]
    return role


def _elements(pdf: Pdf) -> Iterator[Dictionary]:
    """The structure elements, depth first in document order (bounded)."""
    tree = pdf.Root.get(Name.StructTreeRoot)
    if not isinstance(tree, Dictionary):
        return
    stack: list[tuple[object, int]] = [(tree.get(Name.K), 0)]
    seen: set[tuple[int, int]] = set()
    count = 0
    while stack and count < _MAX_ELEMENTS:
        node, depth = stack.pop()
        if isinstance(node, Array):
            stack += [(child, depth) for child in reversed(list(node))]
            continue
        if not isinstance(node, Dictionary) or depth > _MAX_DEPTH:
            continue
        if node.is_indirect:
            if node.objgen in seen:
                continue
            seen.add(node.objgen)
        if Name.S not in node:  # a marked-content or object reference
            continue
        count += 1
        yield node
        kids = node.get(Name.K)
        if kids is not None:
            stack.append((kids, depth + 1))


def headings(pdf: Pdf) -> list[int]:
    """The levels of the numbered headings (H1 … H6) in structure order."""
    roles = _role_map(pdf)
    found = []
    for element in _elements(pdf):
        match = _HEADING.match(_role(element, roles))
        if match:
            found.append(int(match.group(1)))
    return found


def heading_problems(pdf: Pdf) -> list[str]:
    """Headings that do not start at H1 or skip a level."""
    levels = headings(pdf)
    found = []
    if levels and levels[0] != 1:
        found.append(f"the first heading is H{levels[0]}, not H1")
    for before, after in itertools.pairwise(levels):
        if after > before + 1:
            found.append(f"heading H{before} is followed by H{after}, skipping a level")
            break
    return found


def figures(pdf: Pdf) -> list[str | None]:
    """Each figure's alternative text (None where it has none), in structure order."""
    roles = _role_map(pdf)
    return [
        str(e[Name.Alt]) if Name.Alt in e else None
        for e in _elements(pdf)
        if _role(e, roles) == "/Figure"
    ]


def pdfua_problems(pdf: Pdf) -> list[str]:
    """What keeps `pdf` from PDF/UA-1 among what the finishing steps answer for."""
    found: list[str] = []
    root = pdf.Root
    if not isinstance(root.get(Name.StructTreeRoot), Dictionary):
        found.append("no structure tree")
    marks = root.get(Name.MarkInfo)
    if not isinstance(marks, Dictionary) or not bool(marks.get(Name.Marked, False)):
        found.append("MarkInfo /Marked is not true")
    if not str(pdf.docinfo.get(Name.Title, "")).strip():
        found.append("no document title")
    preferences = root.get(Name.ViewerPreferences)
    if not isinstance(preferences, Dictionary) or not bool(
        preferences.get(Name.DisplayDocTitle, False)
    ):
        found.append("DisplayDocTitle is not true")
    if not str(root.get(Name.Lang, "")).strip():
        found.append("no natural language (/Lang)")
    packet = read_xmp(pdf)
    if xmp_value(packet, "pdfuaid", "part") != "1":
        found.append("no pdfuaid:part 1 in the XMP metadata")
    title = str(pdf.docinfo.get(Name.Title, ""))
    if title and "dc:title" not in packet:
        found.append("no dc:title in the XMP metadata")
    found += [
        f"figure {n}: no alternative text" for n, alt in enumerate(figures(pdf), 1) if not alt
    ]
    found += heading_problems(pdf)
    for number, page in enumerate(pdf.pages, 1):
        if len(page.obj.get(Name.Annots, Array())) and page.obj.get(Name.Tabs) != Name.S:
            found.append(f"page {number}: annotations are not in structure order (/Tabs /S)")
    found += font_problems(pdf)
    return found
