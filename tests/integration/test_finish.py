"""The PDFs both engines render, finished: the watermark on every page whatever the document
does, and no link the reader would run or open but http, https and mailto ones."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pypdf import PageObject

from pdfprompt.domain import RenderOptions
from pdfprompt.pdf import finish
from pdfprompt.render import RendererPool, render_pdf, renderer_from_settings
from tests.support.hostile import (
    DANGEROUS_HREFS,
    SAFE_HREFS,
    SMALL_MARGIN,
    WATERMARK_DOCUMENTS,
    annotation_actions,
    dangerous,
    has_watermark_text,
    internal_link_pages,
    links_document,
    live_uris,
    read,
    watermarked_pages,
)
from tests.support.render import ENGINES, engine_settings


@pytest.fixture(params=ENGINES)
async def renderer(request: pytest.FixtureRequest) -> AsyncIterator[RendererPool]:
    settings = engine_settings(
        request.param, max_pdf_concurrency=2, max_pages=25, render_timeout_s=30
    )
    async with renderer_from_settings(settings) as r:
        yield r


def _stamp_position(page: PageObject) -> tuple[float, float, float]:
    """Where the watermark's text begins on the page (x and baseline, in points), and its
    font size."""
    found: list[tuple[float, float, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], _: object, size: float) -> None:
        if "Made with" in text:
            found.append((tm[4] * cm[0] + cm[4], tm[5] * cm[3] + cm[5], size * tm[0] * cm[0]))

    page.extract_text(visitor_text=visit)
    assert len(found) == 1
    return found[0]


async def test_the_watermark_is_drawn_last_on_every_page_whatever_the_document_does(
    renderer: RendererPool,
) -> None:
    unmarked: dict[str, list[bool]] = {}
    for name, (document, values) in WATERMARK_DOCUMENTS.items():
        options = RenderOptions.from_dict(values)
        rendered = await render_pdf(renderer, document, options)
        marked = finish(rendered.data, options, document, watermark=True)
        assert marked.startswith(rendered.data)  # an update appended to the render
        pages = watermarked_pages(marked)
        assert len(pages) == rendered.pages >= (20 if name == "twenty-pages" else 1)
        if not all(pages):
            unmarked[name] = pages
        assert not has_watermark_text(finish(rendered.data, options, document, watermark=False))
    assert unmarked == {}


async def test_the_watermark_sits_at_the_bottom_right_of_pages_of_every_size(
    renderer: RendererPool,
) -> None:
    """Its right end 16 mm from the page's right edge and its baseline 2 pt above 16 mm from
    the bottom, on A4, A4 landscape and Letter; a smaller page gets a smaller one, inside."""
    for values, page_mm in (
        ({}, (210, 297)),
        ({"landscape": True}, (297, 210)),
        ({"format": "Letter"}, (216, 279)),
        ({"width": "70mm", "height": "40mm", "margin": SMALL_MARGIN}, (70, 40)),
    ):
        options = RenderOptions.from_dict(values)
        rendered = await render_pdf(renderer, "<p>x</p>", options)
        page = read(finish(rendered.data, options, "", watermark=True)).pages[0]
        x, y, size_pt = _stamp_position(page)
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert (round(width / 72 * 25.4), round(height / 72 * 25.4)) == page_mm
        text_pt = 112.5 * size_pt / 8  # Helvetica's width of the text at 8 pt
        if page_mm != (70, 40):
            assert size_pt == 8
            assert abs(width - (x + text_pt) - 16 / 25.4 * 72) < 0.5
            assert abs(y - (16 / 25.4 * 72 + 2)) < 0.5
        else:  # inside the page, at its bottom right
            assert width / 4 < x and x + text_pt < width and 0 < y < height / 4


async def test_only_http_https_mailto_and_internal_links_stay_live(
    renderer: RendererPool,
) -> None:
    document = links_document()
    rendered = await render_pdf(renderer, document, RenderOptions())
    # The engines do make live links of most of them: the test would see them.
    before = [a for a in annotation_actions(rendered.data) if dangerous(a)]
    assert len(before) >= 25, before
    finished = finish(rendered.data, RenderOptions(), document, watermark=False)
    assert [a for a in annotation_actions(finished) if dangerous(a)] == []
    assert sorted(live_uris(finished), key=str.lower) == sorted(
        (SAFE_HREFS[h] if renderer.name == "chromium" else h for h in SAFE_HREFS),
        key=str.lower,
    )
    there = [n for n, p in enumerate(read(finished).pages) if p.extract_text().startswith("There")]
    assert len(there) == 1 and internal_link_pages(finished) == there
    # The same with a watermark, document information and an outline asked for at once.
    options = RenderOptions(author="Ann", outline=True)
    rendered = await render_pdf(renderer, document, options)
    both = finish(rendered.data, options, document, watermark=True)
    assert [a for a in annotation_actions(both) if dangerous(a)] == []
    assert len(live_uris(both)) == len(SAFE_HREFS) and internal_link_pages(both) == there
    assert all(watermarked_pages(both))
    reader = read(both)
    assert reader.metadata is not None and reader.metadata.author == "Ann"
    assert len(DANGEROUS_HREFS) >= 20
