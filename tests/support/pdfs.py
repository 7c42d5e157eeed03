"""PDFs for the PDF job types: small ones with text, a title and page labels, and hostile
ones (malformed, encrypted, a compressed bomb, a huge page tree, a page tree that loops)."""

from __future__ import annotations

import functools
import io
import struct
import zlib

import pikepdf

MB = 1024 * 1024


def text_pdf(
    pages: int,
    name: str,
    *,
    title: str | None = None,
    labels: list[tuple[int, dict[str, object]]] | None = None,
) -> bytes:
    """A PDF of `pages` A4 pages, page N showing "NAME page N"; `title` in its document
    information; `labels`: page label ranges (first page index, {"S": "/r", "P": "x-", "St": 1})."""
    pdf = pikepdf.new()
    font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
        )
    )
    for n in range(1, pages + 1):
        content = f"BT /F1 24 Tf 72 720 Td ({name} page {n}) Tj ET".encode()
        page = pikepdf.Dictionary(
            Type=pikepdf.Name.Page,
            MediaBox=[0, 0, 595, 842],
            Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)),
            Contents=pdf.make_stream(content),
        )
        pdf.pages.append(pikepdf.Page(page))
    if title is not None:
        pdf.docinfo["/Title"] = title
    if labels:
        tree = pikepdf.NumberTree.new(pdf)
        for first, label in labels:
            entry = pikepdf.Dictionary()
            for key, value in label.items():
                entry[f"/{key}"] = (
                    pikepdf.Name(value)
                    if key == "S"
                    else pikepdf.String(value)
                    if key == "P"
                    else value
                )
            tree[first] = entry
        pdf.Root.PageLabels = tree.obj
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def encrypted_pdf(*, user_password: str = "secret") -> bytes:
    """A one-page PDF that needs `user_password` to open (empty: it opens, protected by an
    owner password alone)."""
    pdf = pikepdf.open(io.BytesIO(text_pdf(1, "locked")))
    out = io.BytesIO()
    pdf.save(out, encryption=pikepdf.Encryption(user=user_password, owner="owner-secret", R=6))
    return out.getvalue()


def malformed_pdf() -> bytes:
    return b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\nthis is not a PDF\n" * 20


def _raw_pdf(objects: list[bytes], root: int = 1) -> bytes:
    """A PDF made of `objects` (object N is `objects[N-1]`), with a cross-reference table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        root,
        xref,
    )
    return bytes(out)


def _stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s >>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def deflated_zeros(size: int) -> bytes:
    """`size` zero bytes (a multiple of 16 MiB), deflated (zlib format, about a thousandth of
    the size): one block of 16 MiB compressed once and repeated, which a full flush makes
    independent of what comes before it; the checksum of zeros computed."""
    chunk = 16 * MB
    assert size % chunk == 0
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(b"\0" * chunk) + packer.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    adler = ((size % 65521) << 16) | 1
    return b"\x78\xda" + block * (size // chunk) + end + struct.pack(">I", adler)


@functools.cache
def bomb_pdf(decoded_bytes: int = 2048 * MB, *, twice: bool = False) -> bytes:
    """A one-page PDF whose content stream is small and inflates to `decoded_bytes` of
    zeros; `twice`: deflated twice (`[/FlateDecode /FlateDecode]`), so that a few kilobytes
    inflate to gigabytes."""
    data = deflated_zeros(decoded_bytes)
    filters = b"/Filter /FlateDecode"
    if twice:
        data = zlib.compress(data, 9)
        filters = b"/Filter [/FlateDecode /FlateDecode]"
    return _raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
            _stream(data, filters),
        ]
    )


@functools.cache
def many_pages_pdf(pages: int, *, claimed: int | None = None) -> bytes:
    """A PDF of `pages` empty pages sharing one content stream; its page tree's /Count says
    `claimed` (default: the truth)."""
    kids = b" ".join(b"%d 0 R" % (4 + n) for n in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages if claimed is None else claimed),
        _stream(b"BT ET"),
    ]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 3 0 R >>"] * pages
    return _raw_pdf(objects)


def looping_pdf() -> bytes:
    """A PDF whose page tree holds itself: the root's kids are a page and the root."""
    return _raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R 2 0 R 4 0 R] /Count 3 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
            b"<< /Type /Pages /Parent 2 0 R /Kids [4 0 R 2 0 R] /Count 2 >>",
        ]
    )


@functools.cache
def image_bomb_pdf(decoded_bytes: int = 1024 * MB) -> bytes:
    """A one-page PDF drawing a 10 x 10 image whose stream is `[/FlateDecode /DCTDecode]`:
    a Flate layer that inflates to `decoded_bytes` before the JPEG codec."""
    return _raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842]"
            b" /Resources << /XObject << /I 4 0 R >> >> /Contents 5 0 R >>",
            _stream(
                deflated_zeros(decoded_bytes),
                b"/Type /XObject /Subtype /Image /Width 10 /Height 10 /ColorSpace /DeviceGray"
                b" /BitsPerComponent 8 /Filter [/FlateDecode /DCTDecode]",
            ),
            _stream(b"q 100 0 0 100 0 0 cm /I Do Q"),
        ]
    )
