"""The render options of the page itself on both engines, checked in the PDF: the media type
it is laid out for (`media`), a transparent page (`omit_background`, seen in the pixels
poppler draws with an alpha channel), and whose page size wins (`prefer_css_page_size`)."""

from __future__ import annotations

import io
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader

from pdfprompt.domain import RenderOptions
from pdfprompt.render import RendererPool, renderer_from_settings
from tests.support.render import engine_settings, pdf_text

MEDIA_DOCUMENT = (
    "<style>.screen, .print { display: none }"
    "@media screen { .screen { display: block } } @media print { .print { display: block } }"
    "</style><p class=screen>SCREENONLY</p><p class=print>PRINTONLY</p><p>ALWAYS</p>"
)
SIZED_DOCUMENT = "<style>@page { size: 100mm 150mm }</style><p>SIZED</p>"


@pytest.fixture(params=["chromium", "weasyprint"])
async def renderer(request: pytest.FixtureRequest) -> AsyncIterator[RendererPool]:
    settings = engine_settings(request.param, max_pdf_concurrency=1, render_timeout_s=20)
    async with renderer_from_settings(settings) as r:
        yield r


def blank_alpha(pdf: bytes) -> int:
    """The alpha of a pixel of the first page's content area where nothing is written (the
    middle, three quarters down), as poppler draws it on a transparent canvas (0: nothing
    painted there; 255: opaque)."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp, "in.pdf")
        source.write_bytes(pdf)
        subprocess.run(
            ["pdftocairo", "-png", "-transp", "-r", "20", "-singlefile", str(source), f"{tmp}/out"],
            check=True,
            capture_output=True,
        )
        with Image.open(f"{tmp}/out.png") as image:
            rgba = image.convert("RGBA")
            width, height = rgba.size
            return int(rgba.getpixel((width // 2, height * 3 // 4))[3])  # type: ignore[index]


def page_size_mm(pdf: bytes) -> tuple[int, int]:
    box = PdfReader(io.BytesIO(pdf)).pages[0].mediabox
    return round(float(box.width) * 25.4 / 72), round(float(box.height) * 25.4 / 72)


async def test_media_screen_lays_the_page_out_for_the_screen(renderer: RendererPool) -> None:
    printed = pdf_text((await renderer.render(MEDIA_DOCUMENT, RenderOptions())).data)
    assert "PRINTONLY" in printed and "SCREENONLY" not in printed
    screen = pdf_text((await renderer.render(MEDIA_DOCUMENT, RenderOptions(media="screen"))).data)
    assert "SCREENONLY" in screen and "PRINTONLY" not in screen and "ALWAYS" in screen
    # The page goes back to print for the next render on it.
    again = pdf_text((await renderer.render(MEDIA_DOCUMENT, RenderOptions(media="print"))).data)
    assert "PRINTONLY" in again and "SCREENONLY" not in again


async def test_omit_background_leaves_the_page_transparent(renderer: RendererPool) -> None:
    document = "<p>TRANSPARENT</p>"
    omitted = await renderer.render(document, RenderOptions(omit_background=True))
    assert blank_alpha(omitted.data) == 0
    assert "TRANSPARENT" in pdf_text(omitted.data)
    # The document's own backgrounds are still printed.
    painted = await renderer.render(
        "<style>html { background: #36c }</style><p>BLUE</p>", RenderOptions(omit_background=True)
    )
    assert blank_alpha(painted.data) == 255
    # The page goes back to its default background for the next render on it, and a page
    # left transparent before is transparent again.
    await renderer.render(document, RenderOptions())
    after = await renderer.render(document, RenderOptions(omit_background=True))
    assert blank_alpha(after.data) == 0


async def test_prefer_css_page_size_lets_the_documents_page_size_win(
    renderer: RendererPool,
) -> None:
    asked = RenderOptions(format="A4")
    assert page_size_mm((await renderer.render(SIZED_DOCUMENT, asked)).data) == (210, 297)
    preferred = RenderOptions(format="A4", prefer_css_page_size=True)
    assert page_size_mm((await renderer.render(SIZED_DOCUMENT, preferred)).data) == (100, 150)
    # Where the document names no size, the request's is the paper.
    plain = await renderer.render(
        "<p>PLAIN</p>", RenderOptions(format="A5", prefer_css_page_size=True)
    )
    assert page_size_mm(plain.data) == (148, 210)
