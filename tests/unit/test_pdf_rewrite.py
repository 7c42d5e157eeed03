"""Rewriting a rendered PDF: document information and outline titles, appended as an
incremental update that readers take as the document's latest state."""

from __future__ import annotations

import io

from pypdf import PdfReader, PdfWriter

from pdfprompt.domain import RenderOptions
from pdfprompt.pdf import finish, heading_texts, mended_title


def _pdf(info: bool) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_blank_page(width=200, height=200)
    first = writer.add_outline_item(title="IntroIntro", page_number=0)
    writer.add_outline_item(title="PartPart", page_number=1, parent=first)
    if info:
        writer.add_metadata({"/Title": "Old", "/Author": "Someone"})
    else:
        writer._info = None  # no /Info in the trailer, as some writers leave it
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_heading_texts_are_the_headings_text_with_white_space_collapsed() -> None:
    document = (
        "<h1>Annual <em>review</em></h1><p>Not a heading</p>"
        "<h2>\n  Costs &amp; income\n</h2><h3>Q<sub>1</sub></h3><H4>Upper</H4>"
    )
    assert heading_texts(document) == {"Annual review", "Costs & income", "Q1", "Upper"}


def test_a_doubled_heading_title_is_put_back_and_nothing_else_changes() -> None:
    headings = {"Results", "Bye", "ByeBye", "Section 3"}
    assert mended_title("ResultsResults", headings) == "Results"
    assert mended_title("Section 3Section 3", headings) == "Section 3"
    # A heading that really is its half twice, a title that is no doubled heading, and an
    # odd-length title stay as Chromium wrote them.
    assert mended_title("ByeBye", headings) == "ByeBye"
    assert mended_title("AbcAbc", headings) == "AbcAbc"
    assert mended_title("Results", headings) == "Results"
    assert mended_title("ResultsResult", headings) == "ResultsResult"


def test_information_and_outline_titles_are_appended_and_read_back() -> None:
    document = "<h1>Intro</h1><h2>PartPart</h2>"
    for info in (True, False):
        original = _pdf(info)
        options = RenderOptions(author="Zoë 東京", keywords="a, b", outline=True)
        pdf = finish(original, options, document, watermark=False)
        # The original bytes are kept whole; what changed follows them.
        assert pdf.startswith(original) and len(pdf) > len(original)
        reader = PdfReader(io.BytesIO(pdf), strict=True)
        assert reader.metadata is not None
        assert (reader.metadata.author, reader.metadata.get("/Keywords")) == ("Zoë 東京", "a, b")
        assert reader.metadata.title == ("Old" if info else None)
        intro, children = reader.outline
        # "PartPart" is a heading of the document as it stands: it is left alone.
        assert str(intro.title) == "Intro" and [str(c.title) for c in children] == ["PartPart"]
        assert len(reader.pages) == 2


def test_a_pdf_that_needs_nothing_comes_back_as_it_was() -> None:
    original = _pdf(True)
    for options, document in (
        (RenderOptions(author="Someone"), ""),
        (RenderOptions(outline=True), "<h1>IntroIntro</h1>"),
        (RenderOptions(), ""),
    ):
        assert finish(original, options, document, watermark=False) is original
