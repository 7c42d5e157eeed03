"""Merging, splitting and rewriting PDFs users bring (pikepdf), each read within `PdfLimits`
first: encryption refused, the page count (claimed, then counted), the objects, and the bytes
every stream decodes to (each and in all) checked before anything else is done with it.

These run in the child process of `pdf/child.py`, whose memory and CPU time are capped: a
PDF that passes a limit those checks do not see still fails alone. Never call them in a
process that serves anything else."""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pikepdf

from pdfprompt.domain import (
    PageLimitExceededError,
    PdfEncryptedError,
    PdfLimits,
    PdfMalformedError,
    PdfTooComplexError,
    split_pages,
)
from pdfprompt.pdf.links import disarm, may_have_unsafe_actions
from pdfprompt.pdf.stamp import WATERMARK_TEXT, stamp
from pdfprompt.pdf.update import PdfUpdate

_CHUNK = 1 << 20  # decoded bytes looked at a time when counting a stream's
_MAX_TITLE_CHARS = 200


@dataclass
class Checked:
    """A PDF opened and checked: its pages and own title (document information)."""

    pdf: pikepdf.Pdf
    pages: int
    title: str | None
    decoded_bytes: int = 0
    warnings: list[str] = field(default_factory=list)


def open_checked(path: str, limits: PdfLimits, *, what: str = "the PDF") -> Checked:
    """The PDF at `path`, opened and checked within `limits`: `PdfEncryptedError`,
    `PdfMalformedError`, `PdfTooComplexError`, `PageLimitExceededError`."""
    try:
        pdf = pikepdf.open(path, attempt_recovery=True)
    except pikepdf.PasswordError:
        raise PdfEncryptedError(
            f"{what} is encrypted (it needs a password to open); upload it without protection"
        ) from None
    except MemoryError:
        raise PdfTooComplexError(f"{what} needs more memory to read than allowed") from None
    except pikepdf.PdfError as exc:
        if "bad_alloc" in str(exc):
            raise PdfTooComplexError(f"{what} needs more memory to read than allowed") from None
        raise PdfMalformedError(f"{what} cannot be read as a PDF ({_short(exc)})") from None
    try:
        return _checked(pdf, limits, what)
    except BaseException:
        pdf.close()
        raise


def _checked(pdf: pikepdf.Pdf, limits: PdfLimits, what: str) -> Checked:
    if pdf.is_encrypted:
        raise PdfEncryptedError(
            f"{what} is encrypted (its permissions are protected by a password); upload it "
            "without protection"
        )
    declared = pdf.trailer.get("/Size")
    if isinstance(declared, int) and declared > limits.max_objects:
        raise PdfTooComplexError(
            f"{what} declares {declared} objects; at most {limits.max_objects} are read"
        )
    try:
        claimed = pdf.Root.Pages.get("/Count")
    except (AttributeError, pikepdf.PdfError, TypeError, ValueError):
        raise PdfMalformedError(f"{what} has no page tree") from None
    if isinstance(claimed, int) and claimed > limits.max_pages:
        raise PageLimitExceededError(
            f"{what} has {claimed} pages; at most {limits.max_pages} are read"
        )
    try:
        pages = len(pdf.pages)
    except (pikepdf.PdfError, RecursionError, ValueError) as exc:
        raise PdfMalformedError(f"{what}'s page tree cannot be read ({_short(exc)})") from None
    if pages == 0:
        raise PdfMalformedError(f"{what} has no pages")
    if pages > limits.max_pages:
        raise PageLimitExceededError(
            f"{what} has {pages} pages; at most {limits.max_pages} are read"
        )
    decoded = _check_streams(pdf, limits, what)
    return Checked(pdf, pages, _title(pdf), decoded)


def _check_streams(pdf: pikepdf.Pdf, limits: PdfLimits, what: str) -> int:
    """The bytes every stream of `pdf` decodes to, in all; `PdfTooComplexError` past the
    limits on objects, on one stream's bytes or on all of them, `PdfMalformedError` for
    a stream that cannot be decoded. A Flate stream is counted as it is inflated, a chunk at
    a time, so a bomb is stopped at the limit without being held."""
    total = 0
    for count, obj in enumerate(pdf.objects, 1):
        if count > limits.max_objects:
            raise PdfTooComplexError(
                f"{what} has more than {limits.max_objects} objects; at most that many are read"
            )
        if not isinstance(obj, pikepdf.Stream):
            continue
        size = _decoded_size(obj, limits.max_stream_bytes, what)
        if size > limits.max_stream_bytes:
            raise PdfTooComplexError(
                f"{what} has a stream that decodes to more than {limits.max_stream_bytes} "
                "bytes (a compressed bomb?); it is not read"
            )
        total += size
        if total > limits.max_decoded_bytes:
            raise PdfTooComplexError(
                f"{what}'s streams decode to more than {limits.max_decoded_bytes} bytes in all; "
                "it is not read"
            )
    return total


def _filters(stream: pikepdf.Stream) -> list[str]:
    found = stream.get("/Filter")
    if found is None:
        return []
    if isinstance(found, pikepdf.Array):
        return [str(f) for f in found]
    return [str(found)]


# Image codecs a reader decodes only to draw: their bytes are not decoded here.
_IMAGE_CODECS = frozenset({"/DCTDecode", "/JPXDecode", "/JBIG2Decode", "/CCITTFaxDecode"})


def _decoded_size(stream: pikepdf.Stream, limit: int, what: str) -> int:
    """How many bytes `stream` decodes to, counting no further than just past `limit`."""
    filters = _filters(stream)
    try:
        if not filters:
            return len(stream.read_raw_bytes())
        if filters == ["/FlateDecode"]:
            return _inflated_size(stream.read_raw_bytes(), limit)
        if any(f in _IMAGE_CODECS for f in filters):
            # An image's codec is decoded only to draw it; a Flate layer before it is
            # counted like any (a deflated JPEG can be a bomb too).
            if filters[0] == "/FlateDecode":
                return _inflated_size(stream.read_raw_bytes(), limit)
            return len(stream.read_raw_bytes())
        # Other chains (LZW, ASCII85, Flate twice, …) are decoded whole, within the
        # process's memory.
        return len(stream.read_bytes())
    except MemoryError:
        raise PdfTooComplexError(
            f"{what} has a stream too large to decode in the memory allowed"
        ) from None
    except (pikepdf.PdfError, zlib.error, ValueError) as exc:
        if "bad_alloc" in str(exc):  # qpdf ran out of the memory allowed
            raise PdfTooComplexError(
                f"{what} has a stream too large to decode in the memory allowed"
            ) from None
        raise PdfMalformedError(
            f"{what} has a stream that cannot be decoded ({_short(exc)})"
        ) from None


def _inflated_size(raw: bytes, limit: int) -> int:
    """The size `raw` inflates to, counted a chunk at a time up to just past `limit`; a
    truncated stream counts what it gives (readers draw what they can of it)."""
    inflate = zlib.decompressobj()
    size = 0
    data = raw
    try:
        while data and size <= limit:
            size += len(inflate.decompress(data, _CHUNK))
            data = inflate.unconsumed_tail
            if inflate.eof:
                break
        if size <= limit and not inflate.eof:
            size += len(inflate.flush())
    except zlib.error:
        if size == 0:
            raise
    return size


def _title(pdf: pikepdf.Pdf) -> str | None:
    """The document's own title (its document information), when it has one."""
    try:
        found = pdf.docinfo.get("/Title")
    except (pikepdf.PdfError, ValueError, AttributeError):
        return None
    if found is None:
        return None
    try:
        text = " ".join(str(found).split())
    except (pikepdf.PdfError, ValueError, UnicodeError):
        return None
    return text[:_MAX_TITLE_CHARS] or None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:199] + "…"


# -- outlines -----------------------------------------------------------------------------

MAX_KEPT_OUTLINE_ITEMS = 5000  # of one input's own outline, kept under its entry
MAX_KEPT_OUTLINE_DEPTH = 15


def _outline_of(pdf: pikepdf.Pdf, offset: int) -> list[pikepdf.OutlineItem]:
    """`pdf`'s own outline, its destinations moved to where its pages begin in the merged
    PDF (`offset`); at most `MAX_KEPT_OUTLINE_ITEMS` entries and `MAX_KEPT_OUTLINE_DEPTH`
    levels; an entry whose destination is not one of its pages keeps its title alone; an
    outline that cannot be read is left out (the input keeps its one entry)."""
    pages: dict[tuple[int, int], int] = {page.obj.objgen: n for n, page in enumerate(pdf.pages)}
    left = [MAX_KEPT_OUTLINE_ITEMS]

    def copy(item: pikepdf.OutlineItem, depth: int) -> pikepdf.OutlineItem | None:
        if left[0] <= 0:
            return None
        left[0] -= 1
        index = None
        found = item.resolved_destination(pdf)
        target = getattr(found, "page", None)
        if isinstance(target, pikepdf.Dictionary):
            index = pages.get(target.objgen)
        kept = pikepdf.OutlineItem(
            " ".join(str(item.title).split())[:_MAX_TITLE_CHARS] or "-",
            None if index is None else offset + index,
        )
        if depth < MAX_KEPT_OUTLINE_DEPTH:
            kept.children.extend(
                c for c in (copy(child, depth + 1) for child in item.children) if c is not None
            )
        return kept

    try:
        outline = pdf.open_outline(max_depth=MAX_KEPT_OUTLINE_DEPTH)
        return [k for k in (copy(item, 1) for item in outline.root) if k is not None]
    except (pikepdf.PdfError, pikepdf.OutlineStructureError, ValueError, TypeError, KeyError):
        return []
    except (AttributeError, RecursionError):
        return []


# -- page labels ------------------------------------------------------------------------


def _label_ranges(pdf: pikepdf.Pdf) -> list[tuple[int, pikepdf.Dictionary]]:
    """The page label ranges of `pdf` (first page index, label dictionary), in order."""
    try:
        labels = pdf.Root.get("/PageLabels")
        if labels is None:
            return []
        tree = pikepdf.NumberTree(labels)
        found = sorted((int(k), v) for k, v in tree.items() if isinstance(v, pikepdf.Dictionary))
    except (pikepdf.PdfError, ValueError, TypeError, AttributeError):
        return []
    return found


def _label_of(
    ranges: list[tuple[int, pikepdf.Dictionary]], index: int
) -> tuple[int, dict[str, Any]]:
    """The range that `index` is in (its first index, -1 for none) and the label of the
    page as a range starting there would give it."""
    start, label = -1, None
    for first, value in ranges:
        if first > index:
            break
        start, label = first, value
    if label is None:
        return -1, {}
    shown: dict[str, Any] = {}
    style = label.get("/S")
    if isinstance(style, pikepdf.Name) and str(style) in ("/D", "/R", "/r", "/A", "/a"):
        shown["/S"] = pikepdf.Name(str(style))
    prefix = label.get("/P")
    if isinstance(prefix, pikepdf.String):
        shown["/P"] = pikepdf.String(str(prefix)[:100])
    first_number = label.get("/St")
    number = int(first_number) if isinstance(first_number, int) and first_number >= 1 else 1
    shown["/St"] = number + index - start
    return start, shown


def _write_labels(out: pikepdf.Pdf, pages: Sequence[tuple[int, int, list[Any]]]) -> None:
    """Page labels for `out` from where each of its pages came from: (source number, index
    in it, the source's label ranges). A page of a source without labels is labelled with
    its number in `out`. Nothing is written when no source has labels."""
    if not any(ranges for _, _, ranges in pages):
        return
    tree = pikepdf.NumberTree.new(out)
    previous: tuple[int, int, int] | None = None
    for at, (source, index, ranges) in enumerate(pages):
        start, label = _label_of(ranges, index)
        if start == -1:
            label = {"/S": pikepdf.Name.D, "/St": at + 1}
        if previous != (source, start, index - 1):
            tree[at] = pikepdf.Dictionary(label)
        previous = (source, start, index)
    out.Root.PageLabels = tree.obj


# -- the operations ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Source:
    path: str
    name: str  # how errors name it ("inputs.1 (report.pdf)")
    title: str | None = None  # the outline title asked for
    file_name: str = ""  # the outline title of last resort; a split's parts are named after it


def inspect(path: str, limits: PdfLimits) -> dict[str, Any]:
    """The checks alone (an upload): its pages and title."""
    checked = open_checked(path, limits, what="the file")
    with checked.pdf:
        return {"pages": checked.pages, "title": checked.title}


def _saved(pdf: pikepdf.Pdf, meta: dict[str, str], watermark: bool) -> bytes:
    """`pdf` written whole, with the document information `meta` asks for, every action but
    links to http, https, mailto addresses and within it dropped, and with `watermark` the
    plan's watermark on every page."""
    if meta:
        with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=True) as xmp:
            for key, value in meta.items():
                if key == "title":
                    xmp["dc:title"] = value
                elif key == "author":
                    xmp["dc:creator"] = [value]
                elif key == "subject":
                    xmp["dc:description"] = value
                elif key == "keywords":
                    xmp["pdf:Keywords"] = value
    out = io.BytesIO()
    pdf.save(
        out,
        deterministic_id=True,
        object_stream_mode=pikepdf.ObjectStreamMode.generate,
        compress_streams=True,
    )
    data = out.getvalue()
    unsafe = may_have_unsafe_actions(data)
    if unsafe or watermark:
        update = PdfUpdate(data)
        if unsafe:
            disarm(update)
        if watermark:
            stamp(update, WATERMARK_TEXT)
        data = update.written()
    return data


def merge(
    sources: Sequence[Source], limits: PdfLimits, meta: dict[str, str], *, watermark: bool = False
) -> tuple[bytes, int]:
    """The sources' pages in order as one PDF: an outline entry at each one's first page
    (its title: the one asked for, else its own, else its name) and their page labels
    kept. The PDF and its pages."""
    with ExitStack() as stack:
        out = stack.enter_context(pikepdf.new())
        entries: list[tuple[str, int, list[pikepdf.OutlineItem]]] = []
        origins: list[tuple[int, int, list[Any]]] = []
        total = 0
        decoded = 0
        for number, source in enumerate(sources):
            checked = open_checked(source.path, limits, what=source.name)
            stack.enter_context(checked.pdf)
            total += checked.pages
            decoded += checked.decoded_bytes
            if total > limits.max_pages:
                raise PageLimitExceededError(
                    f"the merged PDF would have more than {limits.max_pages} pages"
                )
            if decoded > limits.max_decoded_bytes:
                raise PdfTooComplexError(
                    f"the PDFs' streams decode to more than {limits.max_decoded_bytes} bytes in all"
                )
            title = source.title or checked.title or _stem(source.file_name or source.name)
            entries.append((title, len(out.pages), _outline_of(checked.pdf, len(out.pages))))
            ranges = _label_ranges(checked.pdf)
            origins += [(number, i, ranges) for i in range(checked.pages)]
            out.pages.extend(checked.pdf.pages)
        _write_labels(out, origins)
        with out.open_outline() as outline:
            for title, page, kept in entries:
                entry = pikepdf.OutlineItem(title, page)
                entry.children.extend(kept)
                outline.root.append(entry)
        return _saved(out, meta, watermark), len(out.pages)


def split(
    source: Source,
    ranges: str,
    limits: PdfLimits,
    meta: dict[str, str],
    *,
    watermark: bool = False,
) -> tuple[bytes, list[dict[str, Any]]]:
    """One PDF for each range of `ranges`, in a ZIP archive (stored, not compressed again:
    PDFs are), named `STEM-FIRST-LAST.pdf`; the archive and its entries (name, pages)."""
    checked = open_checked(source.path, limits, what=source.name)
    with checked.pdf as pdf:
        spans = split_pages(ranges, checked.pages)
        if sum(last - first + 1 for first, last in spans) > limits.max_pages:
            raise PageLimitExceededError(
                f"the parts would have more than {limits.max_pages} pages in all"
            )
        labels = _label_ranges(pdf)
        stem = _stem(source.file_name or source.name) or "part"
        archive = io.BytesIO()
        entries: list[dict[str, Any]] = []
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zipped:
            for n, (first, last) in enumerate(spans, 1):
                with pikepdf.new() as part:
                    part.pages.extend(pdf.pages[first - 1 : last])
                    _write_labels(part, [(0, i, labels) for i in range(first - 1, last)])
                    data = _saved(part, meta, watermark)
                name = _entry_name(stem, n, first, last, len(spans))
                zipped.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data)
                entries.append({"name": name, "pages": last - first + 1, "size_bytes": len(data)})
        return archive.getvalue(), entries


def rewrite(
    source: Source, limits: PdfLimits, meta: dict[str, str], *, watermark: bool = False
) -> tuple[bytes, int]:
    """The PDF read and written again (what a `pdf` job finishes): repaired where it was
    damaged, with its unsafe actions dropped."""
    checked = open_checked(source.path, limits, what=source.name)
    with checked.pdf as pdf:
        return _saved(pdf, meta, watermark), checked.pages


def first_part(archive: bytes) -> bytes:
    """The first PDF of a split's archive."""
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        return zipped.read(zipped.namelist()[0])


def _entry_name(stem: str, n: int, first: int, last: int, parts: int) -> str:
    pages = f"{first}" if first == last else f"{first}-{last}"
    width = len(str(parts))
    return f"{stem}-{n:0{width}d}-p{pages}.pdf"


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


def _stem(name: str) -> str:
    """A file name without its `.pdf`, made safe for an archive entry's name."""
    stem = name[:-4] if name.lower().endswith(".pdf") else name
    return _UNSAFE_NAME.sub("-", stem).strip(" .-")[:80]
