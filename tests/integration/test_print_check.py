"""The print-quality check on real renders: every deliberate defect of the prompt corpus is
reported with its code, clean documents have no finding, and the page's own scripts stay off
while the layout is measured."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest
from pypdf import PdfReader

from pdfprompt.domain import QUALITY_CODES, RenderOptions
from pdfprompt.generate import clean_document
from pdfprompt.pdf import printed_findings
from pdfprompt.render import ChromiumRenderer, chromium_renderer, weasyprint_renderer
from pdfprompt.settings import Settings
from tests.support.prompts import corpus


@pytest.fixture
async def chromium() -> AsyncIterator[ChromiumRenderer]:
    async with chromium_renderer(Settings(max_pdf_concurrency=2)) as renderer:
        yield renderer


async def _codes(renderer: ChromiumRenderer, html: str, **options: object) -> list[str]:
    rendered = await renderer.render(clean_document(html), RenderOptions.from_dict(options))
    found = (*rendered.warnings, *printed_findings(rendered.data))
    return [w.code for w in found if w.code in QUALITY_CODES]


async def test_every_defect_is_found_and_clean_documents_have_no_finding(
    chromium: ChromiumRenderer,
) -> None:
    answers = corpus()
    assert len(answers) >= 20 and sum(1 for a in answers if a.expect) >= 6
    found = {a.name: set(await _codes(chromium, a.html)) for a in answers}
    assert found == {a.name: set(a.expect) for a in answers}
    # Each corrected answer prints with no finding (the repair pass's tests rely on it).
    for answer in answers:
        if answer.repaired is not None:
            assert await _codes(chromium, answer.repaired) == [], answer.name


async def test_findings_name_the_element_or_page(chromium: ChromiumRenderer) -> None:
    html = (
        "<html><body><h1>Price list</h1>"
        "<table id='prices' style='min-width:2000px'><tr><td>Widget</td></tr></table>"
        "<p class='fine' style='font-size:3pt'>small print</p>"
        "<div style='break-before:page'></div><div style='break-before:page'></div>"
        "<p>Last page \ue000</p></body></html>"
    )
    rendered = await chromium.render(clean_document(html), RenderOptions.from_dict({}))
    messages = {w.code: w.message for w in (*rendered.warnings, *printed_findings(rendered.data))}
    assert "table#prices" in messages["overflow"] and "Widget" in messages["overflow"]
    assert "p.fine" in messages["tiny_text"] and "3.0 pt" in messages["tiny_text"]
    assert messages["blank_page"].startswith("page 2 ")
    assert messages["missing_glyphs"].startswith("page 3: 1 character")


async def test_the_page_box_follows_the_document_and_the_request(
    chromium: ChromiumRenderer,
) -> None:
    """An 800px-wide block fits a landscape A3 page but not a portrait A4 one (673 px
    between 16 mm margins), whether the landscape page is the document's @page rule or the
    request's options; at scale 0.8 the page holds 1/0.8 as many CSS pixels."""
    block = "<div style='width:800px'>wide block</div>"
    assert await _codes(chromium, f"<html><body>{block}</body></html>") == ["overflow"]
    own = f"<html><head><style>@page {{ size: A3 landscape }}</style></head><body>{block}"
    assert await _codes(chromium, own) == []
    asked = f"<html><body>{block}</body></html>"
    assert await _codes(chromium, asked, format="A3", landscape=True) == []
    assert await _codes(chromium, asked, scale=0.8) == []
    # Text at 5pt printed at scale 2 is 10pt on paper; at scale 1 it is too small.
    small = "<html><body><p style='font-size:5pt'>footnote</p></body></html>"
    assert await _codes(chromium, small) == ["tiny_text"]
    assert await _codes(chromium, small, scale=2.0) == []


async def test_clipped_and_hidden_content_is_not_reported(chromium: ChromiumRenderer) -> None:
    html = (
        "<html><body><div style='overflow:hidden'><div style='width:3000px'>clipped</div></div>"
        "<div style='display:none;width:3000px;font-size:2pt'>hidden</div>"
        "<img alt='none' style='display:none' src='data:image/png;base64,AAAA'>"
        "<p>fine</p></body></html>"
    )
    assert await _codes(chromium, html) == []


async def test_measuring_runs_no_script_of_the_page() -> None:
    """Scripts stay off while the layout is measured: a script that would widen the page or
    shrink its text does not run, and the document prints as written."""
    html = (
        "<html><body><p id='t'>unchanged</p><script>document.getElementById('t')"
        ".style.width='5000px';document.getElementById('t').textContent='scripted'</script>"
        "</body></html>"
    )
    async with chromium_renderer(Settings(max_pdf_concurrency=1)) as renderer:
        rendered = await renderer.render(html, RenderOptions.from_dict({}))
    assert not [w for w in rendered.warnings if w.code in QUALITY_CODES]
    text = PdfReader(io.BytesIO(rendered.data)).pages[0].extract_text()
    assert "unchanged" in text and "scripted" not in text


async def test_weasyprint_prints_are_checked_for_blank_pages() -> None:
    """WeasyPrint has no page to measure, and its font codes are not glyph ids: its PDFs are
    checked for blank pages only."""
    html = (
        "<html><body><p>First \ue000</p><div style='break-before:page'></div>"
        "<div style='break-before:page'></div><p>Last</p></body></html>"
    )
    async with weasyprint_renderer(Settings()) as renderer:
        rendered = await renderer.render(html, RenderOptions.from_dict({}))
    codes = sorted(w.code for w in printed_findings(rendered.data))
    assert codes == ["blank_page"]


async def test_the_check_leaves_the_print_as_it_was(chromium: ChromiumRenderer) -> None:
    """The layout is measured at the page's width and the page keeps that window width for
    its next documents: a print is laid out at its paper's size whatever the window's, so
    the PDF's pages are those of a print without the check (viewport units included)."""
    html = (
        "<html><body><div style='width:50vw;background:#c00'>half</div>"
        "<p style='font-size:3vw'>viewport text</p><table style='width:100%'><tr><td>a</td>"
        "<td>b</td></tr></table></body></html>"
    )
    async with chromium_renderer(Settings(max_pdf_concurrency=1, print_check=False)) as plain:
        without = await plain.render(html, RenderOptions.from_dict({}))
    for options in ({}, {"format": "A3", "landscape": True}, {}):
        await chromium.render(html, RenderOptions.from_dict(options))  # other widths first
    checked = await chromium.render(html, RenderOptions.from_dict({}))

    def pages(pdf: bytes) -> list[bytes]:
        return [bytes(p.get_contents().get_data()) for p in PdfReader(io.BytesIO(pdf)).pages]

    assert pages(checked.data) == pages(without.data)


async def test_with_scripts_allowed_the_measurement_sees_nothing_they_changed() -> None:
    """Where an operator allows documents' scripts, they run before the page is measured:
    a script that makes every box look empty and hides the images' failures changes
    nothing, the measurement runs in a world of its own."""
    html = (
        "<html><body><table style='width:2000px'><tr><td>wide</td></tr></table>"
        "<img alt='logo' src='data:image/png;base64,AAAA'>"
        "<script>Element.prototype.getBoundingClientRect = () => new DOMRect(0, 0, 1, 1);"
        "Object.defineProperty(HTMLImageElement.prototype, 'naturalWidth', {get: () => 9});"
        "window.getComputedStyle = () => ({fontSize: '40px', visibility: 'visible'});"
        "</script></body></html>"
    )
    settings = Settings(max_pdf_concurrency=1, allow_javascript=True)
    async with chromium_renderer(settings) as renderer:
        rendered = await renderer.render(html, RenderOptions.from_dict({}))
    assert sorted(w.code for w in rendered.warnings) == ["broken_image", "overflow"]
