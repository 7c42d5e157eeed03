"""Assets for the tests: small images and fonts made on the spot, hostile SVG, and what a
PDF shows of them (a page's pixels, its fonts)."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import pypdfium2
from fontTools.ttLib import TTFont
from PIL import Image
from pypdf import PdfReader

FONT_SOURCE = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def png(color: tuple[int, int, int], size: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), color).save(out, "PNG")
    return out.getvalue()


def noise_png(width: int, height: int) -> bytes:
    """A PNG of random pixels: about 3 bytes a pixel, whatever the compression."""
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(out, "PNG")
    return out.getvalue()


def image(color: tuple[int, int, int], kind: str, size: int = 16) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), color).save(out, kind)
    return out.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A PNG of a few hundred bytes whose header declares `width` x `height` pixels (a
    decompression bomb's shape: its rows compress to almost nothing)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 4, 9)  # a start of the rows, all zero
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def font(family: str, flavor: str | None = None) -> bytes:
    """DejaVu Sans renamed to `family` (so only the uploaded asset can give that name to
    the PDF), as TTF, or WOFF/WOFF2 with `flavor`."""
    face = TTFont(str(FONT_SOURCE))
    names = face["name"]
    for record in list(names.names):
        if record.nameID in (1, 4, 16):
            names.setName(family, record.nameID, record.platformID, record.platEncID, record.langID)
        elif record.nameID == 6:
            names.setName(family, 6, record.platformID, record.platEncID, record.langID)
    face.flavor = flavor
    out = io.BytesIO()
    face.save(out)
    return out.getvalue()


def page_colors(pdf: bytes, page: int = 0, scale: float = 1.0) -> set[tuple[int, int, int]]:
    """The distinct colours of a page rasterised."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        bitmap = document[page].render(scale=scale)
        picture = bitmap.to_pil().convert("RGB")
    finally:
        document.close()
    return {c for _, c in picture.getcolors(maxcolors=1 << 24) or []}


def has_color(pdf: bytes, color: tuple[int, int, int], tolerance: int = 6) -> bool:
    return any(
        all(abs(a - b) <= tolerance for a, b in zip(c, color, strict=True))
        for c in page_colors(pdf)
    )


def pdf_fonts(pdf: bytes) -> set[str]:
    """The base names of the fonts a PDF's pages use (without a subset's tag)."""
    found: set[str] = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        resources = page.get("/Resources")
        fonts = resources.get_object().get("/Font") if resources is not None else None
        if fonts is None:
            continue
        for ref in fonts.get_object().values():
            name = str(ref.get_object().get("/BaseFont", ""))
            found.add(name.lstrip("/").split("+", 1)[-1])
    return found


def hostile_svgs(url: str) -> dict[str, str]:
    """SVG documents that try to run script or reach `url` (a listener's address), one
    trick each: scripts, handlers, animation that writes a link, foreign HTML, style sheets
    that import, external references of every element that takes one, entities."""
    x = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
    return {
        "script": f"<svg {x}><script>fetch('{url}s')</script><rect width='5' height='5'/></svg>",
        "script-href": f"<svg {x}><script xlink:href='{url}js'/></svg>",
        "onload": f"<svg {x} onload=\"fetch('{url}o')\"><circle r='4'/></svg>",
        "handler-case": f"<svg {x}><rect OnClick='x()' onmouseover='y()' width='4'/></svg>",
        "foreign": (
            f"<svg {x}><foreignObject width='9' height='9'><iframe xmlns="
            f"'http://www.w3.org/1999/xhtml' src='{url}f'/></foreignObject></svg>"
        ),
        "animate-href": (
            f"<svg {x}><a><circle r='9'/><animate attributeName='href' "
            "values='javascript:alert(1)'/></a></svg>"
        ),
        "set-href": (
            f"<svg {x}><a xlink:href='#'><set attributeName='xlink:href' "
            "to='javascript:alert(1)'/><text>t</text></a></svg>"
        ),
        "animate-onbegin": (
            f"<svg {x}><animateTransform onbegin='alert(1)' attributeName='transform' "
            "type='scale' dur='1s'/></svg>"
        ),
        "image": f"<svg {x}><image width='9' height='9' xlink:href='{url}i'/></svg>",
        "image-href": f"<svg {x}><image width='9' height='9' href='{url}i2'/></svg>",
        "image-js": f"<svg {x}><image href='javascript:alert(1)'/></svg>",
        "image-svg-data": (
            f"<svg {x}><image href='data:image/svg+xml;base64,PHN2Zz48L3N2Zz4='/></svg>"
        ),
        "use": f"<svg {x}><use xlink:href='{url}u#a'/></svg>",
        "use-href": f"<svg {x}><use href='{url}u2#a'/></svg>",
        "fe-image": f"<svg {x}><filter id='f'><feImage href='{url}fe'/></filter></svg>",
        "gradient-href": f"<svg {x}><linearGradient id='g' xlink:href='{url}g'/></svg>",
        "pattern-href": f"<svg {x}><pattern id='p' href='{url}p'/></svg>",
        "style-import": f"<svg {x}><style>@import url({url}st);</style><rect/></svg>",
        "style-url": f"<svg {x}><style>rect {{ fill: url({url}sf) }}</style><rect/></svg>",
        "style-escape": f"<svg {x}><style>rect {{ fill: u\\72l({url}se) }}</style><rect/></svg>",
        "style-font-face": (
            f"<svg {x}><style>@font-face {{ font-family: a; src: url({url}ff) }}</style></svg>"
        ),
        "style-attr": f"<svg {x}><rect style='fill: url({url}sa); stroke: red'/></svg>",
        "style-attr-comment": f"<svg {x}><rect style='fill: ur/**/l({url}sc)'/></svg>",
        "fill-url": f"<svg {x}><rect fill='url({url}fu#a)' width='4' height='4'/></svg>",
        "filter-url": f"<svg {x}><rect filter='url({url}fl#a)'/></svg>",
        "a-href": f"<svg {x}><a href='javascript:alert(1)'><text>t</text></a></svg>",
        "xml-stylesheet": (
            f"<?xml-stylesheet href='{url}xs' type='text/css'?><svg {x}><rect/></svg>"
        ),
        "doctype-system": (f"<!DOCTYPE svg SYSTEM '{url}dtd'><svg {x}><rect/></svg>"),
        "xxe": (f"<!DOCTYPE svg [<!ENTITY e SYSTEM '{url}xxe'>]><svg {x}><text>&e;</text></svg>"),
        "laughs": (
            "<!DOCTYPE svg [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;'>]>"
            f"<svg {x}><text>&b;</text></svg>"
        ),
        "tref": f"<svg {x}><text><tref xlink:href='{url}tr#a'/></text></svg>",
        "font-face-uri": (
            f"<svg {x}><font-face><font-face-src><font-face-uri xlink:href='{url}fu'/>"
            "</font-face-src></font-face></svg>"
        ),
        "iframe-ns": (
            f"<svg {x}><html:iframe xmlns:html='http://www.w3.org/1999/xhtml' src='{url}h'/></svg>"
        ),
        "base-xml": f"<svg {x} xml:base='{url}'><use href='#a'/><g id='a'/></svg>",
        "mask-url": f"<svg {x}><rect mask='url( \"{url}m\" )'/></svg>",
    }
