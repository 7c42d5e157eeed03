"""The PDF workshop: operations on PDFs users bring run in child processes whose time,
CPU and memory are capped, and every way a child can be stopped is an error with a code;
a cancelled operation leaves no process behind."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pikepdf
import psutil
import pytest

from pdfprompt.domain import (
    JobError,
    PdfLimits,
    PdfTimeoutError,
    PdfTooComplexError,
    as_repeated,
)
from pdfprompt.pdf import PdfPart, PdfWorkshop
from tests.support.pdfs import MB, bomb_pdf, image_bomb_pdf, text_pdf

# Limits the checks in the child do not stop first: only the process's own caps can.
UNCHECKED = PdfLimits(max_stream_bytes=1 << 40, max_decoded_bytes=1 << 40)


def _children(before: frozenset[int] = frozenset()) -> list[psutil.Process]:
    """This process's running children, but those in `before` (the suite's other tests may
    have left long-lived pools in a process they share)."""
    return [
        p
        for p in psutil.Process().children(recursive=True)
        if p.is_running() and p.pid not in before
    ]


def _present() -> frozenset[int]:
    return frozenset(p.pid for p in _children())


async def test_a_merge_makes_its_pdf_and_a_thumbnail_of_its_first_page() -> None:
    workshop = PdfWorkshop(PdfLimits())
    made = await workshop.merge(
        [PdfPart(text_pdf(2, "A"), "a", file_name="a.pdf"), PdfPart(text_pdf(1, "B"), "b")],
        {"author": "Ann"},
    )
    assert made.pages == 3
    assert made.thumbnail is not None and made.thumbnail.startswith(b"\x89PNG")
    with pikepdf.open(io.BytesIO(made.data)) as pdf:
        assert len(pdf.pages) == 3 and str(pdf.docinfo["/Author"]) == "Ann"
    assert (await workshop.thumbnail(made.data) or b"").startswith(b"\x89PNG")
    assert await workshop.thumbnail(b"%PDF-1.7 not really") is None


async def test_past_its_time_the_child_is_stopped_and_a_second_time_is_final() -> None:
    workshop = PdfWorkshop(PdfLimits(timeout_s=0.05))
    before = _present()
    with pytest.raises(PdfTimeoutError) as first:
        await workshop.rewrite(PdfPart(text_pdf(1, "A"), "a"), {})
    assert first.value.transient and workshop.stopped == 1
    assert as_repeated(first.value, None).transient  # a busy machine, once
    assert not as_repeated(first.value, JobError("pdf_timeout", "before")).transient
    assert _children(before) == []


async def test_past_its_cpu_time_the_child_is_stopped() -> None:
    workshop = PdfWorkshop(
        PdfLimits(max_stream_bytes=1 << 40, max_decoded_bytes=1 << 40, cpu_s=1, timeout_s=60)
    )
    with pytest.raises(PdfTooComplexError) as caught:
        # Inflating 16 GiB of zeros takes far more than a second of CPU.
        await workshop.rewrite(PdfPart(bomb_pdf(16384 * MB), "bomb"), {})
    assert "CPU time" in caught.value.message and not caught.value.transient


async def test_past_its_memory_the_child_fails_alone() -> None:
    workshop = PdfWorkshop(
        PdfLimits(max_stream_bytes=1 << 40, max_decoded_bytes=1 << 40, memory_bytes=512 * MB)
    )
    with pytest.raises(PdfTooComplexError) as caught:
        await workshop.rewrite(PdfPart(bomb_pdf(4096 * MB, twice=True), "bomb"), {})
    assert "memory" in caught.value.message


async def test_a_cancelled_operation_leaves_no_process() -> None:
    workshop = PdfWorkshop(UNCHECKED)
    before = _present()
    task = asyncio.create_task(workshop.rewrite(PdfPart(bomb_pdf(16384 * MB), "bomb"), {}))
    while not _children(before):
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _children(before) == []


def test_an_upload_is_checked_in_a_child() -> None:
    workshop = PdfWorkshop(PdfLimits(max_pages=3))
    assert workshop.inspect(text_pdf(3, "A")) == 3
    with pytest.raises(Exception) as caught:
        workshop.inspect(text_pdf(4, "A"))
    assert getattr(caught.value, "code", None) == "page_limit_exceeded"


async def test_a_deflated_image_is_counted_before_its_codec() -> None:
    """A JPEG is not decoded to be checked, but a Flate layer before its codec is: a bomb
    hidden in an image's stream is refused like any."""
    with pytest.raises(PdfTooComplexError) as caught:
        await PdfWorkshop(PdfLimits()).rewrite(PdfPart(image_bomb_pdf(), "image"), {})
    assert "decodes to more than" in caught.value.message


def _with_outline(pdf_bytes: bytes, entries: list[tuple[str, int, list[tuple[str, int]]]]) -> bytes:
    with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
        with pdf.open_outline() as outline:
            for title, page, children in entries:
                item = pikepdf.OutlineItem(title, page)
                item.children.extend(pikepdf.OutlineItem(t, p) for t, p in children)
                outline.root.append(item)
        out = io.BytesIO()
        pdf.save(out)
        return out.getvalue()


def _tree(pdf: pikepdf.Pdf) -> list[Any]:
    pages = {page.obj.objgen: n for n, page in enumerate(pdf.pages)}

    def walk(item: pikepdf.OutlineItem) -> Any:
        found = item.resolved_destination(pdf)
        page = pages.get(found.page.objgen) if found is not None else None
        return (item.title, page, [walk(c) for c in item.children])

    with pdf.open_outline() as outline:
        return [walk(i) for i in outline.root]


async def test_a_merge_keeps_each_inputs_own_outline_under_its_entry() -> None:
    first = _with_outline(text_pdf(3, "A"), [("Intro", 0, []), ("Body", 1, [("Detail", 2)])])
    made = await PdfWorkshop(PdfLimits()).merge(
        [PdfPart(text_pdf(2, "Z"), "z", file_name="z.pdf"), PdfPart(first, "a", "Alpha")], {}
    )
    with pikepdf.open(io.BytesIO(made.data)) as pdf:
        assert _tree(pdf) == [
            ("z", 0, []),
            ("Alpha", 2, [("Intro", 2, []), ("Body", 3, [("Detail", 4, [])])]),
        ]
