"""Every script renders with the installed fonts (never from the web) and its text comes back."""

from __future__ import annotations

import base64
import io
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pypdf import PageObject, PdfReader

from pdfprompt.domain import RenderOptions
from pdfprompt.generate import markdown_document
from pdfprompt.render import ChromiumRenderer, RendererPool, renderer_from_settings
from tests.support.render import ENGINES, engine_settings

SAMPLES = {
    "latin": "Déjà vu façade naïve",
    "greek": "Καλημέρα κόσμε",
    "cyrillic": "Привет мир",
    "arabic": "مرحبا بالعالم",
    "hebrew": "שלום עולם",
    "chinese": "你好世界",
    "japanese": "こんにちは世界",
    "korean": "안녕하세요 세계",
    "emoji": "😀 🎉",
}


@pytest.fixture(params=ENGINES)
async def renderer(request: pytest.FixtureRequest) -> AsyncIterator[RendererPool]:
    settings = engine_settings(request.param, max_pdf_concurrency=1)
    async with renderer_from_settings(settings) as r:
        yield r


def _words(text: str) -> set[str]:
    # PDF text of right-to-left scripts comes out in visual order and Arabic in presentation
    # forms: compare NFKC-normalised words, not the line.
    return set(unicodedata.normalize("NFKC", text).split())


async def test_each_script_renders_and_extracts(renderer: RendererPool) -> None:
    missing = {}
    for script, sample in SAMPLES.items():
        out = await renderer.render(markdown_document(f"# {script}\n\n{sample}"), RenderOptions())
        page = PdfReader(io.BytesIO(out.data)).pages[0]
        text = page.extract_text()
        if not _words(sample) <= _words(text):
            missing[script] = text
        # The glyphs come from fonts embedded in the PDF.
        assert _embeds_a_font(page), script
    assert missing == {}
    if isinstance(renderer, ChromiumRenderer):
        assert renderer.blocked_requests == 0  # no font was fetched from anywhere


def _embeds_a_font(page: PageObject) -> bool:
    for ref in page["/Resources"]["/Font"].values():
        font = ref.get_object()
        descendants = font.get("/DescendantFonts")
        if descendants is not None:
            font = descendants.get_object()[0].get_object()
        descriptor = font.get("/FontDescriptor")
        if descriptor is not None and any(
            k.startswith("/FontFile") for k in descriptor.get_object()
        ):
            return True
    return False


async def test_a_documents_own_font_from_a_data_uri_is_used(renderer: RendererPool) -> None:
    """A font the document carries as a `data:` URI is loaded before the page is printed (the
    load event waits for it) and embedded; without it the text would fall back to serif."""
    font = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")
    uri = "data:font/ttf;base64," + base64.b64encode(font.read_bytes()).decode()
    doc = (
        f"<style>@font-face {{ font-family: Carried; src: url({uri}); }}"
        "p { font-family: Carried, serif; }</style><p>Carried text</p>"
    )
    out = await renderer.render(doc, RenderOptions())
    page = PdfReader(io.BytesIO(out.data)).pages[0]
    names = {str(ref.get_object()["/BaseFont"]) for ref in page["/Resources"]["/Font"].values()}
    # Chromium names the embedded font by its own name, WeasyPrint by the CSS family.
    assert any(name.endswith(("DejaVuSansMono", "Carried")) for name in names), names
    assert not any("Serif" in name for name in names), names
    assert "Carried text" in page.extract_text()
