"""Markdown made to be slow converts in time proportional to its size: nested brackets,
emphasis, backticks, dollar signs, deep quotes and lists, many headings, callouts and
markers. Each is measured at two sizes in one run, 8 times apart: a quadratic step would
take 64 times as long, a linear one 8 times. On a quiet machine the slowest shapes took 12
to 16 times (allocation and cache effects grow a little with size, in comrak more than in
pdfprompt's passes), so the bound is 32: room for a busy machine, and half of quadratic."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pdfprompt.domain import MAX_TABLE_CELLS, InvalidInputError, RenderOptions, table_cells
from pdfprompt.generate import convert_markdown

UNITS = {
    "brackets": "[" * 1000 + "a" + "]" * 1000 + "\n",
    "links": "[a](" * 50 + "\n",
    "emphasis": "*a **b _c __d ",
    "backticks": "`a`` ```b ",
    "dollars": "$a $$b $`c`$ $",
    "deep quotes": ">" * 5000 + " [!NOTE]\n",
    "one deep quote": ">",  # as deep as the text is long
    "deep lists": "".join("  " * i + "- a\n" for i in range(200)),
    "lists in quotes": "- > 1. > " * 500 + "a\n",
    "headings": "# a\n## a {#a-1}\n",
    "callouts": "> [!NOTE]\n" * 200 + "\n",
    "markers": "\\pagebreak\n[[toc]]\n<!-- pagebreak -->\n",
    # Rows as wide as the header: a short row is filled with empty cells (GFM), so a table
    # of one-cell rows under a wide header grows a hundredfold by design, not by a slow step.
    "tables": "|a" * 300 + "|\n" + "|-" * 300 + "|\n" + ("|bbbb" * 300 + "|\n") * 20,
}
SMALL = 100_000
OPTIONS = RenderOptions(theme="report", toc=True)  # numbered headings and the contents


def _text(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def _seconds(text: str) -> float:
    """The CPU time of the fastest of three conversions (the others wait on whatever else
    the machine does)."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        convert_markdown(text, OPTIONS)
        best = min(best, time.process_time() - started)
    return best


@pytest.mark.parametrize("unit", UNITS.values(), ids=UNITS.keys())
def test_conversion_time_grows_linearly(unit: str) -> None:
    small = _seconds(_text(unit, SMALL))
    large = _seconds(_text(unit, 8 * SMALL))
    assert large < 32 * small + 0.05, (small, large)


def test_two_megabytes_of_everything_converts_in_bounded_time() -> None:
    share = 2_000_000 // len(UNITS)
    text = "\n\n".join(_text(unit, share) for unit in UNITS.values())
    started = time.perf_counter()
    made = convert_markdown(text, OPTIONS)
    assert time.perf_counter() - started < 10
    assert made.html.startswith("<!DOCTYPE html>")


def test_tables_of_too_many_cells_are_refused_before_parsing() -> None:
    """A wide header over many short rows: every row gets the header's columns, so the
    cells are counted from the text first (comrak would make 500 MB of HTML of this)."""
    wide = "|h" * 1000 + "|\n" + "|-" * 1000 + "|\n" + "|x|\n" * 50_000
    assert table_cells(wide) == 1000 * 50_002
    with pytest.raises(InvalidInputError, match="more than 250,000"):
        convert_markdown(wide, OPTIONS)
    # Blank lines end tables; text with dashes and bars that is no delimiter row counts none.
    assert table_cells("| a | b |\n|---|:-:|\n| 1 | 2 |\n\n| x |\n- a | b\n") == 6
    assert table_cells("a | b\n--|--\n1 | 2\n") == 6
    report = Path(__file__).parents[2] / "bench" / "corpus" / "report20.md"
    assert 0 < table_cells(report.read_text()) < MAX_TABLE_CELLS
