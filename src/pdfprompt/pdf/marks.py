"""Watermarks and stamps: a line of text or an image drawn on chosen pages, under the page's
content (a watermark: the first thing painted) or over it (a stamp: the page's content is
wrapped in q … Q and the mark painted after it), at one of nine positions, turned by an angle,
with an opacity (an ExtGState's /ca). Each mark is marked as a pagination artifact, so that
a tagged PDF's structure does not take it for content.

Text is set in an embedded subset of DejaVu Sans (a simple TrueType font with
WinAnsiEncoding: the Windows-1252 characters), so that a PDF/A file may carry it. Blocking:
run it in a thread."""

from __future__ import annotations

import functools
import hashlib
import io
import math
import os
import shutil
import subprocess
import zlib
from dataclasses import dataclass

import pikepdf
from pikepdf import Array, Dictionary, Name, Pdf, Stream

from pdfprompt.domain import InvalidInputError, Mark, inches, page_numbers

# How far a mark keeps from the page's edges at a position other than the centre (0.5 in).
MARGIN_PT = 36.0
# The most pixels an image mark may have (it was checked on upload, but the mark is drawn
# from the stored bytes).
MAX_MARK_PIXELS = 40_000_000
# An image mark's longest side once drawn into the PDF (300 dpi across a 8-inch page).
MAX_MARK_SIDE_PX = 2400
_FONT_FILES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
)
_PIL_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}
_PDF_IMAGE_TYPES = frozenset(_PIL_FORMATS)


@dataclass(frozen=True, slots=True)
class MarkImage:
    """An image mark's bytes and media type (an asset's)."""

    data: bytes
    content_type: str


def mark_text_error(text: str) -> str | None:
    """Why `text` cannot be drawn as a mark (a character outside Windows-1252, or a control
    character); None when it can."""
    for char in text:
        if ord(char) < 32 or 0x7F <= ord(char) < 0xA0:
            return f"control character U+{ord(char):04X} cannot be drawn"
        try:
            char.encode("cp1252")
        except UnicodeEncodeError:
            return (
                f"character {char!r} cannot be drawn (marks take the Latin characters of "
                "Windows-1252)"
            )
    return None


def draw_mark(
    pdf: Pdf,
    mark: Mark,
    *,
    over: bool,
    field: str,
    image: MarkImage | None = None,
    margin_pt: float = MARGIN_PT,
) -> None:
    """`mark` drawn on the pages it names of `pdf` (changed in place): over the content when
    `over`, under it otherwise. `field` names the option in errors; `image` is the mark's
    image when it has one."""
    total = len(pdf.pages)
    numbers = page_numbers(mark.pages, total, f"{field}.pages") if mark.pages else None
    chosen = range(1, total + 1) if numbers is None else numbers
    state = pdf.make_indirect(
        Dictionary(Type=Name.ExtGState, ca=float(mark.opacity), CA=float(mark.opacity))
    )
    if mark.text is not None:
        drawing: _Drawing = _TextDrawing(pdf, mark, field)
    elif image is not None:
        drawing = _ImageDrawing(pdf, mark, image, field)
    else:
        raise InvalidInputError(f"{field}: give text or image", field=field)
    drawn: dict[bytes, Stream] = {}  # pages of one size share one stream
    opening = Stream(pdf, b"q\n") if over else None
    for number in chosen:
        page = pdf.pages[number - 1]
        state_name = page.add_resource(state, Name.ExtGState, prefix="PdfpromptMarkGS")
        object_name = page.add_resource(drawing.resource, drawing.kind, prefix=drawing.prefix)
        content = _content(page, drawing, state_name, object_name, mark, margin_pt, over)
        if content not in drawn:
            drawn[content] = Stream(pdf, content)
        if over:
            assert opening is not None
            page.contents_add(opening, prepend=True)
            page.contents_add(drawn[content], prepend=False)
        else:
            page.contents_add(drawn[content], prepend=True)


class _Drawing:
    resource: pikepdf.Object
    kind: Name
    prefix: str
    width: float  # at a scale of 1
    height: float

    def paint(self, name: Name, scale: float, color: str) -> str:
        raise NotImplementedError


class _TextDrawing(_Drawing):
    def __init__(self, pdf: Pdf, mark: Mark, field: str) -> None:
        assert mark.text is not None
        problem = mark_text_error(mark.text)
        if problem is not None:
            raise InvalidInputError(f"{field}.text: {problem}", field=f"{field}.text")
        self.encoded = mark.text.encode("cp1252")
        font = _embedded_font(pdf, self.encoded)
        self.resource = font.dictionary
        self.kind = Name.Font
        self.prefix = "PdfpromptMarkF"
        size = float(mark.font_size)
        self.size = size
        self.width = sum(font.widths[c] for c in self.encoded) * size / 1000
        self.ascent, self.descent = font.ascent * size / 1000, font.descent * size / 1000
        self.height = self.ascent - self.descent

    def paint(self, name: Name, scale: float, color: str) -> str:
        r, g, b = _rgb(color)
        return (
            f"BT {name} {_n(self.size * scale)} Tf {_n(r)} {_n(g)} {_n(b)} rg "
            f"0 Tr 0 Tc 0 Tw 100 Tz 0 Ts 0 {_n(-self.descent * scale)} Td "
            f"<{self.encoded.hex()}> Tj ET"
        )


class _ImageDrawing(_Drawing):
    def __init__(self, pdf: Pdf, mark: Mark, image: MarkImage, field: str) -> None:
        name = f"{field}.image"
        if image.content_type not in _PDF_IMAGE_TYPES:
            raise InvalidInputError(
                f"{name}: a {image.content_type} asset cannot be a mark (marks take PNG, "
                "JPEG, GIF or WebP images)",
                field=name,
            )
        self.resource, pixels = _image_xobject(pdf, image, name)
        self.kind = Name.XObject
        self.prefix = "PdfpromptMarkIm"
        self.width_asked = inches(mark.width) * 72 if mark.width is not None else None
        self.pixels = pixels
        self.width = 1.0
        self.height = pixels[1] / pixels[0]

    def paint(self, name: Name, scale: float, color: str) -> str:
        return f"{_n(scale)} 0 0 {_n(scale * self.height)} 0 0 cm {name} Do"


def _content(
    page: pikepdf.Page,
    drawing: _Drawing,
    state: Name,
    name: Name,
    mark: Mark,
    margin_pt: float,
    over: bool,
) -> bytes:
    matrix, shown_width, shown_height = _page_space(page)
    margin = min(margin_pt, shown_width / 8, shown_height / 8)
    scale = 1.0
    if isinstance(drawing, _ImageDrawing):
        scale = drawing.width_asked if drawing.width_asked is not None else shown_width / 3
    width, height = drawing.width * scale, drawing.height * scale
    angle = math.radians(mark.angle)
    cos, sin = math.cos(angle), math.sin(angle)
    turned_w = abs(width * cos) + abs(height * sin)
    turned_h = abs(width * sin) + abs(height * cos)
    # A mark larger than the page (within its margins) is made smaller until it fits.
    room = min(
        (shown_width - 2 * margin) / turned_w if turned_w > 0 else 1.0,
        (shown_height - 2 * margin) / turned_h if turned_h > 0 else 1.0,
        1.0,
    )
    if room < 1.0:
        scale, width, height = scale * room, width * room, height * room
        turned_w, turned_h = turned_w * room, turned_h * room
    position = mark.position
    if "left" in position:
        cx = margin + turned_w / 2
    elif "right" in position:
        cx = shown_width - margin - turned_w / 2
    else:
        cx = shown_width / 2
    if position.startswith("top"):
        cy = shown_height - margin - turned_h / 2
    elif position.startswith("bottom"):
        cy = margin + turned_h / 2
    else:
        cy = shown_height / 2
    # The mark's own space: its bottom-left corner at the origin, turned about its centre.
    tx = cx - (cos * width / 2 - sin * height / 2)
    ty = cy - (sin * width / 2 + cos * height / 2)
    placing = " ".join(_n(v) for v in (cos, sin, -sin, cos, tx, ty))
    page_cm = " ".join(_n(v) for v in matrix)
    body = drawing.paint(name, scale, mark.color)
    return (
        ("\nQ\n" if over else "") + f"q /Artifact <</Type /Pagination /Subtype /Watermark>> BDC\n"
        f"{page_cm} cm {placing} cm {state} gs {body}\nEMC Q\n"
    ).encode()


def _page_space(page: pikepdf.Page) -> tuple[list[float], float, float]:
    """The matrix from the page as shown (its crop box, turned by /Rotate) to its own space,
    and the shown width and height."""
    box = [float(v) for v in page.cropbox]
    left, bottom = min(box[0], box[2]), min(box[1], box[3])
    width, height = abs(box[2] - box[0]), abs(box[3] - box[1])
    rotate = int(page.obj.get(Name.Rotate, 0))
    turns = (rotate // 90) % 4
    matrix, shown = {
        0: ([1.0, 0, 0, 1, left, bottom], (width, height)),
        1: ([0.0, 1, -1, 0, left + width, bottom], (height, width)),
        2: ([-1.0, 0, 0, -1, left + width, bottom + height], (width, height)),
        3: ([0.0, -1, 1, 0, left, bottom + height], (height, width)),
    }[turns]
    return matrix, shown[0], shown[1]


def _rgb(color: str) -> tuple[float, float, float]:
    value = color.lstrip("#")
    return tuple(int(value[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def _n(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".") or "0"


# -- the font ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Font:
    dictionary: pikepdf.Object
    widths: dict[int, float]  # code -> width in 1/1000 em
    ascent: float
    descent: float


@functools.cache
def font_file() -> str:
    """The TrueType file marks are set in (DejaVu Sans)."""
    for path in _FONT_FILES:
        if os.path.exists(path):
            return path
    found = shutil.which("fc-match")
    if found:
        answer = subprocess.run(
            [found, "-f", "%{file}", "DejaVu Sans:style=Book"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
        if answer.lower().endswith(".ttf") and os.path.exists(answer):
            return answer
    raise InvalidInputError(
        "options: text marks need the DejaVu Sans font, which this server does not have",
        field="options",
    )


@functools.cache
def _font_bytes() -> bytes:
    with open(font_file(), "rb") as f:
        return f.read()


@dataclass(frozen=True, slots=True)
class _Subset:
    program: bytes
    widths: dict[int, float]
    bbox: tuple[int, int, int, int]
    ascent: float
    descent: float
    cap_height: float


@functools.lru_cache(maxsize=64)
def _subset(used: tuple[int, ...]) -> _Subset:
    """DejaVu Sans cut down to the Windows-1252 codes `used` (the cut is the slow part,
    so the last ones made are kept)."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    chars = {c: bytes([c]).decode("cp1252") for c in used}
    options = subset.Options()
    options.notdef_outline = True
    options.name_IDs = ["*"]
    options.layout_features = []
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "kern", "FFTM"]
    font = TTFont(io.BytesIO(_font_bytes()))
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[ord(c) for c in chars.values()])
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    program = out.getvalue()
    cmap = font.getBestCmap()
    units = font["head"].unitsPerEm
    advance = font["hmtx"].metrics
    widths = {}
    for code, char in chars.items():
        glyph = cmap.get(ord(char))
        widths[code] = advance[glyph][0] * 1000 / units if glyph else 0.0
    head, hhea, os2 = font["head"], font["hhea"], font["OS/2"]
    ascent = hhea.ascent * 1000 / units
    return _Subset(
        program,
        widths,
        tuple(round(v * 1000 / units) for v in (head.xMin, head.yMin, head.xMax, head.yMax)),
        ascent,
        hhea.descent * 1000 / units,
        getattr(os2, "sCapHeight", 0) * 1000 / units or ascent,
    )


def _embedded_font(pdf: Pdf, codes: bytes) -> _Font:
    """A subset of DejaVu Sans with the characters of `codes` (Windows-1252), as a simple
    TrueType font dictionary of `pdf`."""
    used = tuple(sorted(set(codes)))
    cut = _subset(used)
    program, widths, ascent, descent = cut.program, cut.widths, cut.ascent, cut.descent
    tag = "".join(chr(ord("A") + b % 26) for b in hashlib.sha256(bytes(used)).digest()[:6])
    base = Name(f"/{tag}+DejaVuSans")
    file = Stream(pdf, zlib.compress(program))
    file[Name.Filter] = Name.FlateDecode
    file[Name.Length1] = len(program)
    descriptor = Dictionary(
        Type=Name.FontDescriptor,
        FontName=base,
        Flags=32,  # non-symbolic
        FontBBox=Array(list(cut.bbox)),
        ItalicAngle=0,
        Ascent=round(ascent),
        Descent=round(descent),
        CapHeight=round(cut.cap_height),
        StemV=80,
        FontFile2=pdf.make_indirect(file),
    )
    first, last = used[0], used[-1]
    dictionary = pdf.make_indirect(
        Dictionary(
            Type=Name.Font,
            Subtype=Name.TrueType,
            BaseFont=base,
            FirstChar=first,
            LastChar=last,
            Widths=Array([round(widths.get(c, 0.0), 3) for c in range(first, last + 1)]),
            Encoding=Name.WinAnsiEncoding,
            FontDescriptor=pdf.make_indirect(descriptor),
        )
    )
    return _Font(dictionary, widths, ascent, descent)


# -- images -----------------------------------------------------------------------------


def _image_xobject(
    pdf: Pdf, image: MarkImage, field: str
) -> tuple[pikepdf.Object, tuple[int, int]]:
    """An image XObject of the picture in `data` (its first frame), with its transparency as
    a soft mask; its size in pixels."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Only the decoder of the asset's own type (no format that runs a program).
            formats = [_PIL_FORMATS[image.content_type]]
            with Image.open(io.BytesIO(image.data), formats=formats) as opened:
                width, height = opened.size
                if width * height > MAX_MARK_PIXELS or width < 1 or height < 1:
                    raise InvalidInputError(
                        f"{field}: a {width}x{height} image cannot be a mark", field=field
                    )
                picture = opened.convert("RGBA")
    except InvalidInputError:
        raise
    except Exception as exc:  # Pillow's many ways of saying a file is broken
        raise InvalidInputError(f"{field}: the image cannot be read ({exc})", field=field) from None
    # A mark is at most a page wide: more pixels than print needs there only make the
    # file bigger.
    if max(picture.size) > MAX_MARK_SIDE_PX:
        picture.thumbnail((MAX_MARK_SIDE_PX, MAX_MARK_SIDE_PX), Image.Resampling.LANCZOS)
        width, height = picture.size
    rgb = picture.convert("RGB")
    alpha = picture.getchannel("A")
    xobject = _image_stream(pdf, rgb.tobytes(), width, height, Name.DeviceRGB)
    if alpha.getextrema() != (255, 255):
        mask = _image_stream(pdf, alpha.tobytes(), width, height, Name.DeviceGray)
        xobject[Name.SMask] = pdf.make_indirect(mask)
    return pdf.make_indirect(xobject), (width, height)


def _image_stream(pdf: Pdf, samples: bytes, width: int, height: int, space: Name) -> Stream:
    """An image XObject of 8-bit `samples` in colour space `space`, deflated."""
    stream = Stream(pdf, zlib.compress(samples, 6))
    stream.update(
        Dictionary(
            Type=Name.XObject,
            Subtype=Name.Image,
            Width=width,
            Height=height,
            ColorSpace=space,
            BitsPerComponent=8,
            Filter=Name.FlateDecode,
        )
    )
    return stream
