"""The PDF job types' rules without I/O: a split's ranges, what a job keeps as its input
and what its history shows of it."""

from __future__ import annotations

import pytest

from pdfprompt.domain import (
    MAX_SPLIT_PARTS,
    InvalidInputError,
    JobType,
    PageRangeError,
    PdfJobInput,
    PdfSource,
    document_title,
    pdf_input_of,
    split_pages,
    split_spans,
)


def test_split_ranges_are_pages_and_spans_an_end_may_be_open() -> None:
    assert split_spans("1-3, 4-,7") == [(1, 3), (4, None), (7, 7)]
    assert split_spans(" 2 - 2 ") == [(2, 2)]
    for bad in ("", "0", "3-1", "a", "1,,2", "-3", "1-2-3", "1;2", "1" * 7):
        with pytest.raises(InvalidInputError) as caught:
            split_spans(bad)
        assert caught.value.field == "ranges", bad
    with pytest.raises(InvalidInputError, match=f"at most {MAX_SPLIT_PARTS}"):
        split_spans(",".join(["1"] * (MAX_SPLIT_PARTS + 1)))


def test_a_range_past_the_last_page_is_a_permanent_error_naming_it() -> None:
    assert split_pages("1-3,4-", 7) == [(1, 3), (4, 7)]
    assert split_pages("2,1", 2) == [(2, 2), (1, 1)]
    for ranges, shown in (("1-8", "1-8"), ("8-", "8-"), ("9", "9")):
        with pytest.raises(PageRangeError) as caught:
            split_pages(ranges, 7)
        assert f"range {shown} goes past the last page" in caught.value.message
        assert caught.value.code == "page_range_invalid" and not caught.value.transient


def test_what_a_job_keeps_and_shows_of_its_input() -> None:
    kept = PdfJobInput(
        (
            PdfSource("asset", "ast_1", "a.pdf", title="Chapter"),
            PdfSource("file", "f1", "report.pdf", job_id="j1"),
        ),
        "1-2",
    )
    assert PdfJobInput.from_text(kept.to_text()) == kept
    assert pdf_input_of(kept.to_text()) == {
        "inputs": [{"asset": "ast_1", "title": "Chapter"}, {"file": "f1", "job": "j1"}],
        "ranges": "1-2",
    }
    assert pdf_input_of("not json") is None
    assert document_title(JobType.MERGE, kept.to_text(), {}) == "Chapter, report.pdf (1-2)"
    assert document_title(JobType.PDF, kept.to_text(), {"title": "Given"}) == "Given"
