"""Changing a PDF by appending to it: the changed and new objects, a cross-reference section
for them and a trailer pointing back to the original's (an incremental update). Readers take
the last section as the document's state; the original bytes are kept whole, so the cost is
what changed, not the document's size. Copying the whole document instead (pypdf's writer)
cost more than its render (docs/render.md has the figures)."""

from __future__ import annotations

import io
import re
import struct
from typing import Any

from pypdf import PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    NumberObject,
    PdfObject,
    TextStringObject,
)

_STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF\s*$")
_OBJECT = re.compile(rb"\d+\s+\d+\s+obj\b")
# The trailer entries an update carries over from the original's last trailer.
_KEPT = ("/Root", "/Info", "/ID")


class PdfUpdate:
    """Objects of a PDF to change or add, written after its bytes by `written()`.

    Objects are read through `reader` and changed in place; `change` says which to write.
    The last cross-reference section of the original decides the update's: a table is
    followed by a table (Chromium writes tables), a stream by a stream (WeasyPrint writes
    streams). A PDF with neither where its `startxref` points is first copied whole."""

    def __init__(self, pdf: bytes) -> None:
        found = _STARTXREF.search(pdf[-1024:])
        previous = int(found.group(1)) if found else -1
        if previous < 0 or not (pdf.startswith(b"xref", previous) or _OBJECT.match(pdf, previous)):
            pdf = _copied(pdf)
            found = _STARTXREF.search(pdf[-1024:])
            assert found is not None
            previous = int(found.group(1))
        self.original = pdf
        self._previous = previous
        self._table = pdf.startswith(b"xref", previous)
        self.reader = PdfReader(io.BytesIO(pdf))
        self.trailer = self.reader.trailer
        if "/Encrypt" in self.trailer:
            raise ValueError("an encrypted PDF cannot be changed")
        size = self.trailer.get("/Size")
        if not isinstance(size, int):
            raise ValueError("the PDF's trailer has no /Size")
        self._size = size
        self._changed: dict[int, tuple[int, PdfObject]] = {}
        self._info: IndirectObject | None = None

    @property
    def root(self) -> DictionaryObject:
        return dictionary(self.trailer.raw_get("/Root"))

    def change(self, ref: IndirectObject, obj: PdfObject) -> None:
        """Write `obj` as the new state of the object `ref` names."""
        self._changed[ref.idnum] = (ref.generation, obj)

    def add(self, obj: PdfObject) -> IndirectObject:
        """A new object; its reference."""
        ref = IndirectObject(self._size, 0, self.reader)
        self._size += 1
        self._changed[ref.idnum] = (0, obj)
        return ref

    def set_information(self, values: dict[str, str]) -> None:
        """Entries of the document information dictionary (made when there is none); only
        those that differ are written."""
        ref = self.trailer.raw_get("/Info") if "/Info" in self.trailer else None
        info = dictionary(ref) if isinstance(ref, IndirectObject) else DictionaryObject()
        wanted = {k: v for k, v in values.items() if str(info.get(k, "")) != v}
        if not wanted:
            return
        for key, value in wanted.items():
            info[NameObject(key)] = TextStringObject(value)
        if isinstance(ref, IndirectObject):
            self.change(ref, info)
        else:
            ref = self.add(info)
        self._info = ref

    def written(self) -> bytes:
        """The PDF with the update appended; the original bytes when nothing changed."""
        if not self._changed:
            return self.original
        pdf = self.original
        out = io.BytesIO()
        out.write(pdf if pdf.endswith(b"\n") else pdf + b"\n")
        offsets: dict[int, tuple[int, int]] = {}
        for number in sorted(self._changed):
            generation, obj = self._changed[number]
            offsets[number] = (out.tell(), generation)
            out.write(f"{number} {generation} obj\n".encode())
            obj.write_to_stream(out)
            out.write(b"\nendobj\n")
        trailer = DictionaryObject(
            {NameObject(k): self.trailer.raw_get(k) for k in _KEPT if k in self.trailer}
        )
        if self._info is not None:
            trailer[NameObject("/Info")] = self._info
        trailer[NameObject("/Prev")] = NumberObject(self._previous)
        at = out.tell()
        if self._table:
            trailer[NameObject("/Size")] = NumberObject(self._size)
            # Object 0, the head of the free list, as in the original: a table that does
            # not start at 0 looks broken to pypdf, which then checks every entry.
            out.write(b"xref\n0 1\n0000000000 65535 f \n")
            for number, (offset, generation) in offsets.items():
                # Each entry is exactly 20 bytes: offset, generation, "n", and a 2-byte end.
                out.write(f"{number} 1\n{offset:010d} {generation:05d} n \n".encode())
            out.write(b"trailer\n")
            trailer.write_to_stream(out)
        else:
            _write_xref_stream(out, trailer, offsets, self._size, at)
        out.write(f"\nstartxref\n{at}\n%%EOF\n".encode())
        return out.getvalue()


def _write_xref_stream(
    out: io.BytesIO,
    trailer: DictionaryObject,
    offsets: dict[int, tuple[int, int]],
    number: int,
    at: int,
) -> None:
    """A cross-reference stream (object `number`, at `at`) for the objects at `offsets` and
    itself, uncompressed: one row of type 1, 4-byte offset, 2-byte generation each."""
    offsets = {**offsets, number: (at, 0)}
    rows = b"".join(struct.pack(">BIH", 1, *offsets[n]) for n in sorted(offsets))
    index: list[int] = []
    for n in sorted(offsets):
        if index and index[-2] + index[-1] == n:
            index[-1] += 1
        else:
            index += [n, 1]
    trailer.update(
        {
            NameObject("/Type"): NameObject("/XRef"),
            NameObject("/Size"): NumberObject(number + 1),
            NameObject("/Index"): ArrayObject(NumberObject(v) for v in index),
            NameObject("/W"): ArrayObject(NumberObject(v) for v in (1, 4, 2)),
            NameObject("/Length"): NumberObject(len(rows)),
        }
    )
    out.write(f"{number} 0 obj\n".encode())
    trailer.write_to_stream(out)
    out.write(b"\nstream\n" + rows + b"\nendstream\nendobj")


def _copied(pdf: bytes) -> bytes:
    """The whole PDF copied by pypdf's writer, whose cross-references are a table."""
    out = io.BytesIO()
    PdfWriter(clone_from=PdfReader(io.BytesIO(pdf))).write(out)
    return out.getvalue()


def dictionary(obj: Any) -> DictionaryObject:
    """The dictionary `obj` is or refers to; ValueError for anything else."""
    found = obj.get_object()
    if not isinstance(found, DictionaryObject):
        raise ValueError(f"not a PDF dictionary: {found!r:.80}")
    return found
