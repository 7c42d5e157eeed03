"""Inline SVG in a model's HTML: a chart is kept whole, every SVG-borne trick of the public
payload lists is removed, by the same rules as SVG assets."""

from __future__ import annotations

import base64
import re

import pytest

from pdfprompt.generate import clean_document, messages
from tests.support.inline_svg import CHART_LABELS, bar_chart, hostile_inline_svgs

URL = "http://127.0.0.1:9/"
NEVER = (
    "<script", "script>", "javascript", "foreignobject", "iframe", "<object", "@import",
    "<animate", "<set", "<discard", "<handler", "<listener", "<mpath", "onload", "onerror",
    "onclick", "onmouseover", "onbegin", "onend", "onfocusin", "tref", "altglyph",
    "font-face", "color-profile", "feimage", "xml:base", "pwned", "<math", "image-set",
)  # fmt: skip


def _body(fragment: str) -> str:
    cleaned = clean_document(f"<!DOCTYPE html><html><head><title>T</title></head><body>{fragment}")
    return cleaned.split("<body>", 1)[1]


def _data_svgs(cleaned: str) -> list[str]:
    """The SVG documents inside data: URLs of the cleaned page, decoded."""
    return [
        base64.b64decode(m).decode()
        for m in re.findall(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", cleaned)
    ]


def test_a_chart_keeps_its_shapes_colours_labels_and_local_references() -> None:
    cleaned = _body(bar_chart())
    for kept in (
        'viewBox="0 0 400 220"',
        'fill="rgb(214,45,32)"',
        "fill:rgb(31,119,180)",
        'href="#bar"',
        'xlink:href="#bar"',
        'fill="url(#fade)"',
        '<linearGradient id="fade"',
        'stop-color="#eeeeee"',
        ".label{font-size:12px;fill:#222222}",
        "<figcaption>Figure 1",
        *CHART_LABELS,
    ):
        assert kept in cleaned, kept


def test_the_html_parser_spelling_is_what_is_cleaned() -> None:
    """Upper case, SVG's camel case, and `xlink:` as the HTML parser adjusts them."""
    cleaned = _body(
        "<SVG VIEWBOX='0 0 9 9' PRESERVEASPECTRATIO='none'><LINEARGRADIENT ID='g' "
        "GRADIENTUNITS='userSpaceOnUse'><STOP OFFSET='0' STOP-COLOR='red'/></LINEARGRADIENT>"
        "<RECT WIDTH='9' HEIGHT='9' FILL='url(#g)' ONCLICK='x()'/><USE XLINK:HREF='#g'/></SVG>"
    )
    for kept in (
        'viewBox="0 0 9 9"',
        'preserveAspectRatio="none"',
        "<linearGradient",
        'gradientUnits="userSpaceOnUse"',
        'fill="url(#g)"',
        'xlink:href="#g"',
    ):
        assert kept in cleaned, kept
    assert "onclick" not in cleaned.lower()


def test_references_resolve_only_inside_the_document() -> None:
    cleaned = _body(
        "<svg><defs><symbol id='s'><circle r='3'/></symbol></defs></svg>"
        "<p>between</p><svg><use href='#s'/><use href='#s' xlink:href='other.svg#s'/>"
        f"<use href='{URL}x.svg#s'/><use href='data:image/svg+xml,<svg/>#s'/>"
        "<use href='#s) url(http://x/'/></svg>"
    )
    assert cleaned.count('href="#s"') == 2  # the second <use> keeps its local reference
    assert "other.svg" not in cleaned and "127.0.0.1" not in cleaned
    assert "svg+xml" not in cleaned and "http://x" not in cleaned


@pytest.mark.parametrize("name", sorted(hostile_inline_svgs(URL)))
def test_hostile_inline_svg_is_made_inert(name: str) -> None:
    cleaned = _body(hostile_inline_svgs(URL)[name])
    everything = cleaned + "".join(_data_svgs(cleaned))
    lowered = everything.lower()
    assert "127.0.0.1" not in lowered and "//127" not in lowered, (name, cleaned)
    for never in NEVER:
        assert never not in lowered, (name, never, everything)
    assert not re.search(r"\son[a-z]+\s*=", lowered), (name, everything)
    assert "url(" not in re.sub(r"url\(#[\w.:-]+\)", "", lowered), (name, everything)


def test_svg_data_in_an_image_is_cleaned_and_in_css_removed() -> None:
    """`<img src="data:image/svg+xml…">` keeps its drawing, rebuilt by the SVG rules and
    sent as base64; SVG data in CSS goes (`none`): CSS has no way to keep it checked."""
    drawing = "<svg xmlns='http://www.w3.org/2000/svg' onload='x()'><rect fill='#123456'/></svg>"
    b64 = base64.b64encode(drawing.encode()).decode()
    cleaned = _body(
        f"<img alt='a' src='data:image/svg+xml;base64,{b64}'>"
        f"<img alt='b' src=\"data:image/svg+xml,{drawing.replace(chr(35), '%23')}\">"
        "<img alt='c' src='data:image/svg+xml;base64,PHN2Zz4'>"  # not whole: emptied
        f"<p style=\"background: url('data:image/svg+xml;base64,{b64}')\">p</p>"
    )
    drawings = _data_svgs(cleaned)
    assert len(drawings) == 2
    for kept in drawings:
        assert 'fill="#123456"' in kept and "onload" not in kept
    assert 'alt="c" src=""' in cleaned
    assert "background: none" in cleaned or "background:none" in cleaned


def test_a_drawing_past_the_limits_is_dropped_and_deep_html_is_no_trouble() -> None:
    deep_svg = "<svg>" + "<g>" * 100 + "<rect/>" + "</g>" * 100 + "</svg>"
    cleaned = _body("<p>before</p>" + deep_svg + "<p>after</p>")
    assert "<svg" not in cleaned and "before" in cleaned and "after" in cleaned

    def nested(depth: int) -> str:
        return "<div>" * depth + "<svg><text>inside</text></svg>" + "</div>" * depth

    assert "<text>inside</text>" in _body(nested(200))
    # Deeper than the parser is given: the drawing goes with the HTML cleaner's rules.
    deep = _body(nested(2_000))
    assert "<svg" not in deep and "<div>" in deep


def test_a_forged_mark_stays_text_and_text_outside_drawings_is_kept() -> None:
    cleaned = _body(
        "<p>A &amp; B &lt;tag&gt; <b>bold</b></p><svg><text>1 &lt; 2</text></svg>"
        "<p>pdfprompt-drawing-0-0</p><table><tr><td>cell</td></tr></table>"
    )
    assert "<p>A &amp; B &lt;tag&gt; <b>bold</b></p>" in cleaned
    assert "<text>1 &lt; 2</text>" in cleaned
    assert "<p>pdfprompt-drawing-0-0</p>" in cleaned
    assert "<td>cell</td>" in cleaned


def test_the_model_is_asked_for_charts_in_svg_and_layouts_that_print() -> None:
    system = messages("Quarterly report")[0]["content"]
    for asked in ("inline <svg>", "viewBox", "<text>", "no scripts", "overflow-wrap: anywhere",
                  "break-inside: avoid", "fit the page width"):  # fmt: skip
        assert asked in system, asked


def test_many_drawings_come_back_in_their_places() -> None:
    drawings = "".join(f"<p>p{i}</p><svg><text>t{i}</text></svg>" for i in range(12))
    cleaned = _body(drawings)
    expected = "".join(
        f'<p>p{i}</p><svg xmlns="http://www.w3.org/2000/svg" '
        f'xmlns:xlink="http://www.w3.org/1999/xlink"><text>t{i}</text></svg>'
        for i in range(12)
    )
    assert cleaned.startswith(expected)
