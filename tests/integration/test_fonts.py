"""Every script renders with the installed fonts (never from the web) and its text comes back."""

from __future__ import annotations

import io
import unicodedata
from collections.abc import AsyncIterator

import pytest
from pypdf import PdfReader

from pdfprompt.domain import RenderOptions
from pdfprompt.generate import markdown_document
from pdfprompt.render import ChromiumRenderer, chromium_renderer
from pdfprompt.settings import Settings

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


@pytest.fixture
async def renderer() -> AsyncIterator[ChromiumRenderer]:
    async with chromium_renderer(Settings(max_pdf_concurrency=1)) as r:
        yield r


def _words(text: str) -> set[str]:
    # PDF text of right-to-left scripts comes out in visual order and Arabic in presentation
    # forms: compare NFKC-normalised words, not the line.
    return set(unicodedata.normalize("NFKC", text).split())


async def test_each_script_renders_and_extracts(renderer: ChromiumRenderer) -> None:
    missing = {}
    for script, sample in SAMPLES.items():
        out = await renderer.render(markdown_document(f"# {script}\n\n{sample}"), RenderOptions())
        text = PdfReader(io.BytesIO(out.data)).pages[0].extract_text()
        if not _words(sample) <= _words(text):
            missing[script] = text
        # The glyphs come from embedded fonts, so the PDF names a font for the script.
        assert b"/FontFile" in out.data
    assert missing == {}
    assert renderer.blocked_requests == 0  # no font was fetched from anywhere
