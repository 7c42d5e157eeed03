"""The options → Chromium `Page.printToPDF` parameters: paper sizes and lengths in inches."""

from __future__ import annotations

import pytest

from pdfprompt.domain import InvalidInputError, RenderOptions, RenderRefusedError, inches
from pdfprompt.domain.options import Margin
from pdfprompt.render.chromium import CdpError, capped_ranges, print_parameters, refused_print


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        ("1in", 1.0),
        ("25.4mm", 1.0),
        ("2.54cm", 1.0),
        ("72pt", 1.0),
        ("6pc", 1.0),
        ("96px", 1.0),
        ("48", 0.5),  # a bare number is CSS pixels
        (" 12.7 MM ", 0.5),
        (".5in", 0.5),
    ],
)
def test_every_css_unit_the_api_accepts_becomes_inches(length: str, expected: float) -> None:
    assert inches(length) == pytest.approx(expected)


@pytest.mark.parametrize("length", ["", "in", "10em", "-1mm", "1e3px", "12 m m"])
def test_what_is_not_a_length_is_refused(length: str) -> None:
    with pytest.raises(ValueError, match="not a length"):
        inches(length)


def test_paper_margins_and_the_costly_extras_off() -> None:
    params = print_parameters(
        RenderOptions(format="Letter", margin=Margin("1in", "0", "2cm", "36pt"))
    )
    assert (params["paperWidth"], params["paperHeight"]) == (8.5, 11.0)
    assert params["marginTop"] == 1.0 and params["marginRight"] == 0.0
    assert params["marginBottom"] == pytest.approx(2 / 2.54)
    assert params["marginLeft"] == pytest.approx(0.5)
    # Tagging costs CPU and bytes (docs/render.md); nobody asked for it.
    assert params["generateTaggedPDF"] is False and params["generateDocumentOutline"] is False
    assert "displayHeaderFooter" not in params and "pageRanges" not in params


def test_tagging_and_the_outline_when_asked_for() -> None:
    tagged = print_parameters(RenderOptions(tagged=True))
    assert tagged["generateTaggedPDF"] is True and tagged["generateDocumentOutline"] is False
    # Chromium builds the outline from the tags: asking for it tags the PDF too.
    outlined = print_parameters(RenderOptions(outline=True))
    assert outlined["generateTaggedPDF"] is True and outlined["generateDocumentOutline"] is True


def test_custom_size_landscape_header_and_ranges() -> None:
    params = print_parameters(
        RenderOptions(
            width="100mm",
            height="150mm",
            landscape=True,
            scale=0.8,
            footer_html="<span>{{page}} of {{pages}}</span>",
            page_ranges="1-2,4",
        )
    )
    assert params["paperWidth"] == pytest.approx(100 / 25.4)
    assert params["paperHeight"] == pytest.approx(150 / 25.4)
    assert params["landscape"] is True and params["scale"] == 0.8
    assert params["displayHeaderFooter"] is True
    assert (
        '<span class="pageNumber"></span> of <span class="totalPages"></span>'
        in (params["footerTemplate"])
    )
    assert params["pageRanges"] == "1-2,4"


@pytest.mark.parametrize("paper", ["A3", "A4", "A5", "Letter", "Legal", "Tabloid"])
def test_every_paper_format_the_api_accepts_has_a_size(paper: str) -> None:
    params = print_parameters(RenderOptions(format=paper))
    assert params["paperWidth"] > 5 and params["paperHeight"] > params["paperWidth"]


@pytest.mark.parametrize(
    ("ranges", "most", "capped"),
    [
        (None, 21, "1-21"),
        ("1-3", 21, "1-3"),
        ("7", 21, "7-7"),
        ("1-100", 21, "1-21"),
        ("3-5,1-2,40-9000", 21, "1-5,40-55"),  # sorted, merged, then cut
        ("1-3,2-4,6", 4, "1-4"),
        ("10-12,1-1", 2, "1-1,10-10"),
        ("1-2,3-4", 4, "1-4"),
    ],
)
def test_page_ranges_are_cut_to_the_first_pages_they_pick(
    ranges: str | None, most: int, capped: str
) -> None:
    assert capped_ranges(ranges, most) == capped


def test_a_page_limit_prints_one_page_past_it_and_no_more() -> None:
    assert print_parameters(RenderOptions(), max_pages=20)["pageRanges"] == "1-21"
    limited = print_parameters(RenderOptions(page_ranges="2-3"), max_pages=20)
    assert limited["pageRanges"] == "2-3"
    assert "pageRanges" not in print_parameters(RenderOptions())


@pytest.mark.parametrize(
    ("said", "option"),
    [
        ("invalid print parameters: content area is empty", "options.margin"),
        ("top margin is negative", "options.margin"),
        ("paper width is zero or negative", "options.width"),
        ("paper height is zero or negative", "options.height"),
        ("scale is outside of [0.1 - 2] range", "options.scale"),
        ("Page range syntax error", "options.page_ranges"),
        ("Page range exceeds page count", "options.page_ranges"),
    ],
)
def test_a_print_chromium_refuses_names_the_option(said: str, option: str) -> None:
    error = refused_print(CdpError("Page.printToPDF", said), RenderOptions(page_ranges="9"))
    assert isinstance(error, InvalidInputError)
    assert error.field == option and not error.transient and error.code == "invalid_input"


def test_a_print_chromium_fails_without_naming_an_option_is_refused_for_good() -> None:
    error = refused_print(CdpError("Page.printToPDF", "Printing failed"), RenderOptions())
    assert isinstance(error, RenderRefusedError)
    assert error.code == "render_refused" and not error.transient
    assert "Printing failed" in error.message
