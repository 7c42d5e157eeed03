"""The CommonMark spec's examples (0.31.2, as markdown-it-py's own tests carry them:
tests/data/markdown/commonmark-0.31.2.json) through pdfprompt's configured parser, with every
extension on. Each example gives the spec's HTML, except the deliberate deviations listed
here with their reasons; the test also fails when a listed example starts to pass, so the
list stays true. (The spec and its examples: John MacFarlane, CC BY-SA 4.0.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pdfprompt.generate.markdown.parser import render_body

SPEC = Path(__file__).parents[1] / "data" / "markdown" / "commonmark-0.31.2.json"
EXAMPLES = json.loads(SPEC.read_text("utf-8"))

DEVIATIONS = {
    # Raw HTML is shown as text, never run (html off): a document must not smuggle markup,
    # scripts or addresses past the sandbox through Markdown.
    "raw HTML is text": [
        *(21, 31, 201, 308, 309, 344, 475, 476, 477, 491, 494, 524, 536),
        *range(148, 192),
        *(613, 614, 615, 616, 617, 623, 625, 626, 627, 628, 629, 630, 631, 642, 643),
    ],
    # Smart typography: straight quotes become curly ones (per language), -- and --- dashes,
    # ... an ellipsis, (c) a copyright sign.
    "typographer": [
        *(14, 46, 55, 87, 91, 106, 197, 209, 210, 211, 343, 352, 359, 363, 380, 385, 395),
        *(508, 590, 619, 620, 622, 624, 632, 650),
    ],
    # Bare addresses become links (GitHub's autolinks extension), also inside what would
    # otherwise be text between angle brackets.
    "autolinks": [602, 608, 611, 612],
}
LISTED = {n: why for why, numbers in DEVIATIONS.items() for n in numbers}


def _comparable(html: str) -> str:
    """Our HTML with what the extensions add and CommonMark leaves out taken away: heading
    ids, and code blocks' classes and highlighting spans."""
    html = re.sub(r'(<h[1-6]) id="[^"]*"', r"\1", html)
    html = re.sub(r'<pre class="code[^"]*"(?: data-lang="[^"]*")?>', "<pre>", html)
    return re.sub(r"</?span[^>]*>", "", html)


def test_the_spec_file_is_whole() -> None:
    assert len(EXAMPLES) == 652
    assert len(LISTED) == sum(len(n) for n in DEVIATIONS.values())  # each listed once


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: str(e["example"]))
def test_spec_example(example: dict[str, str | int]) -> None:
    produced = _comparable(render_body(str(example["markdown"]), {}))
    if example["example"] in LISTED:
        assert produced != example["html"], (
            f"now passes: drop it from {LISTED[example['example']]!r}"
        )
    else:
        assert produced == example["html"]
