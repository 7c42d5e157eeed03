"""The rules `bench/markdown_compare.py` judges a printed feature document by: each holds on
what a converter that has the feature prints, and fails on the Markdown source printed as
text (today's converter prints most features so)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "markdown_compare.py"


@pytest.fixture(scope="module")
def compare() -> ModuleType:
    spec = importlib.util.spec_from_file_location("markdown_compare", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_footnotes_math_front_matter_and_markers(compare: ModuleType) -> None:
    typeset = compare.Printed(
        pages=[
            "Feature Tour\nAda Example\nA claim that needs a source1.\n"
            "Inline: \U0001d438 = \U0001d45a\U0001d450 2\n∫ x dx = 1/3\n"
            "NOTE\nAdmonition body text.\n",
            "After the break\nThe last section's text: closing words.\n"
            "1. The footnote text lives here.",
        ],
        title="Feature Tour",
    )
    source = compare.Printed(
        pages=[
            "title: Feature Tour author: Ada Example\n[[toc]]\n"
            "A claim that needs a source[^source].\n"
            "[^source]: The footnote text lives here.\n"
            "Inline: $E = mc^2$.\n$$ \\int_0^1 x^2 \\, dx $$\n"
            "> [!NOTE] Admonition body text.\n\\pagebreak\nAfter the break\nclosing words."
        ]
    )
    for rule in (
        compare.footnote,
        compare.inline_math,
        compare.display_math,
        compare.no_dollars,
        compare.front_matter_hidden,
        compare.front_matter_title,
        compare.toc_marker,
        compare.page_break,
        compare.admonition,
    ):
        assert rule(typeset), rule.__name__
        assert not rule(source), rule.__name__


def test_task_lists_alignment_and_links(compare: ModuleType) -> None:
    word = compare.Word
    aligned = compare.Printed(
        pages=["☑ Audit finished\n☐ Send the report"],
        words=[
            word("L1", 0, 10, 20),
            word("L2222222", 0, 10, 80),
            word("C1", 0, 135, 145),
            word("C2222222", 0, 105, 175),
            word("R1", 0, 270, 280),
            word("R2222222", 0, 210, 280),
        ],
        uris=["https://example.org/autolink"],
        internal_links=["/custom-id"],
    )
    as_typed = compare.Printed(
        pages=["[x] Audit finished\n[ ] Send the report\nHeading ids {#custom-id}"],
        words=[
            word("L1", 0, 10, 20),
            word("L2222222", 0, 10, 80),
            word("C1", 0, 105, 115),
            word("C2222222", 0, 105, 175),
            word("R1", 0, 210, 220),
            word("R2222222", 0, 210, 280),
        ],
    )
    for rule in (compare.task_list, compare.table_alignment, compare.autolink, compare.heading_id):
        assert rule(aligned), rule.__name__
        assert not rule(as_typed), rule.__name__
    # A checkbox drawn by the browser has no glyph: the HTML printed says it is one.
    drawn = compare.Printed(
        pages=["Audit finished"], html='<li><input type="checkbox" checked> Audit finished'
    )
    assert compare.task_list(drawn)
