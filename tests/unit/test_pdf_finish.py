"""Finishing a rendered PDF, on PDFs made here: the watermark stamped on every page over the
content, actions that are not harmless dropped, all appended as an incremental update."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    ByteStringObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    TextStringObject,
)

from pdfprompt.domain import RenderOptions
from pdfprompt.pdf import finish, may_have_unsafe_actions, safe_uri
from pdfprompt.pipeline import render_key
from tests.support.hostile import (
    WATERMARK_TEXT,
    annotation_actions,
    dangerous,
    live_uris,
    stamped_last,
)


def _written(writer: PdfWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _stream(writer: PdfWriter, data: bytes) -> DecodedStreamObject:
    stream = DecodedStreamObject()
    stream.set_data(data)
    return stream


def _pages_pdf() -> bytes:
    """Pages of several sizes and turns, whose content leaves its graphics state changed
    (an unbalanced transform, invisible text, white fill), with resources held in the page,
    shared by pages, inherited from the page tree, or missing, and content streams single,
    in an array, or missing."""
    writer = PdfWriter()
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Courier"),
            }
        )
    )
    shared = writer._add_object(
        DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/PdfpromptStamp"): font})}
        )
    )
    hostile = b"0.01 0 0 0.01 0 0 cm 3 Tr 1 g BT /%s 12 Tf 10 10 Td (own) Tj ET"
    for n, (width, height, turn) in enumerate(
        [(595, 842, 0), (842, 595, 0), (612, 792, 90), (300, 200, 180), (200, 300, 270)]
    ):
        page = writer.add_blank_page(width=width, height=height)
        page.rotation = turn
        if n == 0:
            page[NameObject("/Resources")] = DictionaryObject(
                {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
            )
        elif n in (1, 2):
            page[NameObject("/Resources")] = shared
        else:
            del page["/Resources"]
        page.pop("/Contents", None)
        if n != 3:
            font_name = b"F1" if n == 0 else b"PdfpromptStamp"
            drawn = hostile % font_name if n < 3 else b"0.01 0 0 0.01 0 0 cm 1 g 0 0 m 9 9 l S"
            contents = [writer._add_object(_stream(writer, drawn))]
            if n == 4:
                contents.append(writer._add_object(_stream(writer, b"0 0 m 10 10 l S")))
            page[NameObject("/Contents")] = ArrayObject(contents) if n else contents[0]
    writer.root_object["/Pages"].get_object()[NameObject("/Resources")] = DictionaryObject()
    return _written(writer)


def _shown_position(pdf: bytes) -> list[tuple[float, float, float, float]]:
    """For each page: where the watermark's text begins, in the page as a reader shows it
    (turned by /Rotate), and the shown page's width and height."""
    reader = PdfReader(io.BytesIO(pdf))
    found = []
    at: list[tuple[float, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], *_: object) -> None:
        if text == WATERMARK_TEXT:
            x, y = tm[4], tm[5]
            at.append((cm[0] * x + cm[2] * y + cm[4], cm[1] * x + cm[3] * y + cm[5]))

    for page in reader.pages:
        at.clear()
        page.extract_text(visitor_text=visit)
        assert len(at) == 1
        (x, y), w, h = at[0], float(page.mediabox.width), float(page.mediabox.height)
        turn = page.rotation % 360
        shown = {0: (x, y, w, h), 90: (y, w - x, h, w), 180: (w - x, h - y, w, h)}
        found.append(shown.get(turn, (h - y, x, h, w)))
    return found


def test_every_page_gets_the_watermark_drawn_last_at_its_shown_bottom_right() -> None:
    original = _pages_pdf()
    pdf = finish(original, RenderOptions(), "", watermark=True)
    assert pdf.startswith(original)  # appended: the original bytes are kept whole
    reader = PdfReader(io.BytesIO(pdf), strict=True)
    assert [WATERMARK_TEXT in p.extract_text() for p in reader.pages] == [True] * 5
    assert all(stamped_last(page) for page in reader.pages)
    for x, y, width, height in _shown_position(pdf):
        assert width / 4 < x < width - 112 and 0 < y < 60 and y < height / 4
    # The page's own content is wrapped in q … Q: its transform, its invisible-text mode and
    # white fill are undone before the stamp (which sets its own text state anyway).
    operations = reader.pages[0].get_contents().operations
    ops = [op for _, op in operations]
    assert ops[0] == b"q" and ops[ops.index(b"Tj") + 2] == b"Q"
    assert ops[ops.index(b"Tj") + 3 :][:2] == [b"q", b"cm"]
    # The page's own fonts are still there, under their names; the stamp's is its own.
    fonts = reader.pages[0]["/Resources"]["/Font"]
    assert fonts["/F1"]["/BaseFont"] == "/Courier"
    assert fonts["/PdfpromptStamp"]["/BaseFont"] == "/Helvetica"
    # The shared resources named /PdfpromptStamp already: the stamp's font took another name.
    shared = reader.pages[1]["/Resources"]["/Font"]
    assert shared["/PdfpromptStamp"]["/BaseFont"] == "/Courier"
    assert shared["/PdfpromptStamp1"]["/BaseFont"] == "/Helvetica"
    assert "own" in reader.pages[1].extract_text()


def test_without_a_watermark_a_pdf_with_nothing_to_change_is_the_same_bytes() -> None:
    original = _pages_pdf()
    assert not may_have_unsafe_actions(original)
    assert finish(original, RenderOptions(), "", watermark=False) is original


@pytest.mark.parametrize(
    ("uri", "safe"),
    [
        ("https://example.com/", True),
        ("http://example.com/", True),
        ("mailto:a@example.com", True),
        ("HTTPS://EXAMPLE.COM/", True),
        (b"https://example.com/", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("java\tscript:alert(1)", False),
        (" https://example.com/", False),
        ("\x01https://example.com/", False),
        ("https\x00://example.com/", False),
        ("vbscript:x", False),
        ("file:///etc/passwd", False),
        ("data:text/html,x", False),
        ("blob:https://example.com/x", False),
        ("//evil.example/x", False),
        ("\\\\evil\\share", False),
        ("relative.html", False),
        ("", False),
        (None, False),
        (b"\xfejavascript:", False),
    ],
)
def test_only_http_https_and_mailto_addresses_are_safe(uri: object, safe: bool) -> None:
    assert safe_uri(uri) is safe


def _action(kind: str, **entries: object) -> DictionaryObject:
    action = DictionaryObject({NameObject("/S"): NameObject(kind)})
    for key, value in entries.items():
        action[NameObject(f"/{key}")] = value  # type: ignore[assignment]
    return action


def _uri(address: str) -> DictionaryObject:
    return _action("/URI", URI=TextStringObject(address))


def _link(action: DictionaryObject | None = None, **entries: object) -> DictionaryObject:
    annot = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/Link"),
            NameObject("/Rect"): ArrayObject([NumberObject(v) for v in (0, 0, 10, 10)]),
        }
    )
    if action is not None:
        annot[NameObject("/A")] = action
    for key, value in entries.items():
        annot[NameObject(f"/{key}")] = value  # type: ignore[assignment]
    return annot


def _actions_pdf() -> bytes:
    """Links and actions of every kind: safe ones, dangerous ones, dangerous ones chained
    after safe ones, in annotations held as objects of their own and directly in the page's
    array, in an array that is an object of its own, in additional actions, and the
    document's open action and JavaScript."""
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_blank_page(width=200, height=200)
    goto = _action("/GoTo", D=ArrayObject([writer.pages[1].indirect_reference, NameObject("/Fit")]))
    links = [
        _link(_uri("https://example.com/")),
        _link(_uri("mailto:a@example.com")),
        _link(goto),
        _link(Dest=ArrayObject([writer.pages[1].indirect_reference, NameObject("/Fit")])),
        _link(_uri("javascript:alert(1)")),
        _link(_action("/URI", URI=ByteStringObject(b"file:///etc/passwd"))),
        _link(_action("/Launch", F=TextStringObject("calc.exe"))),
        _link(_action("/JavaScript", JS=TextStringObject("app.alert(1)"))),
        _link(_action("/GoToR", F=TextStringObject("other.pdf"))),
        _link(_action("/ImportData", F=TextStringObject("data.fdf"))),
        _link(_action("/SubmitForm", F=TextStringObject("https://example.com/"))),
        _link(_action("/Named", N=NameObject("/Print"))),
        _link(
            _uri("https://example.com/chained"),
            Next=_action("/JavaScript", JS=TextStringObject("x")),
        ),
        _link(
            _uri("https://example.com/chained-array"),
            Next=ArrayObject([_uri("https://example.com/"), _uri("vbscript:x")]),
        ),
        _link(
            AA=DictionaryObject(
                {NameObject("/E"): _action("/JavaScript", JS=TextStringObject("x"))}
            )
        ),
    ]
    # A /Next goes in the action, not the annotation.
    for link in links[12:14]:
        link["/A"][NameObject("/Next")] = link.pop("/Next")
    page = writer.pages[0]
    page[NameObject("/Annots")] = ArrayObject(
        [writer._add_object(link) for link in links[:8]] + links[8:]
    )
    second = writer.pages[1]
    second[NameObject("/Annots")] = writer._add_object(
        ArrayObject([_link(_uri("data:text/html,x")), _link(_uri("http://example.org/"))])
    )
    second[NameObject("/AA")] = DictionaryObject(
        {
            NameObject("/O"): _action("/Launch", F=TextStringObject("x.exe")),
            NameObject("/C"): goto,
        }
    )
    root = writer.root_object
    root[NameObject("/OpenAction")] = _action("/JavaScript", JS=TextStringObject("x"))
    root[NameObject("/AA")] = DictionaryObject(
        {NameObject("/WC"): _action("/JavaScript", JS=TextStringObject("x"))}
    )
    root[NameObject("/Names")] = writer._add_object(
        DictionaryObject({NameObject("/JavaScript"): DictionaryObject()})
    )
    writer.add_outline_item(title="Inside", page_number=1)
    bookmark = writer.add_outline_item(title="Outside", page_number=0).get_object()
    bookmark.pop("/Dest", None)
    bookmark[NameObject("/A")] = _uri("file:///etc/passwd")
    return _written(writer)


def test_every_action_but_safe_links_and_goto_is_dropped_wherever_it_is() -> None:
    original = _actions_pdf()
    assert len([a for a in annotation_actions(original) if dangerous(a)]) == 15
    bookmark = PdfReader(io.BytesIO(original)).trailer["/Root"]["/Outlines"]["/Last"]
    assert bookmark["/A"]["/URI"] == "file:///etc/passwd"
    pdf = finish(original, RenderOptions(), "", watermark=False)
    assert pdf.startswith(original)
    reader = PdfReader(io.BytesIO(pdf), strict=True)
    assert [a for a in annotation_actions(pdf) if dangerous(a)] == []
    assert sorted(live_uris(pdf)) == [
        "http://example.org/",
        "https://example.com/",
        "mailto:a@example.com",
    ]
    # The annotations stay where they were (a tagged PDF's structure may point at them),
    # inert; the internal links keep working.
    first, second = reader.pages
    assert len(first["/Annots"]) == 15 and len(second["/Annots"]) == 2
    assert first["/Annots"][2]["/A"]["/S"] == "/GoTo"
    assert reader.get_page_number(first["/Annots"][3]["/Dest"][0].get_object()) == 1
    assert "/AA" not in first["/Annots"][14]
    assert list(second["/AA"]) == ["/C"]  # the page's GoTo stays, its Launch goes
    root = reader.trailer["/Root"]
    assert "/OpenAction" not in root and "/AA" not in root
    assert "/JavaScript" not in root["/Names"]
    assert reader.get_destination_page_number(reader.outline[0]) == 1
    outlines = root["/Outlines"]
    assert outlines["/First"]["/A"]["/S"] == "/GoTo" and "/A" not in outlines["/Last"]


def test_a_pdf_whose_links_are_all_safe_comes_back_as_it_was() -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=100, height=100)
    writer.pages[0][NameObject("/Annots")] = ArrayObject(
        [writer._add_object(_link(_uri(uri))) for uri in ("https://example.com/", "mailto:a@b")]
    )
    original = _written(writer)
    # pypdf writes the colon as an escape (\072): the fast scan leaves that to the long way,
    # which finds nothing to drop.
    assert b"(https\\072" in original and may_have_unsafe_actions(original)
    assert finish(original, RenderOptions(), "", watermark=False) is original


@pytest.mark.parametrize(
    ("pdf_bytes", "unsafe"),
    [
        (b"<</Type /Action /S /URI\n/URI (https://example.com/)>>", False),
        (b"<</S/URI/URI(mailto:a@example.com)>>", False),
        (b"<</S /URI /URI (HTTPS://EXAMPLE.COM)>>", False),
        (b"<</S /GoTo /D [3 0 R /Fit]>>", False),
        (b"<</S /P /K 3>> <</S /Link>> <</S /Transparency>> <</Size 3 /Subtype /Link>>", False),
        (b"<</S /JavaScriptish>>", False),
        (b"<</S /URI\n/URI (javascript:alert(1))>>", True),
        (b"<</S /URI /URI ( https://example.com/)>>", True),
        (b"<</S /URI /URI <68747470733a2f2f>>>", True),
        (b"<</S /URI /URI 12 0 R>>", True),
        (b"<</S /URI /URI (\\150ttps://example.com/)>>", True),
        (b"<</S /JavaScript /JS (app.alert(1))>>", True),
        (b"<</S /Launch /F (calc.exe)>>", True),
        (b"<</S/Named/N/Print>>", True),
        (b"<</S 5 0 R>>", True),
        (b"<</S (JavaScript)>>", False),  # not an action type a reader knows
        (b"<</URI <</Base (file:///)>>>>", True),
    ],
)
def test_the_fast_scan_passes_only_what_is_certainly_harmless(
    pdf_bytes: bytes, unsafe: bool
) -> None:
    assert may_have_unsafe_actions(b"%PDF-1.4\n" + pdf_bytes) is unsafe


def _xref_stream_pdf(objects: dict[int, bytes], packed: set[int]) -> bytes:
    """A PDF whose cross-references are a stream (as WeasyPrint writes them), with the
    objects numbered in `packed` in a compressed object stream."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets: dict[int, tuple[int, int, int]] = {}
    packed = packed & set(objects)
    plain = {n: body for n, body in objects.items() if n not in packed}
    stream_number = max(objects) + 1
    for n, body in plain.items():
        offsets[n] = (1, out.tell(), 0)
        out.write(b"%d 0 obj\n%s\nendobj\n" % (n, body))
    if packed:
        heads, bodies = [], b""
        for i, n in enumerate(sorted(packed)):
            heads.append(b"%d %d" % (n, len(bodies)))
            bodies += objects[n] + b"\n"
            offsets[n] = (2, stream_number, i)
        head = b" ".join(heads) + b"\n"
        data = zlib.compress(head + bodies)
        offsets[stream_number] = (1, out.tell(), 0)
        out.write(
            b"%d 0 obj\n<</Type /ObjStm/N %d/First %d/Filter /FlateDecode/Length %d>>\nstream\n"
            % (stream_number, len(packed), len(head), len(data))
        )
        out.write(data + b"\nendstream\nendobj\n")
    xref = max(offsets) + 1
    offsets[xref] = (1, out.tell(), 0)
    rows = b"".join(struct.pack(">BIH", *offsets.get(n, (0, 0, 0))) for n in range(xref + 1))
    out.write(
        b"%d 0 obj\n<</Type /XRef/Size %d/W [1 4 2]/Root 1 0 R/Length %d>>\nstream\n"
        % (xref, xref + 1, len(rows))
    )
    out.write(rows + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % offsets[xref][1])
    return out.getvalue()


_CATALOG = b"<</Type /Catalog/Pages 2 0 R>>"
_PAGES = b"<</Type /Pages/Kids [3 0 R]/Count 1>>"
_PAGE = b"<</Type /Page/Parent 2 0 R/MediaBox [0 0 200 100]/Contents 4 0 R%s>>"
_CONTENT = b"<</Length 0>>\nstream\n\nendstream"
_ANNOTS = b"/Annots [5 0 R]"
_LINK = b"<</Type /Annot/Subtype /Link/Rect [0 0 9 9]/A <</S /URI/URI (%s)>>>>"


@pytest.mark.parametrize("packed", [set(), {1, 2, 3}, {1, 2, 3, 5}])
def test_a_pdf_with_cross_reference_streams_gets_a_stream_update(packed: set[int]) -> None:
    """Its dictionaries packed in a compressed object stream or not; the fast scan reads them
    all the same, and the update is a cross-reference stream pointing back."""
    original = _xref_stream_pdf(
        {1: _CATALOG, 2: _PAGES, 3: _PAGE % _ANNOTS, 4: _CONTENT, 5: _LINK % b"javascript:x"},
        packed,
    )
    assert may_have_unsafe_actions(original)
    pdf = finish(original, RenderOptions(author="Ann"), "", watermark=True)
    assert pdf.startswith(original)
    assert b"/Type /XRef" in pdf[len(original) :] and b"\ntrailer" not in pdf
    reader = PdfReader(io.BytesIO(pdf), strict=True)
    assert reader.metadata is not None and reader.metadata.author == "Ann"
    assert WATERMARK_TEXT in reader.pages[0].extract_text() and stamped_last(reader.pages[0])
    assert [a for a in annotation_actions(pdf) if dangerous(a)] == []
    # With a link to the web instead, nothing is to be done, and the scan knows it.
    quiet = _xref_stream_pdf(
        {1: _CATALOG, 2: _PAGES, 3: _PAGE % _ANNOTS, 4: _CONTENT, 5: _LINK % b"https://x.example/"},
        packed,
    )
    assert not may_have_unsafe_actions(quiet)
    assert finish(quiet, RenderOptions(), "", watermark=False) is quiet


def test_the_render_key_tells_a_watermarked_render_from_another() -> None:
    keys = {
        render_key("u", "chromium", "<p>x</p>", RenderOptions(), watermark=watermark)
        for watermark in (False, True)
    }
    assert len(keys) == 2
    assert render_key("u", "chromium", "<p>x</p>", RenderOptions(), watermark=True) in keys


def test_a_pdf_whose_cross_references_cannot_be_followed_is_copied_whole_first() -> None:
    """Bytes after its end (more than the tail searched for `startxref`): pypdf still reads
    it, and the finished PDF is a copy with the update after it."""
    original = _pages_pdf() + b"%" + b"x" * 2000 + b"\n"
    pdf = finish(original, RenderOptions(author="Ann"), "", watermark=True)
    assert not pdf.startswith(original)
    reader = PdfReader(io.BytesIO(pdf), strict=True)
    assert reader.metadata is not None and reader.metadata.author == "Ann"
    assert all(stamped_last(page) for page in reader.pages) and len(reader.pages) == 5
