"""Documents that try to hide the watermark or to smuggle live links into the PDF, and the
checks the tests make of the PDFs they become."""

from __future__ import annotations

import io
from typing import Any

from pypdf import PageObject, PdfReader
from pypdf.generic import ArrayObject, DictionaryObject

# What the tests expect, written out here rather than taken from the code they test.
WATERMARK_TEXT = "Made with pdfprompt · free plan"
SAFE_SCHEMES = {"http", "https", "mailto"}

_TEXT = "<p>Some text of the document.</p>"
_LONG = "".join(f"<h2 style='break-before: page'>Page {i}</h2>{_TEXT}" for i in range(1, 21))
_COVER = (
    "<div style='position: fixed; left: 0; right: 0; bottom: 0; height: 60mm;"
    " background: #fff; z-index: 2147483647'></div>"
)

SMALL_MARGIN = {side: "2mm" for side in ("top", "right", "bottom", "left")}
# name → (HTML, options): each must still get the watermark on every page.
WATERMARK_DOCUMENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "css-class": (
        f"<style>.pdfprompt-watermark {{ display: none !important }}</style>{_TEXT}",
        {},
    ),
    "css-visibility": (f"<style>* {{ visibility: hidden !important }}</style>{_TEXT}", {}),
    "css-last-child": (
        f"<style>body > div:last-child, body > *:last-child {{ display: none !important }}"
        f" div {{ opacity: 0 !important; font-size: 0 !important }}</style>{_TEXT}",
        {},
    ),
    "css-page": (
        "<style>@page { size: 80mm 80mm; margin: 0 } html { overflow: hidden; height: 10mm }"
        f" body {{ margin: 0 }}</style>{_TEXT}",
        {},
    ),
    "css-transform": (
        f"<style>html {{ transform: scale(0) }} * {{ color: #fff !important }}</style>{_TEXT}",
        {},
    ),
    "cover": (_TEXT + _COVER, {}),
    "dangling-comment": (f"{_TEXT}<!--", {}),
    "dangling-textarea": (f"{_TEXT}<textarea>", {}),
    "dangling-title": (f"{_TEXT}<title>", {}),
    "dangling-style": (f"{_TEXT}<style>", {}),
    "empty": ("", {}),
    "no-text": ("<div style='height: 50mm'></div>", {}),
    "landscape": (_TEXT, {"landscape": True}),
    "css-landscape": (f"<style>@page {{ size: A4 landscape }}</style>{_TEXT}", {}),
    "letter": (_TEXT, {"format": "Letter"}),
    "small": (_TEXT, {"width": "70mm", "height": "40mm", "margin": SMALL_MARGIN}),
    "twenty-pages": (_LONG + _COVER, {}),
}

# Addresses that must not stay live in a PDF; as written into an href attribute (character
# references are the document's own; \t and \x01 are raw characters in the attribute).
DANGEROUS_HREFS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "java\tscript:alert(1)",
    "java&#x09;script:alert(1)",
    "jav&#x0A;ascript:alert(1)",
    "&#106;avascript:alert(1)",
    "&#x6A;avascript:alert(1)",
    "javascript&colon;alert(1)",
    " javascript:alert(1)",
    "\x01javascript:alert(1)",
    "vbscript:msgbox(1)",
    "VBScript:msgbox(1)",
    "file:///etc/passwd",
    "FILE:///C:/Windows/system32/calc.exe",
    "file://attacker.example/share/x",
    "data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "blob:https://example.com/0b1c",
    "//evil.example/path",
    "\\\\evil.example\\share\\x",
    "ftp://example.com/x",
    "smb://evil.example/share",
    "ms-msdt:/id PCWDiagnostic",
    "x-unknown:foo",
    "jar:file:///x.jar!/",
    "about:blank",
    "view-source:https://example.com",
    "relative/page.html",
    "%6Aavascript:alert(1)",
    "tel:+15551234",
]
SAFE_HREFS = {
    "https://example.com/a?b=c#d": "https://example.com/a?b=c#d",
    "http://example.org/": "http://example.org/",
    "mailto:someone@example.com": "mailto:someone@example.com",
    "HTTPS://EXAMPLE.NET/X": "https://example.net/X",  # as Chromium writes it
}


def links_document() -> str:
    """Every href above in a link, and one to a heading on the second page."""
    hrefs = [*DANGEROUS_HREFS, *SAFE_HREFS]
    links = "".join(f'<p><a href="{href}">link {i}</a></p>' for i, href in enumerate(hrefs))
    return (
        f"<html><body>{links}<p><a href='#there'>inside</a></p>"
        "<h2 id='there' style='break-before: page'>There</h2></body></html>"
    )


def read(pdf: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(pdf))


_PAINTING = {
    b"Tj",
    b"TJ",
    b"'",
    b'"',
    b"f",
    b"F",
    b"f*",
    b"S",
    b"s",
    b"B",
    b"B*",
    b"b",
    b"b*",
    b"Do",
    b"sh",
    b"INLINE IMAGE",
}


def stamped_last(page: PageObject) -> bool:
    """Whether the last thing the page's content paints is the watermark's text."""
    contents = page.get_contents()
    if contents is None:
        return False
    last = None
    for operands, operator in contents.operations:
        if operator in _PAINTING:
            last = (operands, operator)
    if last is None or last[1] != b"Tj":
        return False
    shown = last[0][0]
    shown = getattr(shown, "original_bytes", shown)
    return bool(shown == WATERMARK_TEXT.encode("cp1252"))


def watermarked_pages(pdf: bytes) -> list[bool]:
    """For each page: its text has the watermark, drawn last."""
    return [
        WATERMARK_TEXT in page.extract_text() and stamped_last(page) for page in read(pdf).pages
    ]


def has_watermark_text(pdf: bytes) -> bool:
    return any(WATERMARK_TEXT in page.extract_text() for page in read(pdf).pages)


def _actions(action: Any) -> list[DictionaryObject]:
    """An action and every action it chains to."""
    found: list[DictionaryObject] = []
    pending = [action]
    while pending:
        item = pending.pop().get_object()
        if isinstance(item, DictionaryObject):
            found.append(item)
            if "/Next" in item:
                following = item["/Next"].get_object()
                pending.extend(following if isinstance(following, ArrayObject) else [following])
    return found


def annotation_actions(pdf: bytes) -> list[DictionaryObject]:
    """Every action of every annotation on every page (/A and /AA), and the pages' and the
    document's own."""
    reader = read(pdf)
    found: list[DictionaryObject] = []
    root = reader.trailer["/Root"]
    for holder in [root, *reader.pages]:
        if "/AA" in holder:
            for action in holder["/AA"].values():
                found += _actions(action)
    if "/OpenAction" in root:
        found += _actions(root["/OpenAction"])
    for page in reader.pages:
        for annot in page.get("/Annots") or []:
            annot = annot.get_object()
            if "/A" in annot:
                found += _actions(annot["/A"])
            for action in annot.get("/AA", {}).values():
                found += _actions(action)
    return found


def dangerous(action: DictionaryObject) -> bool:
    """An action other than a GoTo, or a link to another scheme than http, https and mailto
    (written out exactly)."""
    if action.get("/S") == "/GoTo":
        return False
    if action.get("/S") != "/URI":
        return True
    uri = str(action.get("/URI", ""))
    scheme, colon, _ = uri.partition(":")
    return not colon or scheme.lower() not in SAFE_SCHEMES


def live_uris(pdf: bytes) -> list[str]:
    return [str(a["/URI"]) for a in annotation_actions(pdf) if a.get("/S") == "/URI"]


def internal_link_pages(pdf: bytes) -> list[int]:
    """The page each internal link (a /Dest, or a GoTo action) leads to."""
    reader = read(pdf)
    named = reader.named_destinations
    pages = []
    for page in reader.pages:
        for annot in page.get("/Annots") or []:
            annot = annot.get_object()
            dest = annot.get("/Dest")
            if dest is None and "/A" in annot and annot["/A"].get("/S") == "/GoTo":
                dest = annot["/A"]["/D"]
            if dest is None:
                continue
            dest = dest.get_object()
            if isinstance(dest, ArrayObject):
                pages.append(reader.get_page_number(dest[0].get_object()))
            else:
                pages.append(reader.get_destination_page_number(named[str(dest)]))
    return pages
