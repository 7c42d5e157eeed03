"""A line of text stamped onto every page of a rendered PDF (the watermark of plans that have
one), out of the document's reach: no CSS, markup or page size of the document can hide it.

Each page's content is wrapped in q … Q, so whatever graphics state the page leaves behind is
undone, and the stamp is drawn after it, over the content: a content stream of its own with a
font of its own (Helvetica, one of the 14 fonts every PDF reader has, so nothing is embedded).
"""

from __future__ import annotations

from pypdf import PageObject
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
)

from pdfprompt.pdf.update import PdfUpdate

WATERMARK_TEXT = "Made with pdfprompt · free plan"

_FONT_PT = 8.0
# Where the watermark sat when it was HTML (a fixed element at the bottom right of a page
# with the default 16 mm margins): its right end 16 mm from the page's right edge, its
# baseline 2 pt above 16 mm from the bottom. A page too small for that gets it smaller.
_MARGIN_PT = 16 / 25.4 * 72
_BASELINE_PT = 2.0
# #777 at 85 % opacity on white, drawn opaque.
_GREY = 0.547
_FONT_NAME = "/PdfpromptStamp"

# Helvetica's advance widths (its AFM file, 1/1000 em) of the characters WATERMARK_TEXT uses.
_HELVETICA_WIDTHS = {
    " ": 278,
    # PREVIEW, the mark of a template's preview
    "E": 667,
    "I": 278,
    "P": 667,
    "R": 722,
    "V": 667,
    "W": 944,
    "·": 278,
    "M": 833,
    "a": 556,
    "d": 556,
    "e": 556,
    "f": 278,
    "h": 556,
    "i": 222,
    "l": 222,
    "m": 833,
    "n": 556,
    "o": 556,
    "p": 556,
    "r": 333,
    "t": 278,
    "w": 722,
}


def text_width(text: str, size_pt: float) -> float:
    """The width of `text` in Helvetica at `size_pt` (KeyError for a character whose width
    is not in the table)."""
    return sum(_HELVETICA_WIDTHS[c] for c in text) * size_pt / 1000


def stamp(update: PdfUpdate, text: str) -> None:
    """`text` at the bottom right of every page, drawn last."""
    encoded = text.encode("cp1252")  # the font's WinAnsiEncoding
    font = update.add(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
                NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
            }
        )
    )
    opening = update.add(_stream(b"q\n"))
    drawn: dict[bytes, IndirectObject] = {}  # pages of one size and font name share one
    width_1pt = text_width(text, 1.0)
    for page in update.reader.pages:
        ref = page.indirect_reference
        assert ref is not None
        content = _content(_font_name(update, page, font), _placement(page, width_1pt), encoded)
        if content not in drawn:
            drawn[content] = update.add(_stream(content))
        page[NameObject("/Contents")] = ArrayObject([opening, *_contents(page), drawn[content]])
        update.change(ref, page)


def _placement(page: PageObject, width_1pt: float) -> tuple[list[float], float, float, float]:
    """The matrix from the page as shown (its crop box, turned by /Rotate) to its own space;
    the font size; and where the text begins, in the page as shown."""
    box = page.cropbox
    left, bottom = min(box.left, box.right), min(box.bottom, box.top)
    width, height = abs(float(box.width)), abs(float(box.height))
    turns = (page.rotation // 90) % 4
    x0, y0 = float(left), float(bottom)
    matrix, shown = {
        0: ([1, 0, 0, 1, x0, y0], (width, height)),
        1: ([0, 1, -1, 0, x0 + width, y0], (height, width)),
        2: ([-1, 0, 0, -1, x0 + width, y0 + height], (width, height)),
        3: ([0, -1, 1, 0, x0, y0 + height], (height, width)),
    }[turns]
    shown_width, shown_height = shown
    margin = min(_MARGIN_PT, shown_width / 8, shown_height / 8)
    size = max(min(_FONT_PT, (shown_width - 2 * margin) / width_1pt), 0.1)
    x = shown_width - margin - width_1pt * size
    y = margin + _BASELINE_PT * size / _FONT_PT
    return matrix, size, x, y


def _content(
    font: NameObject, placement: tuple[list[float], float, float, float], text: bytes
) -> bytes:
    matrix, size, x, y = placement
    cm = " ".join(_number(v) for v in matrix)
    return (
        # The page's own content ends with the Q matching the opening q.
        f"\nQ\nq {cm} cm /Artifact <</Type /Pagination /Subtype /Watermark>> BDC\n"
        f"{_GREY} g BT {font} {_number(size)} Tf 0 Tr 0 Tc 0 Tw 100 Tz 0 Ts "
        f"{_number(x)} {_number(y)} Td <{text.hex()}> Tj ET EMC Q\n"
    ).encode()


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") or "0"


def _contents(page: PageObject) -> list[IndirectObject]:
    """The page's content streams, in order."""
    if "/Contents" not in page:
        return []
    contents = page.raw_get("/Contents")
    found = contents.get_object()
    if isinstance(found, ArrayObject):
        return list(found)
    if not isinstance(contents, IndirectObject):
        raise ValueError("a page's content stream is not an indirect object")
    return [contents]


def _font_name(update: PdfUpdate, page: PageObject, font: IndirectObject) -> NameObject:
    """`font` named in the page's resources (which are changed where they lie: in the page,
    or an object of their own that other pages may share); the name."""
    resources = _dictionary_in(update, page, "/Resources")
    fonts = _dictionary_in(update, resources, "/Font")
    name, n = _FONT_NAME, 1
    while name in fonts and fonts.raw_get(name) != font:
        name, n = f"{_FONT_NAME}{n}", n + 1
    fonts[NameObject(name)] = font
    return NameObject(name)


def _dictionary_in(update: PdfUpdate, holder: DictionaryObject, key: str) -> DictionaryObject:
    """The dictionary `holder[key]`, made when missing; when it is an object of its own, it is
    marked changed (a direct one is written with its holder)."""
    if key not in holder:
        holder[NameObject(key)] = DictionaryObject()
    raw = holder.raw_get(key)
    found = raw.get_object()
    if not isinstance(found, DictionaryObject):
        raise ValueError(f"a page's {key} is not a dictionary")
    if isinstance(raw, IndirectObject):
        update.change(raw, found)
    return found


def _stream(data: bytes) -> DecodedStreamObject:
    stream = DecodedStreamObject()
    stream.set_data(data)
    return stream
